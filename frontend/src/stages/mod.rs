//! Stage resolution: typed instructions + build options → [`Graph`].
//!
//! As BuildKit's `dockerfile2llb`:
//!
//! 1. Global ARGs (before the first FROM) are resolved with `--build-arg`s and the automatic
//!    platform args; only FROM lines see them ([`globals`]).
//! 2. Each stage's FROM is expanded and its base found: an *earlier* stage by name
//!    (case-insensitive), `scratch`, or an image. `COPY --from` and `RUN --mount from=` name
//!    a stage (any stage by name, or by index) or an image; they cannot use variables.
//! 3. The stages the target needs are found (following bases, `--from`s and the ONBUILD
//!    triggers of base images and base stages); the others are dropped, and their base images
//!    are never looked up ([`plan`]).
//! 4. Needed stages are compiled in Dockerfile order ([`dispatch`]): each instruction's words
//!    are expanded with the ARGs and ENV in effect at that point, the image config and history
//!    are updated, and steps that touch the filesystem become vertices.
//!
//! ```
//! use strata_frontend::{compile, parser, BuildOptions, UnknownBaseImages};
//! let ast = parser::parse("ARG V=1\nFROM alpine:$V AS build\nRUN make\nFROM scratch\nCOPY --from=build /out /\n").unwrap();
//! let graph = compile(&ast, &BuildOptions::default(), &UnknownBaseImages).unwrap();
//! assert_eq!(graph.stages.len(), 2);
//! assert_eq!(graph.vertices[0].name, "[build 1/2] FROM docker.io/library/alpine:1");
//! ```

mod args;
mod copy;
mod dispatch;
mod globals;
mod history;
mod named;
mod plan;
mod ports;
mod run;
mod state;

use std::collections::{BTreeMap, BTreeSet};

use crate::ast::Ast;
use crate::config::ImageConfig;
use crate::error::{Error, Result};
use crate::graph::{digest_of, Graph, Op, Vertex, VertexId, Warning};
use crate::instructions::{parse_all, Instruction};
use crate::shell::Lexer;

pub use args::{is_platform_arg, is_proxy_arg, normalize_platform, platform_args, PROXY_ARGS};
pub use copy::{is_git, is_remote};
pub use dispatch::clean_path;
pub use named::{context_key, NamedContext};
pub use ports::expose_ports;

/// What the user asked for besides the Dockerfile.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// `--build-arg` values (already resolved: `K` alone takes the value from the environment).
    pub build_args: BTreeMap<String, String>,
    /// `--target`: the stage to build (case-insensitive); the last stage when `None`.
    pub target: Option<String>,
    /// The platform to build for (`linux/amd64`).
    pub platform: String,
    /// The build's network for RUN (`default`: the sandbox's own, `host` or `none`);
    /// `RUN --network=default` means this.
    pub network: String,
    /// Named contexts (`--build-context`), by [`context_key`].
    pub named_contexts: BTreeMap<String, NamedContext>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            build_args: BTreeMap::new(),
            target: None,
            platform: "linux/amd64".into(),
            network: "default".into(),
            named_contexts: BTreeMap::new(),
        }
    }
}

/// How the frontend learns the config of the images stages start from (their ENV, WORKDIR,
/// USER, ONBUILD triggers…). The builder answers from its store. Only images of stages the
/// target needs are asked for.
pub trait BaseImages {
    /// The config of `reference`, or `Ok(None)` when it is not known (the stage then starts
    /// from an empty config); `Err` stops the build at the FROM line with that error's text,
    /// the error itself kept as the source.
    fn config(
        &self,
        reference: &str,
        platform: &str,
    ) -> std::result::Result<Option<ImageConfig>, crate::error::Cause>;
}

/// Knows no images: every base starts with an empty config (for `strata debug graph`).
#[derive(Debug, Default, Clone, Copy)]
pub struct UnknownBaseImages;

impl BaseImages for UnknownBaseImages {
    fn config(
        &self,
        _: &str,
        _: &str,
    ) -> std::result::Result<Option<ImageConfig>, crate::error::Cause> {
        Ok(None)
    }
}

/// Compiles a parsed Dockerfile into the graph for `options.target`.
pub fn compile(ast: &Ast, options: &BuildOptions, images: &dyn BaseImages) -> Result<Graph> {
    let instructions = parse_all(&ast.nodes)?;
    let lexer = Lexer::new(ast.escape);
    let mut warnings = Vec::new();
    let globals = globals::resolve(&instructions, &lexer, options)?;
    let plan = plan::plan(
        &instructions[globals.first_from..],
        &globals,
        &lexer,
        options,
        images,
        &mut warnings,
    )?;
    let mut compiler = Compiler {
        lexer,
        options,
        images,
        globals: &globals,
        plan: &plan,
        graph: Graph {
            vertices: Vec::new(),
            stages: Vec::new(),
            target: 0,
            unused_build_args: Vec::new(),
            context_paths: Vec::new(),
            warnings,
        },
        slots: BTreeMap::new(),
        results: BTreeMap::new(),
        by_digest: BTreeMap::new(),
        consumed: globals.declared.clone(),
        context_paths: BTreeSet::new(),
    };
    for &index in &plan.needed {
        let slot = dispatch::compile_stage(&mut compiler, index)?;
        compiler.slots.insert(index, slot);
    }
    let Compiler {
        mut graph,
        consumed,
        slots,
        context_paths,
        ..
    } = compiler;
    graph.target = slots[&plan.target];
    graph.unused_build_args = options
        .build_args
        .keys()
        .filter(|k| !consumed.contains(*k) && !is_proxy_arg(k) && !is_platform_arg(k))
        .cloned()
        .collect();
    graph.context_paths = if context_paths.contains("/") {
        vec![".".into()]
    } else {
        context_paths
            .iter()
            .map(|p| p.trim_start_matches('/').to_string())
            .collect()
    };
    graph.warnings.sort_by_key(|w| w.lines);
    graph.warnings.dedup();
    Ok(graph)
}

