//! A failing step stops the build with its own error; refused entitlements stop it earlier.

use super::*;

fn assert_step_error<'e>(error: &'e Error, suffix: &str, lines: (usize, usize)) -> &'e Error {
    match error {
        Error::Step {
            step,
            place,
            source,
        } => {
            assert!(
                step.ends_with(suffix),
                "{step:?} should end with {suffix:?}"
            );
            assert_eq!((place.start_line, place.end_line), lines, "lines of {step}");
            source
        }
        other => panic!("expected a step error, got {other:?}"),
    }
}

#[test]
fn failing_run_stops_the_build_with_that_steps_error() {
    let fixture = fixture();
    let executor = executor();
    let graph = graph("FROM scratch\nRUN ok\nRUN fail here\nRUN never\n");
    let (result, recorder) = build(&fixture, &executor, &request(&graph));
    let error = result.unwrap_err();
    let source = assert_step_error(&error, "RUN fail here", (3, 3));
    assert!(
        matches!(source, Error::CommandFailed { code: 1, argv, .. } if argv.last().map(String::as_str) == Some("fail here")),
        "{source:?}"
    );
    assert_eq!(
        commands(&executor),
        ["ok", "fail here"],
        "later steps never run"
    );
    assert!(matches!(
        recorder.outcome("RUN fail here"),
        Some(Outcome::Failed(_))
    ));
    assert_eq!(recorder.outcome("RUN never"), None);
}

#[test]
fn failing_stage_stops_the_build_and_the_steps_that_need_it() {
    let fixture = fixture();
    let executor = executor();
    let graph = graph(
        "FROM scratch AS good\nRUN good\nFROM scratch AS bad\nRUN fail in bad\n\
         FROM scratch\nCOPY --from=good /out /good\nCOPY --from=bad /out /bad\nRUN final\n",
    );
    let error = build(&fixture, &executor, &request(&graph)).0.unwrap_err();
    let source = assert_step_error(&error, "RUN fail in bad", (4, 4));
    assert!(matches!(source, Error::CommandFailed { .. }), "{source:?}");
    let ran = commands(&executor);
    assert!(ran.contains(&"fail in bad".to_string()));
    assert!(!ran.contains(&"final".to_string()), "{ran:?}");
}

#[test]
fn a_failure_starts_no_new_step_in_a_sibling_stage() {
    // BuildKit cancels the whole solve at the first error; strata used to let a stage running
    // beside the failed one carry on to its end (`good 1, fail, good 2, good 3, good 4`).
    let fixture = fixture();
    // Slow enough that the other stage's failure lands while a step of this one runs.
    let executor = slow_executor(std::time::Duration::from_millis(150));
    let graph = graph(
        "FROM scratch AS good\nRUN good 1\nRUN good 2\nRUN good 3\nRUN good 4\n\
         FROM scratch AS bad\nRUN fail in bad\n\
         FROM scratch\nCOPY --from=good /out /good\nCOPY --from=bad /out /bad\n",
    );
    let (result, recorder) = build(&fixture, &executor, &request(&graph));
    let error = result.unwrap_err();
    assert_step_error(&error, "RUN fail in bad", (7, 7));
    let ran = commands(&executor);
    assert!(
        !ran.contains(&"good 3".to_string()) && !ran.contains(&"good 4".to_string()),
        "steps kept starting after the failure: {ran:?}"
    );
    // A step that was not started is not reported as failed.
    assert_eq!(recorder.outcome("RUN good 4"), None);
}

