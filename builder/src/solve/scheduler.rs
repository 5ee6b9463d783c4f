//! The scheduler: evaluates each vertex once, in parallel where the graph allows, answering
//! filesystem steps from the cache or running them. It knows vertices only as [`Node`]s —
//! roots, metadata, and steps behind the [`Op`](super::ops::Op) trait — never which op a step
//! is.
//!
//! A step's inputs are evaluated first (its parent chain and, in parallel, a copy's source or
//! a RUN's mounted stages); then its key is its parent's key, its definition digest and what
//! the op's cache map adds. A key the index knows is a hit: its layer is reused without
//! running anything. Otherwise the imported caches are asked, and only then does the op run.
//!
//! Results are memoized per vertex, errors too: an error is kept whole (shared, not turned
//! into text), so every step waiting on a failed one fails with the same error and the build
//! returns it with its source chain.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use strata_cache::{Digest, StepRecord};
use strata_frontend::error::Location;
use strata_frontend::graph::{Vertex, VertexId};

use super::imported::BuiltStep;
use super::ops::{self, ExecContext, Node, Op, OpContext};
use super::snapshots::Snapshots;
use super::state::{cache_key, State};
use super::{BuildRequest, Builder};
use crate::error::{Error, Result};
use crate::progress::{Event, Stream};
use strata_oci::cache_exchange::ImportedCache;
use strata_oci::{commit_dir, LayerOptions};

/// How stale a cache entry's `last_used` may get before a hit rewrites it.
const LAST_USED_GRANULARITY_SECS: i64 = 60;

/// A vertex's memoized result: its state, or the error it (or a step it needs) failed with.
type Evaluated = std::result::Result<State, Arc<Error>>;

/// One attempt at a build: what has been evaluated so far.
pub(super) struct Run<'r> {
    /// What is being built.
    pub request: &'r BuildRequest<'r>,
    /// The imported caches, unless this attempt runs without them.
    pub imported: Option<&'r ImportedCache>,
    /// Filesystem steps evaluated so far (vertex, key, result).
    pub steps: Mutex<Vec<(VertexId, BuiltStep)>>,
    /// Each vertex's result, by vertex id, set once.
    states: Vec<OnceLock<Evaluated>>,
    /// Steps started so far: the next one's progress number.
    counter: AtomicUsize,
    /// Steps answered from a cache.
    pub cached: AtomicUsize,
    /// Steps performed.
    pub ran: AtomicUsize,
    /// The build's error: the first step error (later ones are its consequences).
    first_error: Mutex<Option<Arc<Error>>>,
}

impl<'r> Run<'r> {
    pub fn new(request: &'r BuildRequest<'r>, imported: Option<&'r ImportedCache>) -> Self {
        Run {
            request,
            imported,
            steps: Default::default(),
            states: (0..request.graph.vertices.len())
                .map(|_| OnceLock::new())
                .collect(),
            counter: Default::default(),
            cached: Default::default(),
            ran: Default::default(),
            first_error: Default::default(),
        }
    }

    /// The evaluated state of a vertex, if it was evaluated and succeeded.
    pub fn state(&self, id: VertexId) -> Option<&State> {
        self.states[id].get()?.as_ref().ok()
    }

    fn failed(&self) -> bool {
        self.first_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// The build's error, once the run is over: the first one, whole.
    pub fn into_error(self) -> Option<Error> {
        let first = self
            .first_error
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())?;
        // The memo holds the other references: dropped with it, the error comes back owned.
        drop(self.states);
        Some(Arc::try_unwrap(first).unwrap_or_else(Error::Shared))
    }
}

