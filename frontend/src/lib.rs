//! strata's Dockerfile frontend: Dockerfile text → build graph.
#![deny(missing_docs)]
