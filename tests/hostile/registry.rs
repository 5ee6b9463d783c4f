//! Hostile registry inputs.

#[allow(unused_imports)]
use crate::util::*;
