//! Hostile store inputs.

#[allow(unused_imports)]
use crate::util::*;
