//! The build graph: what the frontend hands the builder.
//!
//! A DAG of typed vertices — image sources, the build context, RUN executions, file copies,
//! WORKDIR's directory creation and config-only changes — each with its inputs and a digest
//! of its definition, plus per-stage results (the image config and the history entries the
//! stage adds). The builder schedules it without re-reading the Dockerfile:
//!
//! - walk from [`Graph::target_stage`]'s `last` vertex through [`Vertex::inputs`];
//! - `inputs[0]` of every chain step (exec, copy, mkdir, config) is the filesystem it builds
//!   on; a copy's source is `inputs[1]`; RUN mounts that read a stage, an image or the context
//!   name their input in [`RunMount::input`];
//! - [`Vertex::digest`] covers the op and its inputs' digests, so equal digests mean equal
//!   work (identical vertices are merged) and a cache key is `hash(digest, content of what it
//!   reads)`;
//! - [`Vertex::name`] is the progress name (`[build 2/5] RUN make`) and [`Vertex::lines`] the
//!   Dockerfile lines for error messages.
//!
//! Vertices are in dependency order: every input comes before its users.

mod digest;
mod display;

use serde::Serialize;

use crate::config::{HistoryEntry, ImageConfig};
use crate::instructions::Mount;

pub use digest::{digest_of, GRAPH_FORMAT};

/// Index of a vertex in [`Graph::vertices`].
pub type VertexId = usize;

/// A resolved build: the vertices the target needs and the stages they form.
#[derive(Debug, Clone)]
pub struct Graph {
    /// Vertices in dependency order: every input comes before its users.
    pub vertices: Vec<Vertex>,
    /// The stages the target needs, in Dockerfile order (stages it does not need are dropped).
    pub stages: Vec<Stage>,
    /// Index into `stages` of the stage being built.
    pub target: usize,
    /// `--build-arg`s that no ARG declared (docker warns that they were not consumed).
    pub unused_build_args: Vec<String>,
    /// What the build reads from the context (BuildKit's follow paths): sorted paths relative
    /// to the context root; `.` when it needs the whole context, empty when it reads nothing.
    /// The context vertex's digest does not depend on it, so adding a COPY elsewhere does not
    /// invalidate cached copies.
    pub context_paths: Vec<String>,
    /// Non-fatal findings (BuildKit's lint warnings), in Dockerfile order.
    pub warnings: Vec<Warning>,
}

/// A non-fatal finding about the Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// BuildKit's rule name (`UndefinedVar`, `UndefinedArgInFrom`, …).
    pub rule: &'static str,
    /// What is wrong.
    pub message: String,
    /// The instruction's lines.
    pub lines: (usize, usize),
}

/// One stage of the build.
#[derive(Debug, Clone)]
pub struct Stage {
    /// Position in the Dockerfile (0-based), as `COPY --from=<index>` counts.
    pub index: usize,
    /// `AS name` (lower-case), if given.
    pub name: Option<String>,
    /// The vertex the stage starts from (an image source, scratch, or another stage's last).
    pub base: VertexId,
    /// The stage's last vertex: its filesystem and config are the stage's result.
    pub last: VertexId,
    /// The image config the stage ends with.
    pub config: ImageConfig,
    /// History this stage adds (after its base's), with the vertex that made each layer
    /// (`None` for config-only steps).
    pub history: Vec<(HistoryEntry, Option<VertexId>)>,
    /// The image reference the stage starts from, when it starts from an image.
    pub base_image: Option<String>,
    /// The platform the stage builds for (`linux/amd64`).
    pub platform: String,
}

/// A node of the graph.
#[derive(Debug, Clone)]
pub struct Vertex {
    /// What it does.
    pub op: Op,
    /// Vertices it reads: for chain steps `inputs[0]` is the filesystem it builds on; a copy's
    /// source is `inputs[1]`; exec mounts come after the parent.
    pub inputs: Vec<VertexId>,
    /// sha256 (hex) of the definition and the inputs' digests: equal digests mean equal work.
    pub digest: String,
    /// Progress name, e.g. `[build 2/5] RUN make`; empty for internal vertices.
    pub name: String,
    /// The Dockerfile lines it comes from (`(0, 0)` for the context).
    pub lines: (usize, usize),
}

