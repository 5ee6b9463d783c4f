//! Presentation of images for the terminal: docker-style tables and inspect objects, and the
//! Go `text/template` subset that `--format` takes.

pub mod template;
pub mod view;
