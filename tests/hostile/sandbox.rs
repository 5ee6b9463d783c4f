//! Hostile sandbox inputs.

#[allow(unused_imports)]
use crate::util::*;
