//! Stage resolution: typed instructions + build options → [`Graph`].
//!
//! Global ARGs (before the first FROM) are resolved first and only FROM lines see them; each
//! stage then starts from its base (an image, `scratch`, or another stage), runs its base
//! image's ONBUILD triggers, and dispatches its instructions in order, expanding words with the
//! ARGs and ENV in effect at that point, as BuildKit's `dockerfile2llb` does. Only the stages the
//! target needs are compiled; stages may refer to each other in any order, but not in a cycle.

mod args;
mod dispatch;

use std::collections::{BTreeMap, BTreeSet};

use crate::ast::Ast;
use crate::config::ImageConfig;
use crate::error::{Error, Result};
use crate::graph::{digest_of, Graph, Op, Vertex, VertexId};
use crate::instructions::{parse_all, Instruction, Kind};
use crate::shell::Lexer;

pub use args::{expose_ports, is_platform_arg, is_proxy_arg, platform_args};

/// What the user asked for besides the Dockerfile.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// `--build-arg` values (already resolved: `K` alone takes the value from the environment).
    pub build_args: BTreeMap<String, String>,
    /// `--target`.
    pub target: Option<String>,
    /// The platform to build for (`linux/amd64`).
    pub platform: String,
    /// The build's default network for RUN (`host` or `none`); `--network=default` means this.
    pub network: String,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            build_args: BTreeMap::new(),
            target: None,
            platform: "linux/amd64".into(),
            network: "host".into(),
        }
    }
}

/// How the frontend learns the config of the images stages start from (their ENV, WORKDIR,
/// USER, ONBUILD triggers…). The builder answers from its store.
pub trait BaseImages {
    /// The config of `reference`, or `Ok(None)` when it is not known (yet).
    fn config(
        &self,
        reference: &str,
        platform: &str,
    ) -> std::result::Result<Option<ImageConfig>, String>;
}

/// Knows no images: every base starts with an empty config (for `strata debug graph`).
#[derive(Debug, Default, Clone, Copy)]
pub struct UnknownBaseImages;

impl BaseImages for UnknownBaseImages {
    fn config(&self, _: &str, _: &str) -> std::result::Result<Option<ImageConfig>, String> {
        Ok(None)
    }
}

/// A stage before compilation.
struct RawStage<'a> {
    name: Option<String>,
    /// FROM's image after expansion with the global args.
    base: String,
    platform: String,
    from: &'a Instruction,
    body: &'a [Instruction],
}

/// Compiles a parsed Dockerfile into the graph for `options.target`.
pub fn compile(ast: &Ast, options: &BuildOptions, images: &dyn BaseImages) -> Result<Graph> {
    let instructions = parse_all(&ast.nodes)?;
    let lexer = Lexer::new(ast.escape);
    let first_from = instructions
        .iter()
        .position(|i| matches!(i.kind, Kind::From { .. }))
        .ok_or_else(|| {
            let line = instructions.first().map_or(1, |i| i.start_line);
            Error::at(
                "no FROM instruction: a Dockerfile must start a build stage with FROM",
                line,
                line,
            )
        })?;
    let mut consumed = BTreeSet::new();
    let predefined = platform_args(&options.platform);
    let mut global: Vec<(String, String)> = Vec::new();
    for instruction in &instructions[..first_from] {
        let Kind::Arg(decls) = &instruction.kind else {
            return Err(Error::at(
                "only ARG may come before the first FROM",
                instruction.start_line,
                instruction.end_line,
            ));
        };
        for decl in decls {
            consumed.insert(decl.name.clone());
            let value = match (options.build_args.get(&decl.name), &decl.default) {
                (Some(value), _) => Some(value.clone()),
                (None, Some(default)) => {
                    let scope: Vec<(String, String)> =
                        predefined.iter().chain(&global).cloned().collect();
                    Some(expand(&lexer, default, &scope, instruction)?)
                }
                (None, None) => predefined
                    .iter()
                    .find(|(k, _)| *k == decl.name)
                    .map(|(_, v)| v.clone()),
            };
            global.retain(|(k, _)| *k != decl.name);
            if let Some(value) = value {
                global.push((decl.name.clone(), value));
            }
        }
    }
    let from_scope: Vec<(String, String)> = predefined.iter().chain(&global).cloned().collect();
    let raw = split_stages(&instructions[first_from..], &lexer, &from_scope, options)?;
    let target = match &options.target {
        Some(name) => raw
            .iter()
            .position(|s| s.name.as_deref() == Some(name.to_lowercase().as_str()))
            .ok_or_else(|| Error::Request {
                message: format!("target stage {name:?} could not be found"),
            })?,
        None => raw.len() - 1,
    };
    let mut compiler = Compiler {
        raw: &raw,
        lexer,
        options,
        images,
        global,
        consumed,
        graph: Graph {
            vertices: Vec::new(),
            stages: Vec::new(),
            target: 0,
            unused_build_args: Vec::new(),
        },
        compiled: BTreeMap::new(),
        visiting: BTreeSet::new(),
        by_digest: BTreeMap::new(),
    };
    let target_slot = compiler.compile_stage(target)?;
    compiler.graph.target = target_slot;
    let Compiler {
        mut graph,
        consumed,
        ..
    } = compiler;
    graph.unused_build_args = options
        .build_args
        .keys()
        .filter(|k| !consumed.contains(*k) && !is_proxy_arg(k))
        .cloned()
        .collect();
    Ok(graph)
}

