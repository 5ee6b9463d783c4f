//! Hostile inputs: each test is an attack a Dockerfile, context, archive or registry author
//! could make on the machine that builds it, and asserts that strata stops it. Every test here
//! failed on the code before its defence landed.

mod archive;
mod context;
mod registry;
mod sandbox;
mod store;
