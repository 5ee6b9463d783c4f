//! Image tarballs: `strata save` writes one tar that is both an OCI image layout and a
//! docker-archive; `strata load` reads that, docker's formats (25+ and legacy), plain OCI
//! archives, and compressed tarballs, verifying every digest.

mod export;
mod import;
mod layers;
mod load;
mod save;

pub use export::export;
pub use import::import;
pub use layers::uncompressed_layer;
pub use load::load;
pub use save::{save, SaveOptions};
