//! The build graph: what the frontend hands the builder. A DAG of typed vertices — image
//! sources, the build context, RUN executions, file copies, WORKDIR creation and config-only
//! changes — each with its inputs and a digest of its definition, plus per-stage results (the
//! final config and the history). The builder schedules it without re-reading the Dockerfile.

use std::fmt;

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::config::{HistoryEntry, ImageConfig};
use crate::instructions::Mount;

/// Index of a vertex in [`Graph::vertices`].
pub type VertexId = usize;

/// A resolved build: the vertices the target needs and the stages they form.
#[derive(Debug, Clone)]
pub struct Graph {
    /// Vertices in dependency order: every input comes before its users.
    pub vertices: Vec<Vertex>,
    /// The stages the target needs, in Dockerfile order.
    pub stages: Vec<Stage>,
    /// Index into `stages` of the stage being built.
    pub target: usize,
    /// `--build-arg`s that no ARG declared (docker warns about them).
    pub unused_build_args: Vec<String>,
}

/// One stage of the build.
#[derive(Debug, Clone)]
pub struct Stage {
    /// Position in the Dockerfile (0-based), as `COPY --from=<index>` counts.
    pub index: usize,
    /// `AS name`, if given.
    pub name: Option<String>,
    /// The vertex the stage starts from (an image source, scratch, or another stage's last).
    pub base: VertexId,
    /// The stage's last vertex: its filesystem and config are the stage's result.
    pub last: VertexId,
    /// The image config the stage ends with.
    pub config: ImageConfig,
    /// History this stage adds (after its base image's), with the vertex that made each layer.
    pub history: Vec<(HistoryEntry, Option<VertexId>)>,
    /// The stage's base image config when it starts from an image (for the builder's checks).
    pub base_image: Option<String>,
}

/// A node of the graph.
#[derive(Debug, Clone, Serialize)]
pub struct Vertex {
    /// What it does.
    pub op: Op,
    /// Vertices it reads: for chain steps `inputs[0]` is the filesystem it builds on; a copy's
    /// source is `inputs[1]`.
    pub inputs: Vec<VertexId>,
    /// sha256 (hex) of the definition and the inputs' digests: equal digests mean equal work.
    pub digest: String,
    /// Progress name, e.g. `[build 2/5] RUN make`.
    pub name: String,
    /// The Dockerfile lines it comes from (0 for the context).
    pub lines: (usize, usize),
}

/// What a vertex does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// An image from the store (or a registry): `FROM ref`, `COPY --from=ref`.
    Image {
        /// The reference as written after expansion.
        reference: String,
        /// The platform asked for.
        platform: String,
    },
    /// The empty filesystem.
    Scratch,
    /// The build context directory.
    Context,
    /// RUN.
    Exec(ExecOp),
    /// COPY or ADD.
    Copy(CopyOp),
    /// WORKDIR's directory creation.
    Mkdir {
        /// Absolute path.
        path: String,
        /// Owner (the USER in effect), empty for root.
        user: String,
    },
    /// An instruction that changes only the config (ENV, LABEL, CMD, …).
    Config {
        /// The instruction as recorded in history.
        created_by: String,
    },
}

/// A RUN as the sandbox must execute it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExecOp {
    /// The command vector (shell form already wrapped in the SHELL).
    pub argv: Vec<String>,
    /// Environment: the stage's ENV plus the ARGs in scope.
    pub env: Vec<(String, String)>,
    /// Working directory.
    pub cwd: String,
    /// USER, empty for root.
    pub user: String,
    /// `--network`: `default`, `none` or `host`.
    pub network: String,
    /// `--security`.
    pub security: String,
    /// `--mount` specs.
    #[serde(skip)]
    pub mounts: Vec<Mount>,
}

/// Where a copy reads from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CopyFrom {
    /// The build context.
    Context,
    /// Another stage's result (index into `Graph::stages`).
    Stage(usize),
    /// An image.
    Image(String),
}

/// One source of a copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CopySource {
    /// A path (may hold wildcards; a URL for ADD).
    Path(String),
    /// A here-document: a file named `name` with `content`.
    Inline {
        /// File name.
        name: String,
        /// Content (expanded if the delimiter was unquoted).
        content: String,
    },
}