/// What a vertex does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// An image from the store (or a registry): `FROM ref`, `COPY --from=ref`, a mount's
    /// `from=ref`.
    Image {
        /// The reference as written after expansion.
        reference: String,
        /// The platform asked for.
        platform: String,
    },
    /// The empty filesystem (`FROM scratch`, a cache mount's starting point).
    Scratch,
    /// The build context directory. One vertex for the whole build: what each copy reads is in
    /// its sources, and everything read is in [`Graph::context_paths`].
    Context,
    /// A directory given as a named context (`--build-context NAME=DIR`), read as the build
    /// context is; the builder is handed the directory under this name.
    NamedContext {
        /// The context's key (see `stages::context_key`).
        name: String,
    },
    /// RUN.
    Exec(ExecOp),
    /// COPY or ADD.
    Copy(CopyOp),
    /// WORKDIR's directory creation (BuildKit's `mkdir -p` file op, owned by the USER).
    Mkdir {
        /// Absolute path.
        path: String,
        /// Owner (the USER in effect), empty for root.
        user: String,
    },
    /// An instruction that changes only the config (ENV, LABEL, CMD, ARG, …): the filesystem
    /// is `inputs[0]`'s; the digest chains so that later steps see the config change.
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
    /// The process environment: the image's ENV, the ARGs in scope (later ones win, as in
    /// BuildKit), then proxy values from `--build-arg` (see `proxy_env`).
    pub env: Vec<(String, String)>,
    /// Keys of `env` that come from undeclared proxy build args (`HTTP_PROXY`…). They are not
    /// part of the digest (a proxy change must not invalidate the cache) nor of history.
    #[serde(skip)]
    pub proxy_env: Vec<String>,
    /// Working directory (absolute).
    pub cwd: String,
    /// USER, empty for root.
    pub user: String,
    /// `--network`: `default` (the sandbox's own network), `host` or `none`; a RUN that
    /// says `default` gets the build's network.
    pub network: String,
    /// `--security`: `sandbox` or `insecure`.
    pub security: String,
    /// `--mount`s, variables expanded, with where each reads from.
    #[serde(skip)]
    pub mounts: Vec<RunMount>,
    /// Files the sandbox must provide read-only: a heredoc script that starts with `#!` runs
    /// as `/dev/pipes/<NAME>`, as in BuildKit.
    pub files: Vec<InlineFile>,
}

/// One `RUN --mount`, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunMount {
    /// The mount with its variables expanded; a relative target is already made absolute
    /// against the working directory.
    pub mount: Mount,
    /// Where its files come from.
    pub source: MountSource,
    /// Index into the vertex's `inputs` of the filesystem mounted, when there is one.
    pub input: Option<usize>,
}

/// Where a mount's files come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSource {
    /// Nothing from the build (tmpfs, secret, ssh).
    None,
    /// The build context (a bind mount without `from`).
    Context,
    /// An empty directory (a cache mount without `from`).
    Scratch,
    /// Another stage's result (index into [`Graph::stages`]).
    Stage(usize),
    /// An image.
    Image(String),
    /// A directory context, by key (read as [`MountSource::Context`] is).
    NamedContext(String),
}

/// A file the frontend writes itself (heredocs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InlineFile {
    /// Absolute path where it appears.
    pub path: String,
    /// Its content.
    pub content: String,
    /// Permission bits.
    pub mode: u32,
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
    /// A directory context, by key (read as [`CopyFrom::Context`] is).
    NamedContext(String),
}

/// One source of a copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CopySource {
    /// A path (may hold wildcards; a URL or git URL for ADD).
    Path(String),
    /// A here-document: a file named `name` with `content`.
    Inline {
        /// File name.
        name: String,
        /// Content (variables expanded if the delimiter was unquoted; quotes kept).
        content: String,
    },
}

/// A COPY/ADD with everything resolved but the files themselves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyOp {
    /// ADD semantics (unpack local archives, fetch URLs).
    pub add: bool,
    /// The sources (variables expanded).
    pub sources: Vec<CopySource>,
    /// Destination (expanded), relative to `workdir` unless absolute; a trailing `/` means a
    /// directory.
    pub dest: String,
    /// The WORKDIR in effect.
    pub workdir: String,
    /// Where sources are read from.
    pub from: CopyFrom,
    /// `--chown` (expanded), resolved by the builder against the image's users.
    pub chown: Option<String>,
    /// `--chmod` as an octal mode.
    pub chmod: Option<u32>,
    /// `--chmod` as a symbolic mode (`u+x,go-w`), which BuildKit also accepts; applied per
    /// file by the builder. Never set together with `chmod`.
    pub chmod_symbolic: Option<String>,
    /// `--exclude` patterns (expanded).
    pub exclude: Vec<String>,
    /// `--parents`.
    pub parents: bool,
    /// `--link`.
    pub link: bool,
    /// `--checksum` for ADD of a URL or git source.
    pub checksum: Option<String>,
    /// `--keep-git-dir`.
    pub keep_git_dir: bool,
}

impl Graph {
    /// The stage being built.
    pub fn target_stage(&self) -> &Stage {
        &self.stages[self.target]
    }

    /// A vertex by id.
    pub fn vertex(&self, id: VertexId) -> &Vertex {
        &self.vertices[id]
    }

    /// The stage a vertex belongs to when it is a stage's last vertex (for naming results).
    pub fn stage_ending_at(&self, id: VertexId) -> Option<&Stage> {
        self.stages.iter().find(|s| s.last == id)
    }
}

impl ExecOp {
    /// Whether `key` of [`ExecOp::env`] is a proxy value (kept out of digests and history).
    pub fn is_proxy(&self, key: &str) -> bool {
        self.proxy_env.iter().any(|k| k == key)
    }
}
