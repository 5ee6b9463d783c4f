//! Hostile archive inputs.

#[allow(unused_imports)]
use crate::util::*;
