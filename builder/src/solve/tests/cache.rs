//! Cache keys: hits skip the executor, a miss re-runs exactly the step and its dependents.

use super::*;

#[test]
fn second_identical_build_runs_nothing_and_makes_the_same_image() {
    let fixture = fixture();
    let graph = graph("FROM scratch\nRUN one\nRUN two\n");
    let executor = executor();
    let (first, recorder) = build(&fixture, &executor, &request(&graph));
    let first = first.unwrap();
    assert_eq!(commands(&executor), ["one", "two"]);
    assert_eq!((first.ran, first.cached), (2, 0));
    assert!(recorder.outcomes().iter().all(|(_, o)| *o == Outcome::Done));

    let (second, recorder) = build(&fixture, &executor, &request(&graph));
    let second = second.unwrap();
    assert_eq!(commands(&executor), ["one", "two"], "a hit must not run");
    assert_eq!((second.ran, second.cached), (0, 2));
    assert_eq!(recorder.outcome("RUN one"), Some(Outcome::Cached));
    assert_eq!(recorder.outcome("RUN two"), Some(Outcome::Cached));
    assert_eq!(second.image.id, first.image.id);
}

#[test]
fn changed_run_reruns_itself_and_later_steps_but_not_earlier_ones() {
    let fixture = fixture();
    let executor = executor();
    let before = graph("FROM scratch\nRUN one\nRUN two\nRUN three\n");
    build(&fixture, &executor, &request(&before)).0.unwrap();
    let after = graph("FROM scratch\nRUN one\nRUN TWO\nRUN three\n");
    let (output, recorder) = build(&fixture, &executor, &request(&after));
    output.unwrap();
    assert_eq!(
        commands(&executor),
        ["one", "two", "three", "TWO", "three"],
        "the changed step and the one after it run again"
    );
    assert_eq!(recorder.outcome("RUN one"), Some(Outcome::Cached));
    assert_eq!(recorder.outcome("RUN TWO"), Some(Outcome::Done));
    assert_eq!(recorder.outcome("RUN three"), Some(Outcome::Done));
}

#[test]
fn changed_build_arg_reruns_only_steps_that_see_it() {
    let fixture = fixture();
    let executor = executor();
    let text = "FROM scratch\nRUN before\nARG V\nRUN after\n";
    let first = graph_with(text, &options(None, &[("V", "1")]));
    build(&fixture, &executor, &request(&first)).0.unwrap();
    let second = graph_with(text, &options(None, &[("V", "2")]));
    let (output, recorder) = build(&fixture, &executor, &request(&second));
    output.unwrap();
    assert_eq!(commands(&executor), ["before", "after", "after"]);
    assert_eq!(recorder.outcome("RUN before"), Some(Outcome::Cached));
    assert_eq!(recorder.outcome("RUN after"), Some(Outcome::Done));
    let env = &executor.calls()[2].env;
    assert!(env.contains(&("V".into(), "2".into())), "{env:?}");
}

#[test]
fn changed_env_reruns_the_steps_after_it() {
    let fixture = fixture();
    let executor = executor();
    let first = graph("FROM scratch\nRUN before\nENV MODE=debug\nRUN after\n");
    build(&fixture, &executor, &request(&first)).0.unwrap();
    let second = graph("FROM scratch\nRUN before\nENV MODE=release\nRUN after\n");
    build(&fixture, &executor, &request(&second)).0.unwrap();
    assert_eq!(commands(&executor), ["before", "after", "after"]);
}

#[test]
fn miss_in_one_stage_leaves_an_independent_stage_cached() {
    let fixture = fixture();
    let executor = executor();
    let text = |a: &str| {
        format!(
            "FROM scratch AS a\nRUN {a}\nFROM scratch AS b\nRUN b\n\
             FROM scratch\nCOPY --from=a /out /a\nCOPY --from=b /out /b\nRUN final\n"
        )
    };
    build(&fixture, &executor, &request(&graph(&text("a"))))
        .0
        .unwrap();
    let (output, recorder) = build(&fixture, &executor, &request(&graph(&text("A"))));
    output.unwrap();
    assert_eq!(&commands(&executor)[3..], ["A", "final"]);
    assert_eq!(recorder.outcome("RUN b"), Some(Outcome::Cached));
    assert_eq!(
        recorder.outcome("COPY --from=a /out /a"),
        Some(Outcome::Done)
    );
    assert_eq!(recorder.outcome("RUN final"), Some(Outcome::Done));
}