/// Compiles Dockerfile text without base image configs (as `strata debug graph` does).
pub fn compile_text(text: &str, options: &BuildOptions) -> Result<Graph> {
    compile(&crate::parser::parse(text)?, options, &UnknownBaseImages)
}

/// Compilation state shared by all stages.
struct Compiler<'a> {
    lexer: Lexer,
    options: &'a BuildOptions,
    /// Base images, asked about the images `--from` and `from=` read too, so that a missing
    /// one is pulled before the build (or named at its line).
    images: &'a dyn BaseImages,
    globals: &'a globals::Globals,
    plan: &'a plan::Plan<'a>,
    graph: Graph,
    /// Dockerfile stage index → index in `graph.stages`.
    slots: BTreeMap<usize, usize>,
    /// Dockerfile stage index → what a stage built on it inherits.
    results: BTreeMap<usize, state::Inherited>,
    /// Identical vertices are made once.
    by_digest: BTreeMap<String, VertexId>,
    /// ARG names some needed stage (or the global scope) declared.
    consumed: BTreeSet<String>,
    /// Absolute paths the build reads from the context.
    context_paths: BTreeSet<String>,
}

impl Compiler<'_> {
    /// Adds a vertex unless an identical one exists; returns its id.
    fn add_vertex(
        &mut self,
        op: Op,
        inputs: Vec<VertexId>,
        name: String,
        lines: (usize, usize),
    ) -> VertexId {
        let input_digests: Vec<&str> = inputs
            .iter()
            .map(|&i| self.graph.vertices[i].digest.as_str())
            .collect();
        let digest = digest_of(&op, &input_digests);
        if let Some(&existing) = self.by_digest.get(&digest) {
            return existing;
        }
        let id = self.graph.vertices.len();
        self.graph.vertices.push(Vertex {
            op,
            inputs,
            digest: digest.clone(),
            name,
            lines,
        });
        self.by_digest.insert(digest, id);
        id
    }

    /// The vertex of an image source (`FROM`, `--from`, mount `from=`).
    fn image_vertex(
        &mut self,
        reference: &str,
        platform: &str,
        name: String,
        lines: (usize, usize),
    ) -> VertexId {
        let op = Op::Image {
            reference: reference.to_string(),
            platform: platform.to_string(),
        };
        let id = self.add_vertex(op, Vec::new(), String::new(), lines);
        if self.graph.vertices[id].name.is_empty() {
            self.graph.vertices[id].name = name;
        }
        id
    }

    /// The vertex of an image a `--from` or `from=` reads, asked about first as base images
    /// are, so that a missing one is pulled before the build or named at this line.
    fn source_image_vertex(
        &mut self,
        reference: &str,
        platform: &str,
        name: String,
        at: &Instruction,
    ) -> Result<VertexId> {
        self.images
            .config(reference, platform)
            .map_err(|cause| error_at(cause.to_string(), at).with_cause(cause))?;
        Ok(self.image_vertex(reference, platform, name, (at.start_line, at.end_line)))
    }

    /// The build context's vertex.
    fn context_vertex(&mut self) -> VertexId {
        self.add_vertex(Op::Context, Vec::new(), String::new(), (0, 0))
    }

    fn warn(&mut self, rule: &'static str, message: String, at: &Instruction) {
        self.graph.warnings.push(Warning {
            rule,
            message,
            lines: (at.start_line, at.end_line),
        });
    }
}

/// An error at an instruction's lines.
fn error_at(message: impl Into<String>, at: &Instruction) -> Error {
    Error::at(message, at.start_line, at.end_line)
}

/// BuildKit's "did you mean": the closest candidate within a third of the name's length.
fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(&name.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c)
}

/// Edit distance where swapping two neighbours is one edit (`tset` → `test`).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut rows = vec![(0..=b.len()).collect::<Vec<usize>>()];
    for i in 1..=a.len() {
        let mut row = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let above = &rows[i - 1];
            row[j] = (above[j] + 1)
                .min(row[j - 1] + 1)
                .min(above[j - 1] + usize::from(a[i - 1] != b[j - 1]));
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                row[j] = row[j].min(rows[i - 2][j - 2] + 1);
            }
        }
        rows.push(row);
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests;
