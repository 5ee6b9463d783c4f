//! The scheduler: walks the build graph, answers each step from the cache or runs it, and
//! assembles the target stage into an image in the store.
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
mod imported;
mod mounts;
mod reuse;
mod sources;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use sha2::{Digest as _, Sha256};
use strata_cache::{Digest, StepRecord, Store};
use strata_frontend::config::ImageConfig;
use strata_frontend::graph::{CopyFrom, Graph, Op, VertexId};
use strata_frontend::BaseImages;

use crate::context::BuildContext;
use crate::copy::{archive, copy_into_layer_reusing, CopyOptions};
use crate::error::{Error, Result};
use crate::progress::{Event, Progress};
use crate::sandbox::{Executor, Network, RunRequest, Security};
use crate::users::UserDb;
use strata_oci::cache_exchange::ImportedCache;
use strata_oci::commit_dir;
use strata_oci::image::{self, config as image_config, StoredImage};
use strata_oci::registry::{pull, PullOptions, Registry, Remote};
use strata_oci::LayerOptions;
use strata_oci::LayerStack;

pub use entitlements::Entitlements;
pub use imported::BuiltStep;
pub use mounts::Secrets;
pub use sources::{ContextHashCache, IndexHashCache};

/// What to build and how.
pub struct BuildRequest<'a> {
    /// The compiled Dockerfile.
    pub graph: &'a Graph,
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

/// The filesystem state after a vertex.
#[derive(Debug, Clone)]
struct State {
    key: Digest,
    /// DiffIDs, bottom first.
    layers: Vec<Digest>,
    /// `created` of each layer-making step so far (vertex → unix secs), for history.
    created: Vec<(VertexId, i64)>,
    /// Whether this vertex made a layer.
    made_layer: bool,
}

/// Runs builds against one store with one executor.
pub struct Builder<'a> {
    store: &'a Store,
    executor: &'a dyn Executor,
    progress: &'a dyn Progress,
}

/// The frontend's view of base images: their configs from the store.
pub struct StoreImages<'a>(pub &'a Store);

impl BaseImages for StoreImages<'_> {
    fn config(
        &self,
        reference: &str,
        _platform: &str,
    ) -> std::result::Result<Option<ImageConfig>, String> {
        match image::find(self.0, reference) {
            Ok(Some(found)) => Ok(Some(image_config::from_json(&found.config))),
            Ok(None) => Err(missing_image_message(reference)),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// The frontend's view of base images that pulls what the store lacks — or, with `always`
/// (`build --pull`), asks the registry about every base once per build and pulls a newer one.
/// Progress lines go to `progress`.
pub struct PullingImages<'a> {
    store: &'a Store,
    registry: &'a Registry,
    always: bool,
    progress: &'a (dyn Fn(&str) + Sync),
    checked: Mutex<BTreeSet<String>>,
}

impl<'a> PullingImages<'a> {
    /// Base images from `store`, pulled through `registry` when missing (always with
    /// `always`).
    pub fn new(
        store: &'a Store,
        registry: &'a Registry,
        always: bool,
        progress: &'a (dyn Fn(&str) + Sync),
    ) -> Self {
        PullingImages {
            store,
            registry,
            always,
            progress,
            checked: Mutex::new(BTreeSet::new()),
        }
    }
}

impl BaseImages for PullingImages<'_> {
    fn config(
        &self,
        reference: &str,
        platform: &str,
    ) -> std::result::Result<Option<ImageConfig>, String> {
        let local = image::find(self.store, reference).map_err(|e| e.to_string())?;
        let first_time = self
            .checked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(reference.to_string());
        let remote = Remote::parse(reference).ok();
        if let (true, Some(remote)) = (first_time && (local.is_none() || self.always), remote) {
            let progress = |line: &str| (self.progress)(&format!("pulling {remote}: {line}"));
            let options = PullOptions {
                platform: Some(platform.to_string()),
                parallel: 0,
            };
            if let Err(error) = pull(self.store, self.registry, &remote, &options, &progress) {
                return Err(match local {
                    Some(_) => format!("checking for a newer `{reference}` (--pull): {error}"),
                    None => format!(
                        "image `{reference}` is not in the local store, and pulling it failed: {error}\nhint: check the name and the registry, log in with `strata login`, or load it with `strata load -i image.tar`"
                    ),
                });
            }
        }
        match image::find(self.store, reference) {
            Ok(Some(found)) => Ok(Some(image_config::from_json(&found.config))),
            Ok(None) => Err(missing_image_message(reference)),
            Err(e) => Err(e.to_string()),
        }
    }
}

