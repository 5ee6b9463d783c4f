//! Stage resolution and graph building, one file per area.

mod graph;
mod instructions;
mod named;
mod scoping;
mod stages;

use std::cell::RefCell;
use std::collections::BTreeMap;

use super::*;
use crate::graph::{CopyOp, ExecOp};
use crate::parser::parse;

fn graph_with(text: &str, options: BuildOptions, images: &dyn BaseImages) -> Result<Graph> {
    compile(&parse(text).unwrap(), &options, images)
}

fn try_graph(text: &str) -> Result<Graph> {
    graph_with(text, BuildOptions::default(), &UnknownBaseImages)
}

fn graph(text: &str) -> Graph {
    try_graph(text).unwrap_or_else(|e| panic!("{e}"))
}

fn err(text: &str) -> Error {
    try_graph(text).expect_err("must fail")
}

fn opts(pairs: &[(&str, &str)]) -> BuildOptions {
    BuildOptions {
        build_args: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..BuildOptions::default()
    }
}

fn target(name: &str) -> BuildOptions {
    BuildOptions {
        target: Some(name.into()),
        ..BuildOptions::default()
    }
}

fn execs(graph: &Graph) -> Vec<&ExecOp> {
    graph
        .vertices
        .iter()
        .filter_map(|v| match &v.op {
            Op::Exec(exec) => Some(exec),
            _ => None,
        })
        .collect()
}

fn copies(graph: &Graph) -> Vec<&CopyOp> {
    graph
        .vertices
        .iter()
        .filter_map(|v| match &v.op {
            Op::Copy(copy) => Some(copy),
            _ => None,
        })
        .collect()
}

fn env_of<'a>(exec: &'a ExecOp, key: &str) -> Option<&'a str> {
    exec.env
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The target stage's history lines.
fn history(graph: &Graph) -> Vec<String> {
    graph
        .target_stage()
        .history
        .iter()
        .map(|(h, _)| h.created_by.clone())
        .collect()
}

/// Every named vertex's progress name, in graph order.
fn names(graph: &Graph) -> Vec<&str> {
    graph
        .vertices
        .iter()
        .map(|v| v.name.as_str())
        .filter(|n| !n.is_empty())
        .collect()
}

fn image_refs(graph: &Graph) -> Vec<&str> {
    graph
        .vertices
        .iter()
        .filter_map(|v| match &v.op {
            Op::Image { reference, .. } => Some(reference.as_str()),
            _ => None,
        })
        .collect()
}

/// Base images with known configs; remembers which were asked for.
#[derive(Default)]
struct Images {
    configs: BTreeMap<String, ImageConfig>,
    asked: RefCell<Vec<String>>,
}

impl Images {
    fn with(mut self, reference: &str, config: ImageConfig) -> Self {
        self.configs.insert(reference.into(), config);
        self
    }
}

impl BaseImages for Images {
    fn config(
        &self,
        reference: &str,
        _: &str,
    ) -> std::result::Result<Option<ImageConfig>, crate::error::Cause> {
        self.asked.borrow_mut().push(reference.to_string());
        match self.configs.get(reference) {
            Some(config) => Ok(Some(config.clone())),
            None => Err(format!("image `{reference}` is not in the local store").into()),
        }
    }
}