#[test]
fn failed_step_leaves_no_scratch_dirs_behind() {
    let fixture = fixture();
    let executor = RecordingExecutor::new(|run, upper| {
        // Half of its work done, then the command fails.
        std::fs::write(upper.join("partial"), "x").unwrap();
        Err(Error::CommandFailed {
            argv: run.argv.clone(),
            code: 2,
            signal: None,
        })
    });
    let graph = graph("FROM scratch\nRUN make\n");
    build(&fixture, &executor, &request(&graph)).0.unwrap_err();
    let tmp = fixture.store.root().join("tmp");
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn failed_step_is_not_cached_and_runs_again_next_build() {
    let fixture = fixture();
    let executor = executor();
    let graph = graph("FROM scratch\nRUN ok\nRUN fail once\n");
    build(&fixture, &executor, &request(&graph)).0.unwrap_err();
    let fixed = RecordingExecutor::new(|run, upper| {
        std::fs::write(upper.join("out"), command(run)).unwrap();
        Ok(())
    });
    let (output, recorder) = build(&fixture, &fixed, &request(&graph));
    output.unwrap();
    assert_eq!(commands(&fixed), ["fail once"]);
    assert_eq!(recorder.outcome("RUN ok"), Some(Outcome::Cached));
}

#[test]
fn network_host_without_the_entitlement_is_refused_before_anything_runs() {
    let fixture = fixture();
    let executor = executor();
    let graph = graph("FROM scratch\nRUN first\nRUN --network=host second\n");
    let (result, recorder) = build(&fixture, &executor, &request(&graph));
    let error = result.unwrap_err();
    let source = assert_step_error(&error, "RUN --network=host second", (3, 3));
    assert!(
        matches!(
            source,
            Error::Entitlement {
                wanted: "network.host"
            }
        ),
        "{source:?}"
    );
    assert!(
        executor.calls().is_empty(),
        "not even the step before it ran"
    );
    assert!(recorder.outcomes().is_empty());
}

#[test]
fn security_insecure_without_the_entitlement_is_refused_before_anything_runs() {
    let fixture = fixture();
    let executor = executor();
    let graph = graph("FROM scratch\nRUN first\nRUN --security=insecure second\n");
    let error = build(&fixture, &executor, &request(&graph)).0.unwrap_err();
    let source = assert_step_error(&error, "RUN --security=insecure second", (3, 3));
    assert!(
        matches!(
            source,
            Error::Entitlement {
                wanted: "security.insecure"
            }
        ),
        "{source:?}"
    );
    assert!(executor.calls().is_empty());
}

#[test]
fn a_step_error_names_the_dockerfile_as_given_and_shows_the_line() {
    let fixture = fixture();
    let executor = executor();
    let text = "FROM scratch\nRUN ok\nRUN fail \\\n  here\n";
    let graph = graph(text);
    let request = BuildRequest {
        dockerfile: Dockerfile {
            path: "build/Dockerfile.ci",
            text,
        },
        ..request(&graph)
    };
    let error = build(&fixture, &executor, &request).0.unwrap_err();
    assert_step_error(&error, "RUN fail   here", (3, 4));
    let shown = error.to_string();
    assert!(
        shown.starts_with("build/Dockerfile.ci:3-4: [2/2] RUN fail   here: process "),
        "{shown}"
    );
    assert!(
        shown.ends_with("exit code: 1\n   |\n 3 | RUN fail \\\n   | ^^^^^^^^^^"),
        "{shown}"
    );
    // The cause is kept as a value (boxed), not as text.
    let cause = std::error::Error::source(&error).expect("a step error has a cause");
    assert!(
        matches!(
            cause.downcast_ref::<Box<Error>>().map(|b| &**b),
            Some(Error::CommandFailed { code: 1, .. })
        ),
        "{cause:?}"
    );
}

#[test]
fn every_step_waiting_on_a_failed_one_fails_with_its_error_unchanged() {
    let fixture = fixture();
    let executor = executor();
    let graph = graph(
        "FROM scratch AS bad\nRUN fail in bad\n\
         FROM scratch AS x\nCOPY --from=bad /out /x\n\
         FROM scratch AS y\nCOPY --from=bad /out /y\n\
         FROM scratch\nCOPY --from=x /x /x\nCOPY --from=y /y /y\n",
    );
    let (result, recorder) = build(&fixture, &executor, &request(&graph));
    let error = result.unwrap_err();
    // The build's error is the failed step's own, owned again once the solve is over: not a
    // shared copy, not a consequence (`cancelled`), not its text.
    let source = assert_step_error(&error, "RUN fail in bad", (2, 2));
    assert!(matches!(source, Error::CommandFailed { .. }), "{source:?}");
    assert_eq!(
        recorder.outcomes().len(),
        1,
        "no step that needs it started: {:?}",
        recorder.outcomes()
    );
}

#[test]
fn a_base_image_missing_from_the_store_is_a_step_error_at_its_from() {
    let fixture = fixture();
    let executor = executor();
    // Compiled without looking base images up: the solver is the one to find it missing.
    let graph = graph("FROM nowhere:1 AS base\nRUN never\n");
    let (result, recorder) = build(&fixture, &executor, &request(&graph));
    let error = result.unwrap_err();
    let source = assert_step_error(&error, "FROM docker.io/library/nowhere:1", (1, 1));
    assert!(
        matches!(source, Error::ImageNotFound { reference } if reference == "nowhere:1"),
        "{source:?}"
    );
    assert!(executor.calls().is_empty());
    assert!(recorder.outcomes().is_empty(), "a root is not a step");
}
