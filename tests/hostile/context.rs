//! Hostile context inputs.

#[allow(unused_imports)]
use crate::util::*;
