//! Each op on its own, without the scheduler and without root: what its cache map hashes and
//! what it does on a miss, against a store in a temp dir.

use std::path::Path;

use strata_cache::{Digest, OpenOptions, Store};
use strata_frontend::graph::{Graph, Op as GraphOp};
use strata_frontend::{compile_text, BuildOptions};

use super::copy::CopyOp;
use super::exec::RunOp;
use super::mkdir::MkdirOp;
use super::{source, ExecContext, Op, OpContext};
use crate::error::Error;
use crate::sandbox::{Network, RecordingExecutor, Security};
use crate::solve::snapshots::Snapshots;
use crate::solve::state::{cache_key, State};
use crate::solve::{BuildRequest, Dockerfile, Entitlements};
use strata_oci::{commit_dir, LayerOptions, LayerStack};

struct Fixture {
    store: Store,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("root"), &OpenOptions::default()).unwrap();
    Fixture { store, _dir: dir }
}

fn graph(text: &str) -> Graph {
    compile_text(text, &BuildOptions::default()).unwrap()
}

/// The last vertex of the graph's target stage.
fn last_op(graph: &Graph) -> &GraphOp {
    &graph.vertices[graph.target_stage().last].op
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

/// Calls `f` with a context for a step on `parent` with `inputs`.
fn with_context<T>(
    fixture: &Fixture,
    request: &BuildRequest<'_>,
    parent: &State,
    inputs: &[State],
    f: impl FnOnce(&OpContext<'_>) -> T,
) -> T {
    let scratch = fixture.store.snapshots().scratch("step").unwrap();
    let cx = OpContext {
        store: &fixture.store,
        request,
        snapshots: Snapshots::new(&fixture.store, None),
        parent,
        inputs,
        digest: "definition",
        scratch: scratch.path(),
    };
    f(&cx)
}

/// A snapshot in the store holding `files`, and the state of a stage made of it.
fn stage(fixture: &Fixture, key: &[u8], files: &[(&str, &str)]) -> State {
    let dir = fixture.store.snapshots().scratch("upper").unwrap();
    for (path, content) in files {
        std::fs::write(dir.path().join(path), content).unwrap();
    }
    let diff_id = commit_dir(&fixture.store, dir, &LayerOptions::default())
        .unwrap()
        .expect("files make a layer");
    State::root(cache_key(&[key]), vec![diff_id])
}

fn empty() -> State {
    source::scratch()
}

#[test]
fn roots_have_distinct_keys_and_a_missing_image_is_named() {
    let fixture = fixture();
    assert_ne!(source::scratch().key, source::context().key);
    assert!(source::scratch().layers.is_empty());
    let error = source::image(&fixture.store, "nowhere:1").unwrap_err();
    assert!(
        matches!(&error, Error::ImageNotFound { reference } if reference == "nowhere:1"),
        "{error:?}"
    );
    assert!(error.to_string().contains("strata load"), "{error}");
}

#[test]
fn copy_from_a_stage_is_keyed_by_the_content_it_reads_not_by_the_stage() {
    let fixture = fixture();
    let graph = graph("FROM scratch AS s\nFROM scratch\nCOPY --from=s /f /f\n");
    let GraphOp::Copy(spec) = last_op(&graph) else {
        panic!("a copy")
    };
    let request = request(&graph);
    let key_of = |source: &State| {
        let mut op = CopyOp::new(spec, &graph);
        with_context(
            &fixture,
            &request,
            &empty(),
            std::slice::from_ref(source),
            |cx| op.cache_map(cx).unwrap(),
        )
    };
    let one = key_of(&stage(&fixture, b"stage v1", &[("f", "1"), ("other", "x")]));
    // Another stage key, another file nobody copies: the same content part.
    let same = key_of(&stage(&fixture, b"stage v2", &[("f", "1"), ("other", "y")]));
    let two = key_of(&stage(&fixture, b"stage v1", &[("f", "2"), ("other", "x")]));
    assert_eq!(one, same);
    assert_ne!(one, two);
}

#[test]
fn a_missing_copy_source_fails_the_cache_map_with_where_it_looked() {
    let fixture = fixture();
    let graph = graph("FROM scratch AS build\nFROM scratch\nCOPY --from=build /nope /x\n");
    let GraphOp::Copy(spec) = last_op(&graph) else {
        panic!("a copy")
    };
    let request = request(&graph);
    let source = stage(&fixture, b"s", &[("f", "1")]);
    let mut op = CopyOp::new(spec, &graph);
    let error = with_context(&fixture, &request, &empty(), &[source], |cx| {
        op.cache_map(cx).unwrap_err()
    });
    assert_eq!(
        error.to_string(),
        "source `/nope` not found in stage `build`"
    );
}

#[test]
fn run_is_keyed_by_the_stage_it_mounts_and_runs_with_its_modes() {
    let fixture = fixture();
    let graph = graph(
        "FROM scratch AS s\nFROM scratch\n\
         RUN --network=none --mount=type=bind,from=s,target=/m make\n",
    );
    let GraphOp::Exec(exec) = last_op(&graph) else {
        panic!("a RUN")
    };
    let request = request(&graph);
    let mounted = stage(&fixture, b"stage v1", &[("f", "1")]);
    let key_of = |input: &State| {
        let mut op = RunOp::new(exec).unwrap();
        with_context(
            &fixture,
            &request,
            &empty(),
            std::slice::from_ref(input),
            |cx| op.cache_map(cx).unwrap(),
        )
    };
    let changed = State::root(cache_key(&[b"stage v2"]), mounted.layers.clone());
    assert_ne!(
        key_of(&mounted),
        key_of(&changed),
        "the mounted stage's key"
    );

    let executor = RecordingExecutor::new(|_, upper| {
        std::fs::write(upper.join("built"), "yes").unwrap();
        Ok(())
    });
    let upper = tempfile::tempdir().unwrap();
    let view = LayerStack::new(Vec::new());
    let mut op = RunOp::new(exec).unwrap();
    with_context(&fixture, &request, &empty(), &[mounted], |cx| {
        op.cache_map(cx).unwrap();
        let exec = ExecContext {
            upper: upper.path(),
            view: &view,
            executor: &executor,
            output: &|_, _| {},
        };
        op.exec(cx, &exec).unwrap();
    });
    let calls = executor.calls();
    assert_eq!(calls[0].argv, ["/bin/sh", "-c", "make"]);
    assert_eq!(
        (calls[0].network, calls[0].security),
        (Network::None, Security::Sandbox)
    );
    assert!(
        upper.path().join("built").is_file(),
        "the run wrote its layer"
    );
}

#[test]
fn run_modes_are_read_once_and_an_unknown_one_is_refused() {
    let graph = graph("FROM scratch\nRUN --network=host --security=insecure x\n");
    let GraphOp::Exec(exec) = last_op(&graph) else {
        panic!("a RUN")
    };
    assert_eq!(
        super::modes(exec).unwrap(),
        (Network::Host, Security::Insecure)
    );
    let mut odd = exec.clone();
    odd.network = "bridge".into();
    let error = RunOp::new(&odd).err().expect("refused");
    assert!(
        matches!(&error, Error::Unsupported { what } if what == "unknown network mode `bridge`"),
        "{error:?}"
    );
}

#[test]
fn mkdir_adds_nothing_to_the_key_and_refuses_a_file_in_the_way() {
    let fixture = fixture();
    let graph = graph("FROM scratch\nRUN x\n");
    let request = request(&graph);
    let image = tempfile::tempdir().unwrap();
    std::fs::write(image.path().join("src"), "a file").unwrap();
    std::fs::create_dir(image.path().join("app")).unwrap();
    let view = LayerStack::new(vec![image.path().to_path_buf()]);
    let executor = RecordingExecutor::new(|_, _| Ok(()));
    let mkdir = |path: &str, upper: &Path| {
        let mut op = MkdirOp::new(path, "");
        with_context(&fixture, &request, &empty(), &[], |cx| {
            assert!(op.cache_map(cx).unwrap().is_empty());
            let exec = ExecContext {
                upper,
                view: &view,
                executor: &executor,
                output: &|_, _| {},
            };
            op.exec(cx, &exec)
        })
    };
    let upper = tempfile::tempdir().unwrap();
    let error = mkdir("/src", upper.path()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "destination `/src`: WORKDIR exists in the image and is not a directory"
    );
    mkdir("/app", upper.path()).unwrap();
    let written: Vec<_> = std::fs::read_dir(upper.path()).unwrap().collect();
    assert!(written.is_empty(), "an existing directory is left alone");
    assert!(executor.calls().is_empty(), "WORKDIR runs no command");
}

#[test]
fn a_cache_key_is_versioned_and_length_prefixed() {
    // Parts are not simply concatenated: ("ab", "c") and ("a", "bc") are different work.
    assert_ne!(cache_key(&[b"ab", b"c"]), cache_key(&[b"a", b"bc"]));
    assert_eq!(cache_key(&[b"x"]), cache_key(&[b"x"]));
    let unversioned: Digest = {
        use sha2::{Digest as _, Sha256};
        let mut hasher = Sha256::new();
        hasher.update(1u64.to_le_bytes());
        hasher.update(b"x");
        Digest::from_bytes(hasher.finalize().into())
    };
    assert_ne!(cache_key(&[b"x"]), unversioned);
}
