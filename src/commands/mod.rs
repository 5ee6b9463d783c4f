//! One module per subcommand: each has an `Args` (clap) and a `run`.

pub mod build;
pub mod commit;
pub mod debug;
pub mod du;
pub mod export;
pub mod history;
pub mod images;
pub mod import;
pub mod info;
pub mod inspect;
pub mod load;
pub mod login;
pub mod logout;
pub mod prune;
pub mod ps;
pub mod pull;
pub mod push;
pub mod rm;
pub mod rmi;
pub mod run;
mod run_tty;
pub mod save;
pub mod tag;