#[test]
fn no_cache_runs_every_step_again_and_still_records_results() {
    let fixture = fixture();
    let executor = executor();
    let graph = graph("FROM scratch\nRUN one\nRUN two\n");
    let first = build(&fixture, &executor, &request(&graph)).0.unwrap();
    let no_cache = BuildRequest {
        no_cache: true,
        ..request(&graph)
    };
    let (output, recorder) = build(&fixture, &executor, &no_cache);
    let output = output.unwrap();
    assert_eq!(commands(&executor), ["one", "two", "one", "two"]);
    assert_eq!((output.ran, output.cached), (2, 0));
    assert!(recorder.outcomes().iter().all(|(_, o)| *o == Outcome::Done));
    // The same commands wrote the same files: the same image, and its records answer later.
    assert_eq!(output.image.id, first.image.id);
    let again = build(&fixture, &executor, &request(&graph)).0.unwrap();
    assert_eq!((again.ran, again.cached), (0, 2));
    assert_eq!(executor.calls().len(), 4);
}

/// Needs root: COPY makes its files owned by root (0:0) in the layer.
#[test]
fn changed_context_file_reruns_the_copy_and_the_runs_after_it() {
    if !crate::running_as_root() {
        return crate::skip_test("COPY chowns its files to root in the layer");
    }
    let fixture = fixture();
    let executor = executor();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.c"), "int main;").unwrap();
    let context = crate::context::BuildContext::open(dir.path(), None).unwrap();
    let graph = graph("FROM scratch\nRUN before\nCOPY app.c /src/\nRUN cc\n");
    let with_context = |graph| BuildRequest {
        context: Some(&context),
        ..request(graph)
    };
    build(&fixture, &executor, &with_context(&graph)).0.unwrap();
    // Same graph, same vertex digests: only the file's content tells the steps apart.
    std::fs::write(dir.path().join("app.c"), "int main(void);").unwrap();
    let (output, recorder) = build(&fixture, &executor, &with_context(&graph));
    output.unwrap();
    assert_eq!(commands(&executor), ["before", "cc", "cc"]);
    assert_eq!(recorder.outcome("RUN before"), Some(Outcome::Cached));
    assert_eq!(recorder.outcome("COPY app.c /src/"), Some(Outcome::Done));
    assert_eq!(recorder.outcome("RUN cc"), Some(Outcome::Done));
}

/// Needs root, as above.
#[test]
fn rewritten_context_file_with_the_same_content_still_hits() {
    if !crate::running_as_root() {
        return crate::skip_test("COPY chowns its files to root in the layer");
    }
    let fixture = fixture();
    let executor = executor();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.c");
    std::fs::write(&file, "int main;").unwrap();
    let context = crate::context::BuildContext::open(dir.path(), None).unwrap();
    let graph = graph("FROM scratch\nCOPY app.c /src/\nRUN cc\n");
    let request = BuildRequest {
        context: Some(&context),
        ..request(&graph)
    };
    let first = build(&fixture, &executor, &request).0.unwrap();
    std::fs::remove_file(&file).unwrap();
    std::fs::write(&file, "int main;").unwrap();
    let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let (second, recorder) = build(&fixture, &executor, &request);
    let second = second.unwrap();
    assert_eq!(
        commands(&executor),
        ["cc"],
        "the content decides, not the mtime"
    );
    assert_eq!(recorder.outcome("COPY app.c /src/"), Some(Outcome::Cached));
    assert_eq!(second.image.id, first.image.id);
}

#[test]
fn run_that_changes_nothing_makes_no_layer_and_is_still_cached() {
    let fixture = fixture();
    let executor = RecordingExecutor::new(|_, _| Ok(()));
    let graph = graph("FROM scratch\nRUN true\n");
    let first = build(&fixture, &executor, &request(&graph)).0.unwrap();
    assert!(
        first.image.diff_ids.is_empty(),
        "{:?}",
        first.image.diff_ids
    );
    let (second, recorder) = build(&fixture, &executor, &request(&graph));
    assert_eq!(second.unwrap().image.id, first.image.id);
    assert_eq!(recorder.outcome("RUN true"), Some(Outcome::Cached));
    assert_eq!(executor.calls().len(), 1);
}

#[test]
fn cached_step_whose_snapshot_is_gone_runs_again() {
    let fixture = fixture();
    let executor = executor();
    let graph = graph("FROM scratch\nRUN one\nRUN two\n");
    let first = build(&fixture, &executor, &request(&graph)).0.unwrap();
    let bottom = fixture.store.snapshots().path(&first.image.diff_ids[0]);
    std::fs::remove_dir_all(&bottom).unwrap();
    let (second, recorder) = build(&fixture, &executor, &request(&graph));
    let second = second.unwrap();
    assert_eq!(commands(&executor), ["one", "two", "one"]);
    assert_eq!(recorder.outcome("RUN one"), Some(Outcome::Done));
    assert_eq!(recorder.outcome("RUN two"), Some(Outcome::Cached));
    assert!(bottom.is_dir(), "the run made the snapshot again");
    assert_eq!(second.image.id, first.image.id);
}
