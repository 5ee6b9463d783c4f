//! One module per subcommand: each has an `Args` (clap) and a `run`.

pub mod build;
pub mod debug;
pub mod du;
pub mod images;
pub mod inspect;
pub mod load;
pub mod prune;
pub mod save;
pub mod transfer;
