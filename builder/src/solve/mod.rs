//! The solver: turns a build graph into an image in the store, answering each step from the
//! cache or running it.
//!
//! - `scheduler.rs` walks the graph: each vertex once, independent ones in parallel, cache
//!   lookups, the first error stopping the build. It knows no specific op.
//! - `ops/` holds the ops behind one trait (`Op`: a cache map and an execution), one file each:
//!   RUN, COPY/ADD, WORKDIR's mkdir, and the roots (scratch, the context, base images).
//! - `state.rs` is what an evaluated vertex is (cache key, layers); `snapshots.rs` makes a
//!   state's layers present on disk; `imported.rs` and `reuse.rs` are the imported caches
//!   (`--cache-from`) and a COPY's record of what it wrote; `entitlements.rs` what a RUN may
//!   ask for.
//! - The image (config, history) is assembled outside, in [`crate::image_assembly`].
//!
//! Every vertex gets a cache key: the hash of its parent's key, its definition digest (which
//! covers the command, env, user, workdir…) and, for COPY/ADD, the content digest of exactly
//! the files it reads. A key the index knows is a hit: its layer is reused without running
//! anything. Vertices are evaluated once each (identical vertices were merged by the frontend),
//! and a COPY's source stage is evaluated in parallel with the COPY's own parent chain.
//!
//! When the index misses, the records imported from `--cache-from` are consulted
//! ([`ImportedCache`]): a hit there is reported `CACHED` like a local one, and its layer is
//! fetched only when something needs its files (see `imported.rs`). If fetching fails, the
//! build starts again without the imported caches, so a broken cache never fails a build.

mod entitlements;
mod hash_cache;
mod imported;
mod ops;
mod reuse;
mod scheduler;
mod snapshots;
mod state;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use strata_cache::Store;
use strata_frontend::graph::Graph;

use crate::context::BuildContext;
use crate::error::Result;
use crate::image_assembly::{assemble, Built};
use crate::progress::{Event, Progress};
use crate::sandbox::Executor;
use scheduler::Run;
use snapshots::Snapshots;
use strata_oci::cache_exchange::ImportedCache;
use strata_oci::image::StoredImage;

pub use entitlements::Entitlements;
pub use hash_cache::{ContextHashCache, IndexHashCache};
pub use imported::BuiltStep;
pub use ops::{PullingImages, Secrets, StoreImages};

/// What to build and how.
pub struct BuildRequest<'a> {
    /// The compiled Dockerfile.
    pub graph: &'a Graph,
    /// The Dockerfile's name and text, for errors that point into it.
    pub dockerfile: Dockerfile<'a>,
    /// The build context (`None` for a Dockerfile from stdin without context).
    pub context: Option<&'a BuildContext>,
    /// Run every step, ignoring cached results (results are still recorded).
    pub no_cache: bool,
    /// `--label`s added to the image config.
    pub labels: Vec<(String, String)>,
    /// `SOURCE_DATE_EPOCH`: clamps layer mtimes and sets every `created` time.
    pub source_date_epoch: Option<i64>,
    /// Step records imported from `--cache-from`, consulted when the index misses.
    pub cache_from: Option<&'a ImportedCache>,
    /// `--secret`s for `RUN --mount=type=secret` (never part of a cache key or a layer).
    pub secrets: Secrets,
    /// What RUN steps may ask for beyond the sandbox (`--allow`).
    pub entitlements: Entitlements,
    /// Directories given as named contexts (`--build-context NAME=DIR`), by the key the
    /// frontend's `NamedContext` vertices name.
    pub named_contexts: NamedContexts,
}

/// Named directory contexts, by key.
pub type NamedContexts = BTreeMap<String, BuildContext>;

/// The Dockerfile a graph was compiled from, as the user named it: a failed step's error
/// says `build/Dockerfile.ci:7` and shows that line, as the frontend's errors do.
#[derive(Debug, Clone, Copy)]
pub struct Dockerfile<'a> {
    /// The path as given (`-f build/Dockerfile.ci`), or `Dockerfile`.
    pub path: &'a str,
    /// Its text.
    pub text: &'a str,
}

impl Default for Dockerfile<'_> {
    /// A Dockerfile known by name only: errors give its lines without a snippet.
    fn default() -> Self {
        Dockerfile {
            path: "Dockerfile",
            text: "",
        }
    }
}

/// The built image.
#[derive(Debug, Clone)]
pub struct BuildOutput {
    /// The stored image (ID = config digest).
    pub image: StoredImage,
    /// Steps answered from the cache / run.
    pub cached: usize,
    /// Steps that ran.
    pub ran: usize,
    /// Every filesystem step the build ran or found cached, for `--cache-to`.
    pub steps: Vec<BuiltStep>,
}

/// Runs builds against one store with one executor.
pub struct Builder<'a> {
    store: &'a Store,
    executor: &'a dyn Executor,
    progress: &'a dyn Progress,
}

impl<'a> Builder<'a> {
    /// A builder over `store` running RUN steps with `executor`, reporting to `progress`.
    pub fn new(store: &'a Store, executor: &'a dyn Executor, progress: &'a dyn Progress) -> Self {
        Builder {
            store,
            executor,
            progress,
        }
    }

    /// Builds the graph's target stage and stores the image (untagged: the caller tags it).
    pub fn build(&self, request: &BuildRequest<'_>) -> Result<BuildOutput> {
        let imported = request.cache_from.filter(|c| !c.is_empty());
        match self.attempt(request, imported) {
            Err(error) if imported.is_some_and(|c| c.broken().is_some()) => {
                let reason = imported.and_then(ImportedCache::broken).unwrap_or_default();
                self.progress.event(Event::Warning {
                    message: &format!("importing cache failed, building without it: {reason}"),
                });
                drop(error);
                self.attempt(request, None)
            }
            result => result,
        }
    }

    fn attempt(
        &self,
        request: &BuildRequest<'_>,
        imported: Option<&ImportedCache>,
    ) -> Result<BuildOutput> {
        let graph = request.graph;
        request.entitlements.check(graph, &request.dockerfile)?;
        let run = Run::new(request, imported);
        let state = match self.eval(&run, graph.target_stage().last) {
            Ok(state) => state,
            Err(error) => {
                drop(error);
                return Err(run.into_error().expect("a failed run keeps its error"));
            }
        };
        Snapshots::new(self.store, imported).ensure(&state.layers)?;
        let made_layer = |id| run.state(id).is_some_and(|s| s.made_layer);
        let image = assemble(
            self.store,
            &Built {
                graph,
                diff_ids: &state.layers,
                created: &state.created,
                made_layer: &made_layer,
                labels: &request.labels,
                source_date_epoch: request.source_date_epoch,
            },
        )?;
        self.store.index().flush()?;
        let steps = imported::built_steps(&run, &state);
        Ok(BuildOutput {
            image,
            cached: run.cached.into_inner(),
            ran: run.ran.into_inner(),
            steps,
        })
    }
}
