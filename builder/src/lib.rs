//! strata's builder: build graph → steps → layers → image.
#![deny(missing_docs)]