fn missing_image_message(reference: &str) -> String {
    format!(
        "image `{reference}` is not in the local store\nhint: load it with `strata load -i image.tar` (e.g. from `docker save {reference}`), or build it first"
    )
}

struct Run<'r> {
    request: &'r BuildRequest<'r>,
    /// The imported caches, unless this attempt runs without them.
    imported: Option<&'r ImportedCache>,
    /// Filesystem steps evaluated so far (vertex, key, result).
    steps: std::sync::Mutex<Vec<(VertexId, BuiltStep)>>,
    states: Vec<OnceLock<std::result::Result<State, String>>>,
    counter: std::sync::atomic::AtomicUsize,
    cached: std::sync::atomic::AtomicUsize,
    ran: std::sync::atomic::AtomicUsize,
    errors: std::sync::Mutex<Option<Error>>,
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
        request.entitlements.check(graph)?;
        let run = Run {
            request,
            imported,
            steps: Default::default(),
            states: (0..graph.vertices.len()).map(|_| OnceLock::new()).collect(),
            counter: Default::default(),
            cached: Default::default(),
            ran: Default::default(),
            errors: Default::default(),
        };
        let target = graph.target_stage();
        let state = self.eval(&run, target.last);
        let state = match state {
            Ok(state) => state,
            Err(message) => {
                let error = run.errors.lock().unwrap_or_else(|p| p.into_inner()).take();
                return Err(error.unwrap_or(Error::Image { reason: message }));
            }
        };
        self.ensure_layers(&run, &state.layers)?;
        let image = self.assemble(&run, &state)?;
        self.store.index().flush()?;
        let steps = imported::built_steps(&run, &state);
        Ok(BuildOutput {
            image,
            cached: run.cached.into_inner(),
            ran: run.ran.into_inner(),
            steps,
        })
    }

    /// Evaluates a vertex once; errors are kept whole in `run.errors` (the first one wins).
    fn eval(&self, run: &Run<'_>, id: VertexId) -> std::result::Result<State, String> {
        run.states[id]
            .get_or_init(|| {
                self.eval_uncached(run, id).map_err(|error| {
                    let message = error.to_string();
                    let mut slot = run.errors.lock().unwrap_or_else(|p| p.into_inner());
                    if slot.is_none() {
                        *slot = Some(error);
                    }
                    message
                })
            })
            .clone()
    }

    fn parent(&self, run: &Run<'_>, id: VertexId) -> std::result::Result<State, String> {
        let vertex = &run.request.graph.vertices[id];
        self.eval(run, vertex.inputs[0])
    }

    fn eval_uncached(&self, run: &Run<'_>, id: VertexId) -> Result<State> {
        let graph = run.request.graph;
        let vertex = &graph.vertices[id];
        let failed = |message: String| Error::Image { reason: message };
        match &vertex.op {
            Op::Scratch => Ok(State {
                key: hash(&[b"scratch"]),
                layers: Vec::new(),
                created: Vec::new(),
                made_layer: false,
            }),
            Op::Context => Ok(State {
                key: hash(&[b"context"]),
                layers: Vec::new(),
                created: Vec::new(),
                made_layer: false,
            }),
            Op::Image { reference, .. } => {
                let image = image::find(self.store, reference)?.ok_or_else(|| Error::Image {
                    reason: missing_image_message(reference),
                })?;
                for diff_id in &image.diff_ids {
                    if !self.store.snapshots().exists(diff_id) {
                        return Err(Error::Image {
                            reason: format!("image `{reference}` is missing the snapshot of layer {diff_id}; load it again"),
                        });
                    }
                }
                Ok(State {
                    key: hash(&[b"image", image.manifest.to_string().as_bytes()]),
                    layers: image.diff_ids.clone(),
                    created: Vec::new(),
                    made_layer: false,
                })
            }
            Op::Config { .. } => {
                let mut state = self.parent(run, id).map_err(failed)?;
                state.made_layer = false;
                Ok(state)
            }
            Op::Exec(_) | Op::Copy(_) | Op::Mkdir { .. } => self.step(run, id),
        }
    }

    /// A filesystem step: cache lookup, else execution, then the record.
    fn step(&self, run: &Run<'_>, id: VertexId) -> Result<State> {
        let graph = run.request.graph;
        let vertex = &graph.vertices[id];
        let failed = |message: String| Error::Image { reason: message };
        // A copy's source (or a RUN's mounted stages) and the parent chain are independent:
        // evaluate them in parallel.
        let (parent, inputs) = match vertex.inputs.get(1..) {
            Some(rest) if !rest.is_empty() => {
                use rayon::prelude::*;
                let (parent, inputs) = rayon::join(
                    || self.parent(run, id),
                    || {
                        rest.par_iter()
                            .map(|&input| self.eval(run, input))
                            .collect::<std::result::Result<Vec<_>, _>>()
                    },
                );
                (parent.map_err(failed)?, inputs.map_err(failed)?)
            }
            _ => (self.parent(run, id).map_err(failed)?, Vec::new()),
        };
        // Another step has failed: start nothing new, as BuildKit cancels the whole solve at
        // the first error (steps already running finish; the first error is the build's).
        if run
            .errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
        {
            return Err(Error::Cancelled);
        }
        let step = run
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        let started = Instant::now();
        self.progress.event(Event::Started {
            id: step,
            name: &vertex.name,
        });
        let result = self.step_inner(run, id, &parent, &inputs, step, started);
        match &result {
            Ok((_, true)) => {
                run.cached
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.progress.event(Event::Cached { id: step });
            }
            Ok((_, false)) => {
                run.ran.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.progress.event(Event::Done {
                    id: step,
                    elapsed: started.elapsed(),
                });
            }
            // A cache fetch that failed is not the step's failure: the build starts again.
            Err(Error::Oci(error)) if error.is_cache() => {}
            Err(error) => self.progress.event(Event::Failed {
                id: step,
                message: &error.to_string(),
            }),
        }
        result.map(|(state, _)| state).map_err(|error| Error::Step {
            step: vertex.name.clone(),
            lines: vertex.lines,
            source: Box::new(error),
        })
    }

    /// Returns the new state and whether it came from the cache.
    fn step_inner(
        &self,
        run: &Run<'_>,
        id: VertexId,
        parent: &State,
        inputs: &[State],
        step: usize,
        started: Instant,
    ) -> Result<(State, bool)> {
        let graph = run.request.graph;
        let vertex = &graph.vertices[id];
        let view = self.view(&parent.layers);
        let scratch = self.store.snapshots().scratch("step")?;
        let mut key_parts: Vec<Vec<u8>> = vec![
            parent.key.bytes().to_vec(),
            vertex.digest.as_bytes().to_vec(),
        ];
        let mut prepared = None;
        if let Op::Copy(op) = &vertex.op {
            let origin = match (&op.from, inputs.first()) {
                (CopyFrom::Context, _) => match run.request.context {
                    Some(context) => sources::Origin::Context(context),
                    None => sources::Origin::NoContext,
                },
                (from, Some(source)) => {
                    self.ensure_layers(run, &source.layers)?;
                    let place = match from {
                        CopyFrom::Stage(slot) => match &graph.stages[*slot].name {
                            Some(name) => format!("stage `{name}`"),
                            None => format!("stage {}", graph.stages[*slot].index),
                        },
                        CopyFrom::Image(image) => format!("image `{image}`"),
                        CopyFrom::Context => unreachable!("matched above"),
                    };
                    sources::Origin::View(self.view(&source.layers), place)
                }
                (_, None) => unreachable!("copies from stages and images have a source input"),
            };
            // The context's file-hash table is read while the context is walked.
            let (resolved, remembered) = rayon::join(
                || sources::resolve(op, &origin, scratch.path()),
                || match &origin {
                    sources::Origin::Context(context) => {
                        Some(ContextHashCache::new(self.store, context.root()))
                    }
                    sources::Origin::View(..) | sources::Origin::NoContext => None,
                },
            );
            let mut copy_sources = resolved?;
            let content = match &remembered {
                Some(cache) => {
                    let content = sources::digest(&mut copy_sources, cache);
                    cache.save();
                    content?
                }
                None => sources::digest(&mut copy_sources, &IndexHashCache(self.store))?,
            };
            key_parts.push(content.bytes().to_vec());
            prepared = Some(copy_sources);
        }
        let mut mounts_prepared = Vec::new();
        if let Op::Exec(exec) = &vertex.op {
            // Mounted stages and images are read for the key (bind content) and by the run.
            for state in inputs {
                self.ensure_layers(run, &state.layers)?;
            }
            // `vertex.inputs[k]` is `inputs[k - 1]`: the parent is not among them.
            let input = |k: usize| {
                let state = inputs.get(k.checked_sub(1)?)?;
                Some((state.key.bytes().to_vec(), self.view(&state.layers)))
            };
            let (prepared, parts) = mounts::prepare(exec, run.request.context, &input, self.store)?;
            key_parts.extend(parts);
            mounts_prepared = prepared;
        }
        let key = hash(&key_parts.iter().map(Vec::as_slice).collect::<Vec<_>>());
        let now = strata_cache::now();
        if !run.request.no_cache {
            if let Some(record) = self.store.index().step(&key)? {
                let usable = record
                    .diff_id
                    .is_none_or(|d| self.store.snapshots().exists(&d));
                if usable {
                    // Pruning ages entries in minutes at the finest: a hit within a minute of
                    // the last one leaves the record alone, so a no-op rebuild writes nothing
                    // and its final flush has nothing to sync.
                    if now - record.last_used >= LAST_USED_GRANULARITY_SECS {
                        self.store.index().put_step(
                            &key,
                            &StepRecord {
                                last_used: now,
                                ..record.clone()
                            },
                        )?;
                    }
                    sources::drop_aside(prepared);
                    return Ok(self.hit(run, parent, id, key, record.diff_id, record.created));
                }
            }
            if let Some(found) = self.imported_step(run, &key, now)? {
                sources::drop_aside(prepared);
                return Ok(self.hit(run, parent, id, key, found.diff_id, found.created));
            }
        }
        // A miss: the parent's files are needed now.
        self.ensure_layers(run, &parent.layers)?;
        let upper = self.store.snapshots().scratch("upper")?;
        let mut copy_record = None;
        match &vertex.op {
            Op::Exec(exec) => {
                let work = self.store.snapshots().scratch("work")?;
                // Checked with the entitlements before the build started.
                let network = Network::parse(&exec.network).unwrap_or(Network::None);
                let security = Security::parse(&exec.security).unwrap_or(Security::Sandbox);
                let materialized = mounts::materialize(
                    exec,
                    &mounts_prepared,
                    &run.request.secrets,
                    &self.store.cache_mounts_dir(),
                    scratch.path(),
                )?;
                let mut env = exec.env.clone();
                env.extend(materialized.env.iter().cloned());
                let lowers: Vec<std::path::PathBuf> = view.layers().to_vec();
                let request = RunRequest {
                    argv: &exec.argv,
                    env: &env,
                    cwd: &exec.cwd,
                    user: &exec.user,
                    network,
                    security,
                    lowers: &lowers,
                    upper: upper.path(),
                    work: work.path(),
                    mounts: &materialized.mounts,
                };
                let progress = self.progress;
                let sink = move |stream, data: &[u8]| {
                    progress.event(Event::Log {
                        id: step,
                        stream,
                        data,
                        elapsed: started.elapsed(),
                    });
                };
                self.executor.run(&request, &sink)?;
            }
            Op::Copy(op) => {
                let copy_sources = prepared.expect("resolved above");
                let chown = match &op.chown {
                    Some(spec) => Some(UserDb::load(|p| view.read_file(p)).resolve_chown(spec)?),
                    None => None,
                };
                let options = CopyOptions {
                    dest: op.dest.clone(),
                    workdir: op.workdir.clone(),
                    chown,
                    chmod: op.chmod,
                    parents: op.parents,
                };
                let (archives, plain): (Vec<_>, Vec<_>) = copy_sources.into_iter().partition(|s| {
                    op.add
                        && s.unpack
                        && s.entries.len() == 1
                        && s.entries[0].kind == crate::context::EntryKind::File
                        && archive::detect(&s.entries[0].host_path)
                            .ok()
                            .flatten()
                            .is_some()
                });
                // The step's key without its content part: the same COPY on the same parent.
                // What it wrote last time lets unchanged files be linked, not copied again.
                let lineage = hash(&[
                    b"copy-lineage",
                    parent.key.bytes(),
                    vertex.digest.as_bytes(),
                ]);
                let from_context = matches!(op.from, CopyFrom::Context);
                // `--no-cache` recomputes everything from the sources, links included.
                let reuse = if from_context && !run.request.no_cache {
                    reuse::earlier(self.store, &lineage)?
                } else {
                    None
                };
                let mut written = Default::default();
                if !plain.is_empty() {
                    written = copy_into_layer_reusing(
                        &plain,
                        &options,
                        &view,
                        upper.path(),
                        reuse.as_ref(),
                    )?;
                }
                // Unpacked archives may overwrite copied files: then the record would lie.
                if from_context && archives.is_empty() {
                    copy_record = Some((lineage, written));
                }
                for source in archives {
                    // The destination is made like a copy's (parents mirror the image, new
                    // directories belong to the --chown user), then the archive goes in.
                    let dest = crate::copy::absolute_dest(&op.dest, &op.workdir);
                    let dir_options = CopyOptions {
                        dest: format!("{}/", dest.trim_end_matches('/')),
                        ..options.clone()
                    };
                    crate::copy::ensure_dir_in_layer(&dir_options, &view, upper.path())?;
                    let dest_host = upper
                        .path()
                        .join(view.resolve(&dest)?.trim_start_matches('/'));
                    let path = &source.entries[0].host_path;
                    let compression = archive::detect(path)?.expect("detected above");
                    archive::unpack(path, compression, &dest_host, chown)?;
                }
            }
            Op::Mkdir { path, user } => {
                let options = CopyOptions {
                    dest: format!("{}/", path.trim_end_matches('/')),
                    workdir: "/".into(),
                    // Owned by the USER as `--chown` would resolve it (a bare uid is also the
                    // gid); a user the image does not know leaves it to root, as BuildKit does.
                    chown: if user.is_empty() {
                        None
                    } else {
                        UserDb::load(|p| view.read_file(p)).resolve_chown(user).ok()
                    },
                    chmod: None,
                    parents: false,
                };
                match view.lookup(&view.resolve(path)?)? {
                    None => crate::copy::ensure_dir_in_layer(&options, &view, upper.path())?,
                    Some(found) if !found.meta.is_dir() => {
                        return Err(Error::CopyDestination {
                            dest: path.clone(),
                            reason: "WORKDIR exists in the image and is not a directory".into(),
                        })
                    }
                    Some(_) => {}
                }
            }
            _ => unreachable!("only filesystem steps come here"),
        }
        drop(scratch);
        let layer_options = LayerOptions {
            source_date_epoch: run.request.source_date_epoch,
        };
        let diff_id = commit_dir(self.store, upper, &layer_options)?;
        if let (Some((lineage, written)), Some(diff_id)) = (copy_record, diff_id) {
            reuse::remember(self.store, &lineage, diff_id, written)?;
        }
        let created = run.request.source_date_epoch.unwrap_or(now);
        self.store.index().put_step(
            &key,
            &StepRecord {
                diff_id,
                created,
                last_used: now,
            },
        )?;
        run.record_step(id, key, diff_id, created);
        Ok((self.next_state(parent, id, key, diff_id, created), false))
    }

    fn next_state(
        &self,
        parent: &State,
        id: VertexId,
        key: Digest,
        diff_id: Option<Digest>,
        created: i64,
    ) -> State {
        let mut state = parent.clone();
        state.key = key;
        state.made_layer = diff_id.is_some();
        if let Some(diff_id) = diff_id {
            state.layers.push(diff_id);
        }
        state.created.push((id, created));
        state
    }

    /// The layered view of a chain, topmost first. A layer that occurs twice (`COPY d /x/`
    /// then `ADD d /x/` make the same layer) is kept only at its topmost place: overlay refuses
    /// the same directory twice, and the lower copy adds nothing the upper one does not.
    fn view(&self, layers: &[Digest]) -> LayerStack {
        let mut seen = std::collections::BTreeSet::new();
        LayerStack::new(
            layers
                .iter()
                .rev()
                .filter(|d| seen.insert(**d))
                .map(|d| self.store.snapshots().path(d))
                .collect(),
        )
    }

    /// Writes the target stage's image: config (with history), manifest, blobs.
    fn assemble(&self, run: &Run<'_>, state: &State) -> Result<StoredImage> {
        let graph = run.request.graph;
        let epoch = run.request.source_date_epoch;
        let mut chain = Vec::new();
        let mut stage_index = graph.target;
        // The target's history: its base's (recursively through stages), then its own.
        loop {
            chain.push(stage_index);
            let stage = &graph.stages[stage_index];
            match graph.stages.iter().position(|s| s.last == stage.base) {
                Some(base_stage) if base_stage != stage_index => stage_index = base_stage,
                _ => break,
            }
        }
        let base_stage = &graph.stages[*chain.last().expect("at least the target")];
        let mut history = match &graph.vertices[base_stage.base].op {
            Op::Image { reference, .. } => match image::find(self.store, reference)? {
                Some(base) => image_config::history_of(&base.config),
                None => Vec::new(),
            },
            _ => Vec::new(),
        };
        let created_of = |id: VertexId| {
            state
                .created
                .iter()
                .find(|(v, _)| *v == id)
                .map(|(_, c)| *c)
        };
        let mut last_created = history
            .last()
            .map(|h| h.created.clone())
            .unwrap_or_else(|| image_config::rfc3339(epoch.unwrap_or(0)));
        for stage_index in chain.iter().rev() {
            for (entry, vertex) in &graph.stages[*stage_index].history {
                let (created, empty) = match vertex {
                    Some(v) => {
                        let made_layer = run.states[*v]
                            .get()
                            .and_then(|s| s.as_ref().ok())
                            .is_some_and(|s| s.made_layer);
                        let created = created_of(*v)
                            .map(image_config::rfc3339)
                            .unwrap_or_else(|| last_created.clone());
                        (created, !made_layer)
                    }
                    None => (last_created.clone(), true),
                };
                last_created = created.clone();
                history.push(image_config::History {
                    created,
                    created_by: entry.created_by.clone(),
                    empty_layer: empty,
                    comment: Some("buildkit.dockerfile.v0".into()),
                });
            }
        }
        let mut config = graph.target_stage().config.clone();
        for (key, value) in &run.request.labels {
            config.labels.insert(key.clone(), value.clone());
        }
        let created = match epoch {
            Some(e) => image_config::rfc3339(e),
            None => last_created,
        };
        let json = image_config::to_json(&image_config::ConfigParts {
            config: &config,
            diff_ids: &state.layers,
            history: &history,
            created: &created,
        });
        let mut layers = Vec::new();
        for diff_id in &state.layers {
            let record = self
                .store
                .index()
                .layer(diff_id)?
                .ok_or_else(|| Error::Image {
                    reason: format!("layer {diff_id} has no record in the store"),
                })?;
            layers.push((*diff_id, record.size));
        }
        Ok(image::store_image(self.store, &json, &layers)?)
    }
}

/// How stale a cache entry's `last_used` may get before a hit rewrites it.
const LAST_USED_GRANULARITY_SECS: i64 = 60;

fn hash(parts: &[&[u8]]) -> Digest {
    let mut hasher = Sha256::new();
    hasher.update(b"strata-cachekey-v1");
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    Digest::from_bytes(hasher.finalize().into())
}