impl Builder<'_> {
    /// Evaluates a vertex once; the first error of the run is kept as the build's.
    pub(super) fn eval(&self, run: &Run<'_>, id: VertexId) -> Evaluated {
        run.states[id]
            .get_or_init(|| {
                self.eval_uncached(run, id).map_err(|error| {
                    let error = match error {
                        Error::Shared(shared) => shared,
                        error => Arc::new(error),
                    };
                    let mut first = run.first_error.lock().unwrap_or_else(|p| p.into_inner());
                    first.get_or_insert_with(|| error.clone());
                    error
                })
            })
            .clone()
    }

    fn eval_uncached(&self, run: &Run<'_>, id: VertexId) -> Result<State> {
        let graph = run.request.graph;
        let vertex = &graph.vertices[id];
        let node = ops::node(graph, id, self.store).map_err(|e| self.placed(run, vertex, e))?;
        match node {
            Node::Root(state) => Ok(state),
            Node::Metadata => Ok(self.eval(run, vertex.inputs[0])?.unchanged()),
            Node::Step(op) => self.step(run, id, op),
        }
    }

    /// `error` as a step error that points at the vertex's Dockerfile lines; internal vertices
    /// (no name) have no place to point at.
    fn placed(&self, run: &Run<'_>, vertex: &Vertex, error: Error) -> Error {
        if vertex.name.is_empty() {
            return error;
        }
        let dockerfile = &run.request.dockerfile;
        Error::Step {
            step: vertex.name.clone(),
            place: Box::new(place(vertex, dockerfile.path, dockerfile.text)),
            source: Box::new(error),
        }
    }

    /// A filesystem step: its inputs, then the cache lookup, else execution, then the record.
    fn step(&self, run: &Run<'_>, id: VertexId, mut op: Box<dyn Op + Send + '_>) -> Result<State> {
        let vertex = &run.request.graph.vertices[id];
        // A copy's source (or a RUN's mounted stages) and the parent chain are independent:
        // evaluate them in parallel.
        let (parent, inputs) = match vertex.inputs.split_first() {
            Some((&parent, rest)) if !rest.is_empty() => {
                use rayon::prelude::*;
                let (parent, inputs) = rayon::join(
                    || self.eval(run, parent),
                    || {
                        rest.par_iter()
                            .map(|&input| self.eval(run, input))
                            .collect::<std::result::Result<Vec<_>, _>>()
                    },
                );
                (parent?, inputs?)
            }
            Some((&parent, _)) => (self.eval(run, parent)?, Vec::new()),
            None => unreachable!("a step has a parent"),
        };
        // Another step has failed: start nothing new, as BuildKit cancels the whole solve at
        // the first error (steps already running finish; the first error is the build's).
        if run.failed() {
            return Err(Error::Cancelled);
        }
        let step = Reported {
            id: run.counter.fetch_add(1, Ordering::Relaxed) + 1,
            started: Instant::now(),
        };
        self.progress.event(Event::Started {
            id: step.id,
            name: &vertex.name,
        });
        let result = self.perform(run, id, op.as_mut(), &parent, &inputs, &step);
        let (step, started) = (step.id, step.started);
        match &result {
            Ok((_, true)) => {
                run.cached.fetch_add(1, Ordering::Relaxed);
                self.progress.event(Event::Cached { id: step });
            }
            Ok((_, false)) => {
                run.ran.fetch_add(1, Ordering::Relaxed);
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
        result
            .map(|(state, _)| state)
            .map_err(|error| self.placed(run, vertex, error))
    }

    /// Keys the step, answers it from a cache or performs it. Returns the new state and
    /// whether it came from a cache.
    fn perform(
        &self,
        run: &Run<'_>,
        id: VertexId,
        op: &mut (dyn Op + Send + '_),
        parent: &State,
        inputs: &[State],
        step: &Reported,
    ) -> Result<(State, bool)> {
        let vertex = &run.request.graph.vertices[id];
        let snapshots = Snapshots::new(self.store, run.imported);
        let scratch = self.store.snapshots().scratch("step")?;
        let cx = OpContext {
            store: self.store,
            request: run.request,
            snapshots,
            parent,
            inputs,
            digest: &vertex.digest,
            scratch: scratch.path(),
        };
        let parts = op.cache_map(&cx)?;
        let mut key_parts: Vec<&[u8]> = vec![parent.key.bytes(), vertex.digest.as_bytes()];
        key_parts.extend(parts.iter().map(Vec::as_slice));
        let key = cache_key(&key_parts);
        let now = strata_cache::now();
        if !run.request.no_cache {
            if let Some((diff_id, created)) = self.cached_step(run, &key, now)? {
                run.record_step(id, key, diff_id, created);
                return Ok((parent.after(id, key, diff_id, created), true));
            }
        }
        // A miss: the parent's files are needed now.
        snapshots.ensure(&parent.layers)?;
        let view = snapshots.view(&parent.layers);
        let upper = self.store.snapshots().scratch("upper")?;
        let progress = self.progress;
        let output = |stream: Stream, data: &[u8]| {
            progress.event(Event::Log {
                id: step.id,
                stream,
                data,
                elapsed: step.started.elapsed(),
            });
        };
        let exec = ExecContext {
            upper: upper.path(),
            view: &view,
            executor: self.executor,
            output: &output,
        };
        op.exec(&cx, &exec)?;
        let layer_options = LayerOptions {
            source_date_epoch: run.request.source_date_epoch,
        };
        let diff_id = commit_dir(self.store, upper, &layer_options)?;
        if let Some(diff_id) = diff_id {
            op.committed(&cx, diff_id)?;
        }
        drop(scratch);
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
        Ok((parent.after(id, key, diff_id, created), false))
    }

    /// The layer and creation time recorded for `key`, locally or in an imported cache, if its
    /// layer can be had.
    fn cached_step(
        &self,
        run: &Run<'_>,
        key: &Digest,
        now: i64,
    ) -> Result<Option<(Option<Digest>, i64)>> {
        if let Some(record) = self.store.index().step(key)? {
            let usable = record
                .diff_id
                .is_none_or(|d| self.store.snapshots().exists(&d));
            if usable {
                // Pruning ages entries in minutes at the finest: a hit within a minute of the
                // last one leaves the record alone, so a no-op rebuild writes nothing and its
                // final flush has nothing to sync.
                if now - record.last_used >= LAST_USED_GRANULARITY_SECS {
                    self.store.index().put_step(
                        key,
                        &StepRecord {
                            last_used: now,
                            ..record.clone()
                        },
                    )?;
                }
                return Ok(Some((record.diff_id, record.created)));
            }
        }
        let found = self.imported_step(run, key, now)?;
        Ok(found.map(|found| (found.diff_id, found.created)))
    }
}

/// A step as progress reports it: its number and when it started.
struct Reported {
    id: usize,
    started: Instant,
}

/// Where a vertex is in the Dockerfile: the file as the user named it, the instruction's
/// lines, and the text of its first line (for the snippet under the message).
pub(super) fn place(vertex: &Vertex, file: &str, text: &str) -> Location {
    let (start_line, end_line) = vertex.lines;
    let source_line = (start_line > 0)
        .then(|| {
            text.strip_prefix('\u{feff}')
                .unwrap_or(text)
                .split('\n')
                .nth(start_line - 1)
        })
        .flatten()
        .map(|line| line.trim_end_matches('\r').to_string());
    Location {
        file: file.to_string(),
        start_line,
        end_line,
        source_line,
        ..Location::default()
    }
}