fn split_stages<'a>(
    instructions: &'a [Instruction],
    lexer: &Lexer,
    scope: &[(String, String)],
    options: &BuildOptions,
) -> Result<Vec<RawStage<'a>>> {
    let mut stages = Vec::new();
    let mut index = 0;
    while index < instructions.len() {
        let from = &instructions[index];
        let Kind::From {
            image,
            name,
            platform,
        } = &from.kind
        else {
            unreachable!("stages start at FROM");
        };
        let end = instructions[index + 1..]
            .iter()
            .position(|i| matches!(i.kind, Kind::From { .. }))
            .map_or(instructions.len(), |p| index + 1 + p);
        let base = expand(lexer, image, scope, from)?;
        if base.is_empty() {
            return Err(Error::at(
                format!("base name ({image}) should not be blank"),
                from.start_line,
                from.end_line,
            ));
        }
        let platform = match platform {
            Some(p) => expand(lexer, p, scope, from)?,
            None => options.platform.clone(),
        };
        if let Some(name) = name {
            if stages
                .iter()
                .any(|s: &RawStage| s.name.as_deref() == Some(name))
            {
                return Err(Error::at(
                    format!("duplicate stage name {name:?}"),
                    from.start_line,
                    from.end_line,
                ));
            }
        }
        stages.push(RawStage {
            name: name.clone(),
            base,
            platform,
            from,
            body: &instructions[index + 1..end],
        });
        index = end;
    }
    Ok(stages)
}

/// Compilation state shared by all stages.
struct Compiler<'a> {
    raw: &'a [RawStage<'a>],
    lexer: Lexer,
    options: &'a BuildOptions,
    images: &'a dyn BaseImages,
    global: Vec<(String, String)>,
    consumed: BTreeSet<String>,
    graph: Graph,
    /// Dockerfile stage index → index in `graph.stages`.
    compiled: BTreeMap<usize, usize>,
    visiting: BTreeSet<usize>,
    /// Identical vertices are made once.
    by_digest: BTreeMap<String, VertexId>,
}

impl Compiler<'_> {
    /// Finds a stage by name (case-insensitive) or index, as FROM and `COPY --from` refer to one.
    fn find_stage(&self, reference: &str) -> Option<usize> {
        let lower = reference.to_lowercase();
        self.raw
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()))
            .or_else(|| {
                reference
                    .parse::<usize>()
                    .ok()
                    .filter(|i| *i < self.raw.len())
            })
    }

    /// Compiles a stage (and, first, the stages it needs); returns its index in `graph.stages`.
    fn compile_stage(&mut self, index: usize) -> Result<usize> {
        if let Some(&slot) = self.compiled.get(&index) {
            return Ok(slot);
        }
        let raw = &self.raw[index];
        if !self.visiting.insert(index) {
            let name = raw.name.clone().unwrap_or_else(|| index.to_string());
            return Err(Error::at(
                format!("circular dependency detected on stage: {name}"),
                raw.from.start_line,
                raw.from.end_line,
            ));
        }
        let slot = dispatch::compile_stage(self, index)?;
        self.visiting.remove(&index);
        self.compiled.insert(index, slot);
        Ok(slot)
    }

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
}

fn expand(
    lexer: &Lexer,
    word: &str,
    scope: &[(String, String)],
    at: &Instruction,
) -> Result<String> {
    lexer
        .expand(word, &scope.to_vec())
        .map_err(|err| Error::at(err.to_string(), at.start_line, at.end_line))
}

#[cfg(test)]
mod tests;
