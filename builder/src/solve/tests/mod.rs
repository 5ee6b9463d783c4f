//! Solver tests without root: RUN steps go to a `RecordingExecutor` that plays the command by
//! writing `/out` (holding the command line) into the step's upper dir, the store lives in a
//! temp dir and every graph is compiled from Dockerfile text with `FROM scratch`.

mod cache;
mod failures;
mod image;
mod request;
mod schedule;

use std::collections::BTreeMap;
use std::sync::Mutex;

use strata_cache::{OpenOptions, Store};
use strata_frontend::graph::Graph;
use strata_frontend::{compile_text, BuildOptions};

use super::{BuildOutput, BuildRequest, Builder, Dockerfile, Entitlements};
use crate::error::{Error, Result};
use crate::progress::{Event, Progress};
use crate::sandbox::{RecordedRun, RecordingExecutor};

/// A store in a temp dir (kept alive as long as the store).
struct Fixture {
    store: Store,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("root"), &OpenOptions::default()).unwrap();
    Fixture { store, _dir: dir }
}

fn graph(dockerfile: &str) -> Graph {
    graph_with(dockerfile, &BuildOptions::default())
}

fn graph_with(dockerfile: &str, options: &BuildOptions) -> Graph {
    compile_text(dockerfile, options).unwrap()
}

fn options(target: Option<&str>, build_args: &[(&str, &str)]) -> BuildOptions {
    BuildOptions {
        target: target.map(str::to_string),
        build_args: build_args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        ..BuildOptions::default()
    }
}

fn request(graph: &Graph) -> BuildRequest<'_> {
    BuildRequest {
        graph,
        dockerfile: Dockerfile::default(),
        context: None,
        no_cache: false,
        labels: Vec::new(),
        source_date_epoch: None,
        cache_from: None,
        secrets: Default::default(),
        entitlements: Entitlements::default(),
        named_contexts: Default::default(),
    }
}

/// The command's shell text (`RUN x` runs `/bin/sh -c x`) or its exec-form argv joined.
fn command(run: &RecordedRun) -> String {
    match run.argv.as_slice() {
        [sh, c, text] if sh == "/bin/sh" && c == "-c" => text.clone(),
        argv => argv.join(" "),
    }
}

/// Every command writes `/out` holding its command text; a command `fail…` exits 1.
fn executor() -> RecordingExecutor {
    slow_executor(std::time::Duration::ZERO)
}

/// [`executor`], with every command that succeeds taking `delay` first.
fn slow_executor(delay: std::time::Duration) -> RecordingExecutor {
    RecordingExecutor::new(move |run, upper| {
        let text = command(run);
        if text.starts_with("fail") {
            return Err(Error::CommandFailed {
                argv: run.argv.clone(),
                code: 1,
                signal: None,
            });
        }
        std::thread::sleep(delay);
        std::fs::write(upper.join("out"), text).unwrap();
        Ok(())
    })
}

/// The commands an executor ran, in order.
fn commands(executor: &RecordingExecutor) -> Vec<String> {
    executor.calls().iter().map(command).collect()
}

/// How a step ended, by its progress name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Cached,
    Done,
    Failed(String),
}

/// Remembers each step's name and how it ended.
#[derive(Default)]
struct Recorder {
    names: Mutex<BTreeMap<usize, String>>,
    outcomes: Mutex<Vec<(String, Outcome)>>,
}

impl Progress for Recorder {
    fn event(&self, event: Event<'_>) {
        let mut names = self.names.lock().unwrap();
        let (id, outcome) = match event {
            Event::Started { id, name } => {
                names.insert(id, name.to_string());
                return;
            }
            Event::Cached { id } => (id, Outcome::Cached),
            Event::Done { id, .. } => (id, Outcome::Done),
            Event::Failed { id, message } => (id, Outcome::Failed(message.to_string())),
            _ => return,
        };
        let name = names
            .get(&id)
            .cloned()
            .expect("a step ends after it starts");
        self.outcomes.lock().unwrap().push((name, outcome));
    }
}

impl Recorder {
    /// How the step whose name ends with `suffix` ended (`None`: it never ended).
    fn outcome(&self, suffix: &str) -> Option<Outcome> {
        let outcomes = self.outcomes.lock().unwrap();
        let found: Vec<_> = outcomes
            .iter()
            .filter(|(name, _)| name.ends_with(suffix))
            .collect();
        assert!(found.len() <= 1, "`{suffix}` ended twice: {outcomes:?}");
        found.first().map(|(_, outcome)| outcome.clone())
    }

    /// Every step that ended, with how.
    fn outcomes(&self) -> Vec<(String, Outcome)> {
        self.outcomes.lock().unwrap().clone()
    }
}

/// Builds `request` with a fresh recorder.
fn build(
    fixture: &Fixture,
    executor: &RecordingExecutor,
    request: &BuildRequest<'_>,
) -> (Result<BuildOutput>, Recorder) {
    let recorder = Recorder::default();
    let result = Builder::new(&fixture.store, executor, &recorder).build(request);
    (result, recorder)
}
