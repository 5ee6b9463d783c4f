//! Presentation of images for the terminal: docker-shaped inspect objects and tables, the
//! Go `text/template` subset that `--format` takes, and docker's number formats. The
//! libraries hand over data (images, layers, history); how it looks is decided here.

pub mod inspect;
pub mod tables;
pub mod template;
pub mod units;
