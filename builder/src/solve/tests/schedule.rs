//! Which vertices run: merged duplicates once, pruned stages never, independent stages all.

use super::*;

#[test]
fn identical_vertices_in_two_stages_run_once() {
    let fixture = fixture();
    let executor = executor();
    let graph = graph(
        "FROM scratch AS a\nRUN same\nFROM scratch AS b\nRUN same\n\
         FROM scratch\nCOPY --from=a /out /a\nCOPY --from=b /out /b\n",
    );
    let output = build(&fixture, &executor, &request(&graph)).0.unwrap();
    assert_eq!(commands(&executor), ["same"]);
    assert_eq!(output.ran, 3, "one RUN and two COPYs ran");
}

#[test]
fn target_stage_does_not_run_stages_it_does_not_need() {
    let fixture = fixture();
    let executor = executor();
    let text = "FROM scratch AS base\nRUN base\nFROM base AS wanted\nRUN wanted\n\
                FROM scratch AS later\nRUN later\n";
    let graph = graph_with(text, &options(Some("wanted"), &[]));
    let (output, recorder) = build(&fixture, &executor, &request(&graph));
    output.unwrap();
    assert_eq!(commands(&executor), ["base", "wanted"]);
    assert_eq!(recorder.outcome("RUN later"), None, "never even started");
}

#[test]
fn default_target_skips_a_stage_nothing_copies_from() {
    let fixture = fixture();
    let executor = executor();
    let graph = graph("FROM scratch AS unused\nRUN unused\nFROM scratch\nRUN last\n");
    build(&fixture, &executor, &request(&graph)).0.unwrap();
    assert_eq!(commands(&executor), ["last"]);
}

#[test]
fn independent_stages_both_run_before_the_step_that_needs_them() {
    let fixture = fixture();
    let executor = executor();
    let graph = graph(
        "FROM scratch AS a\nRUN a\nFROM scratch AS b\nRUN b\n\
         FROM scratch\nCOPY --from=a /out /a\nCOPY --from=b /out /b\nRUN final\n",
    );
    build(&fixture, &executor, &request(&graph)).0.unwrap();
    let mut ran = commands(&executor);
    assert_eq!(ran.pop().as_deref(), Some("final"));
    ran.sort();
    assert_eq!(ran, ["a", "b"], "both stages ran once, in either order");
}

#[test]
fn a_step_on_another_stage_sees_that_stages_layers() {
    let fixture = fixture();
    let executor = executor();
    let graph = graph("FROM scratch AS base\nRUN base\nFROM base\nRUN child\n");
    build(&fixture, &executor, &request(&graph)).0.unwrap();
    let calls = executor.calls();
    assert_eq!(commands(&executor), ["base", "child"]);
    assert_eq!(calls[1].lowers.len(), 1);
    let below = std::fs::read_to_string(calls[1].lowers[0].join("out")).unwrap();
    assert_eq!(below, "base");
}

#[test]
fn a_stage_used_twice_runs_once_even_without_the_cache() {
    let fixture = fixture();
    let executor = executor();
    let graph = graph(
        "FROM scratch AS a\nRUN a\nFROM scratch\nCOPY --from=a /out /1\nCOPY --from=a /out /2\n",
    );
    // With --no-cache nothing can answer the second use but the solver's own memo.
    let request = BuildRequest {
        no_cache: true,
        ..request(&graph)
    };
    build(&fixture, &executor, &request).0.unwrap();
    assert_eq!(commands(&executor), ["a"]);
}

/// BuildKit checks entitlements on what it solves: a stage the target does not need may ask
/// for anything (the frontend leaves it out of the graph).
#[test]
fn unneeded_stage_asking_for_network_host_is_not_refused() {
    let fixture = fixture();
    let executor = executor();
    let graph = graph("FROM scratch AS unused\nRUN --network=host x\nFROM scratch\nRUN y\n");
    build(&fixture, &executor, &request(&graph)).0.unwrap();
    assert_eq!(commands(&executor), ["y"]);
}

#[test]
fn independent_stages_run_at_the_same_time() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    let fixture = fixture();
    // Each stage's command waits (up to a bound) for the other to have started: both see the
    // other only if they ran at the same time.
    let started = Arc::new(AtomicUsize::new(0));
    let overlapped = Arc::new(AtomicUsize::new(0));
    let executor = {
        let (started, overlapped) = (started.clone(), overlapped.clone());
        RecordingExecutor::new(move |run, upper| {
            let text = command(run);
            if text.starts_with("stage") {
                started.fetch_add(1, Ordering::SeqCst);
                let deadline = Instant::now() + Duration::from_secs(20);
                while started.load(Ordering::SeqCst) < 2 && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(5));
                }
                if started.load(Ordering::SeqCst) >= 2 {
                    overlapped.fetch_add(1, Ordering::SeqCst);
                }
            }
            std::fs::write(upper.join("out"), text).unwrap();
            Ok(())
        })
    };
    let graph = graph(
        "FROM scratch AS a\nRUN stage a\nFROM scratch AS b\nRUN stage b\n\
         FROM scratch\nCOPY --from=a /out /a\nCOPY --from=b /out /b\n",
    );
    build(&fixture, &executor, &request(&graph)).0.unwrap();
    assert_eq!(
        overlapped.load(Ordering::SeqCst),
        2,
        "each stage's step saw the other one running"
    );
}

#[test]
fn a_stage_that_copies_from_another_runs_after_it() {
    let fixture = fixture();
    let executor = executor();
    let graph = graph(
        "FROM scratch AS first\nRUN first\n\
         FROM scratch AS second\nCOPY --from=first /out /in\nRUN second\n\
         FROM scratch\nCOPY --from=second /out /final\n",
    );
    build(&fixture, &executor, &request(&graph)).0.unwrap();
    assert_eq!(commands(&executor), ["first", "second"]);
    // The second stage's RUN sees the first stage's file under the copy's layer.
    let lowers = &executor.calls()[1].lowers;
    assert_eq!(lowers.len(), 1);
    let copied = std::fs::read_to_string(lowers[0].join("in")).unwrap();
    assert_eq!(copied, "first");
}