/// A COPY/ADD with everything resolved but the files themselves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyOp {
    /// ADD semantics (unpack local archives, fetch URLs).
    pub add: bool,
    /// The sources.
    pub sources: Vec<CopySource>,
    /// Destination (expanded), relative to `workdir` unless absolute.
    pub dest: String,
    /// The WORKDIR in effect.
    pub workdir: String,
    /// Where sources are read from.
    pub from: CopyFrom,
    /// `--chown` (expanded), resolved by the builder against the image's users.
    pub chown: Option<String>,
    /// `--chmod`.
    pub chmod: Option<u32>,
    /// `--exclude` patterns.
    pub exclude: Vec<String>,
    /// `--parents`.
    pub parents: bool,
    /// `--link`.
    pub link: bool,
    /// `--checksum` for ADD of a URL.
    pub checksum: Option<String>,
    /// `--keep-git-dir`.
    pub keep_git_dir: bool,
}

/// Computes a vertex digest from its op and its inputs' digests.
pub fn digest_of(op: &Op, input_digests: &[&str]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"strata-vertex-v1\0");
    hasher.update(serde_json::to_vec(op).expect("ops serialise"));
    for (index, mount) in op_mounts(op).iter().enumerate() {
        hasher.update(format!("\0mount{index}:{mount:?}"));
    }
    for input in input_digests {
        hasher.update(b"\0");
        hasher.update(input.as_bytes());
    }
    hex::encode(hasher.finalize())
}

fn op_mounts(op: &Op) -> &[Mount] {
    match op {
        Op::Exec(exec) => &exec.mounts,
        _ => &[],
    }
}

impl Graph {
    /// The stage being built.
    pub fn target_stage(&self) -> &Stage {
        &self.stages[self.target]
    }

    /// The vertices the target needs, in order (all of them: stages not needed were dropped).
    pub fn vertex(&self, id: VertexId) -> &Vertex {
        &self.vertices[id]
    }
}

impl fmt::Display for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (id, vertex) in self.vertices.iter().enumerate() {
            let inputs: Vec<String> = vertex.inputs.iter().map(|i| format!("v{i}")).collect();
            writeln!(
                f,
                "v{id} {} {}{}",
                &vertex.digest[..12],
                describe(&vertex.op),
                if inputs.is_empty() {
                    String::new()
                } else {
                    format!(" <- {}", inputs.join(", "))
                }
            )?;
            if !vertex.name.is_empty() {
                writeln!(f, "    {}", vertex.name)?;
            }
        }
        for (index, stage) in self.stages.iter().enumerate() {
            let marker = if index == self.target {
                " (target)"
            } else {
                ""
            };
            writeln!(
                f,
                "stage {} {}{marker}: v{} .. v{}",
                stage.index,
                stage.name.as_deref().unwrap_or("-"),
                stage.base,
                stage.last
            )?;
        }
        Ok(())
    }
}

fn describe(op: &Op) -> String {
    match op {
        Op::Image {
            reference,
            platform,
        } => format!("image {reference} ({platform})"),
        Op::Scratch => "scratch".into(),
        Op::Context => "context".into(),
        Op::Exec(exec) => {
            let mut text = format!("exec {:?}", exec.argv);
            if !exec.user.is_empty() {
                text.push_str(&format!(" user={}", exec.user));
            }
            text.push_str(&format!(" cwd={} network={}", exec.cwd, exec.network));
            text
        }
        Op::Copy(copy) => {
            let sources: Vec<String> = copy
                .sources
                .iter()
                .map(|s| match s {
                    CopySource::Path(p) => p.clone(),
                    CopySource::Inline { name, .. } => format!("<<{name}"),
                })
                .collect();
            let from = match &copy.from {
                CopyFrom::Context => "context".to_string(),
                CopyFrom::Stage(i) => format!("stage {i}"),
                CopyFrom::Image(r) => format!("image {r}"),
            };
            format!(
                "{} {:?} -> {} from {from}",
                if copy.add { "add" } else { "copy" },
                sources,
                copy.dest
            )
        }
        Op::Mkdir { path, user } => format!("mkdir {path} user={user}"),
        Op::Config { created_by } => format!("config {created_by}"),
    }
}
