//! strata's Dockerfile frontend: Dockerfile text → build graph.
//!
//! Two layers, as in BuildKit: [`parser`] is lenient and keeps flags and arguments as written
//! ([`ast::Ast`], what `strata debug dump` prints); [`instructions`] validates each instruction's
//! flags and arguments into typed values. [`shell`] expands variables the way BuildKit's shell
//! lexer does, and [`stages`] resolves build args and stages into the [`graph::Graph`] the
//! builder schedules. Nothing here touches the filesystem beyond what the caller reads.
//!
//! ```
//! let ast = strata_frontend::parser::parse("FROM busybox\nRUN echo hi\n").unwrap();
//! assert_eq!(ast.dump(), "(from \"busybox\")\n(run \"echo hi\")\n");
//! ```
#![deny(missing_docs)]

pub mod ast;
pub mod config;
pub mod dump;
pub mod error;
pub mod graph;
pub mod instructions;
pub mod parser;
pub mod reference;
pub mod shell;
pub mod stages;
pub mod units;

pub use error::{Error, ErrorKind, Result};
pub use graph::Graph;
pub use stages::{
    compile, compile_text, context_key, BaseImages, BuildOptions, NamedContext, UnknownBaseImages,
};
