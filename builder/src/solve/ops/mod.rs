//! The operations of a build's vertices, behind one trait the scheduler drives without knowing
//! what any of them does — as BuildKit's solver (`solver/types.go`: `Op { CacheMap, Exec }`)
//! knows nothing of its exec, file and source ops. A new kind of step (a git source, an SSH
//! mount's RUN, another platform's RUN) is a new file here; the scheduler does not change.
//!
//! To the scheduler a vertex is one of three things ([`Node`]):
//! - a root (`FROM image`, `FROM scratch`, the context): a state known without running
//!   anything, never reported as a step (`source.rs`, which also pulls base images for the
//!   frontend);
//! - metadata (ENV, LABEL, CMD…): its parent's files, unchanged;
//! - a filesystem step behind [`Op`]: keyed, looked up in the cache, performed on a miss and
//!   committed as a layer — RUN (`exec.rs`), COPY/ADD (`copy.rs`), WORKDIR (`mkdir.rs`).
//!
//! A step's cache key hashes its parent's key, its definition digest (the frontend's hash of
//! the instruction with its env, user, workdir…) and what [`Op::cache_map`] adds: the content
//! of what it reads that the definition does not pin — the files a COPY copies, the files or
//! stage a RUN mounts.

mod copy;
mod copy_sources;
mod exec;
mod mkdir;
mod mounts;
mod source;
#[cfg(test)]
mod tests;

use std::path::Path;

use strata_cache::{Digest, Store};
use strata_frontend::graph::{Graph, Op as GraphOp, VertexId};

use super::snapshots::Snapshots;
use super::state::State;
use super::BuildRequest;
use crate::error::Result;
use crate::sandbox::{Executor, OutputSink};
use strata_oci::LayerStack;

pub(crate) use exec::modes;
pub use mounts::Secrets;
pub use source::{PullingImages, StoreImages};

/// A filesystem step: what its cache key reads, and how it makes its layer on a miss.
pub(crate) trait Op {
    /// What the step's key hashes beyond its parent's key and its definition digest: the
    /// content digests of what it reads. Called once, before the cache lookup; what it
    /// resolves on the way (a copy's source list, a RUN's mounts) it keeps for [`Op::exec`],
    /// and drops unused on a hit.
    fn cache_map(&mut self, cx: &OpContext<'_>) -> Result<Vec<Vec<u8>>>;

    /// Performs the step on a miss, writing its changes into `exec.upper`.
    fn exec(&mut self, cx: &OpContext<'_>, exec: &ExecContext<'_>) -> Result<()>;

    /// Told the layer the step's changes became (not called when there were none): a COPY
    /// remembers what it wrote, so that its next run links unchanged files.
    fn committed(&mut self, _cx: &OpContext<'_>, _diff_id: Digest) -> Result<()> {
        Ok(())
    }
}

/// What a step sees while it is keyed and performed.
pub(crate) struct OpContext<'a> {
    /// The store (snapshots, file-hash index, cache mounts, copy records).
    pub store: &'a Store,
    /// The build request (context, secrets, `--no-cache`).
    pub request: &'a BuildRequest<'a>,
    /// Makes input layers present before their files are read.
    pub snapshots: Snapshots<'a>,
    /// The state the step builds on (`vertex.inputs[0]`).
    pub parent: &'a State,
    /// The states of its other inputs, in order (`vertex.inputs[1..]`): a copy's source, a
    /// RUN's mounted stages.
    pub inputs: &'a [State],
    /// Its definition digest.
    pub digest: &'a str,
    /// A private directory, removed after the step (heredoc files, downloads, mount dirs).
    pub scratch: &'a Path,
}

/// What a step gets to perform its work on a miss.
pub(crate) struct ExecContext<'a> {
    /// The empty directory that receives the step's changes: its layer.
    pub upper: &'a Path,
    /// The parent's files (its layers present on disk), topmost first.
    pub view: &'a LayerStack,
    /// Runs commands (the sandbox, or a fake in tests).
    pub executor: &'a dyn Executor,
    /// Receives a command's output as it arrives.
    pub output: OutputSink<'a>,
}

/// How the scheduler evaluates one vertex.
pub(crate) enum Node<'g> {
    /// A chain's root, its state known without running anything.
    Root(State),
    /// Changes only the config: the parent's files, unchanged.
    Metadata,
    /// A filesystem step.
    Step(Box<dyn Op + Send + 'g>),
}

/// The node of vertex `id`: its op, ready to be keyed.
pub(crate) fn node<'g>(graph: &'g Graph, id: VertexId, store: &Store) -> Result<Node<'g>> {
    let vertex = &graph.vertices[id];
    Ok(match &vertex.op {
        GraphOp::Scratch => Node::Root(source::scratch()),
        GraphOp::Context => Node::Root(source::context()),
        GraphOp::NamedContext { name } => Node::Root(source::named_context(name)),
        GraphOp::Image { reference, .. } => Node::Root(source::image(store, reference)?),
        GraphOp::Config { .. } => Node::Metadata,
        GraphOp::Exec(exec) => Node::Step(Box::new(exec::RunOp::new(exec)?)),
        GraphOp::Copy(op) => Node::Step(Box::new(copy::CopyOp::new(op, graph))),
        GraphOp::Mkdir { path, user } => Node::Step(Box::new(mkdir::MkdirOp::new(path, user))),
    })
}
