//! The image a build writes: one history entry per instruction of the target's stage chain,
//! `empty_layer` where no layer was made, `created` from when steps ran or from
//! `SOURCE_DATE_EPOCH`, the request's labels in the config.

use super::*;
use strata_oci::image::config::history_of;

/// Commands starting with `quiet` change nothing (no layer); the others write `/out`.
fn quiet_or_writing() -> RecordingExecutor {
    RecordingExecutor::new(|run, upper| {
        let text = command(run);
        if !text.starts_with("quiet") {
            std::fs::write(upper.join("out"), text).unwrap();
        }
        Ok(())
    })
}

#[test]
fn history_has_an_entry_per_instruction_and_marks_those_without_a_layer() {
    let fixture = fixture();
    let executor = quiet_or_writing();
    let graph = graph(
        "FROM scratch AS base\nRUN base\nFROM base\nENV A=1\nRUN quiet\nRUN loud\nLABEL k=v\n",
    );
    let request = BuildRequest {
        labels: vec![("from".into(), "request".into())],
        source_date_epoch: Some(86_400),
        ..request(&graph)
    };
    let output = build(&fixture, &executor, &request).0.unwrap();
    let config = &output.image.config;
    let history: Vec<(String, bool, String)> = history_of(config)
        .into_iter()
        .map(|h| (h.created_by, h.empty_layer, h.created))
        .collect();
    let day = "1970-01-02T00:00:00Z".to_string();
    assert_eq!(
        history,
        [
            ("RUN /bin/sh -c base # buildkit".into(), false, day.clone()),
            ("ENV A=1".into(), true, day.clone()),
            ("RUN /bin/sh -c quiet # buildkit".into(), true, day.clone()),
            ("RUN /bin/sh -c loud # buildkit".into(), false, day.clone()),
            ("LABEL k=v".into(), true, day.clone()),
        ],
        "the base stage's history first, then the target's own"
    );
    assert_eq!(output.image.diff_ids.len(), 2, "base and loud made layers");
    assert_eq!(config["created"], day.as_str());
    assert_eq!(config["config"]["Labels"]["k"], "v");
    assert_eq!(config["config"]["Labels"]["from"], "request");
    assert_eq!(config["config"]["Env"][1], "A=1");
}

#[test]
fn a_cached_step_keeps_the_time_it_first_ran() {
    let fixture = fixture();
    let executor = executor();
    let graph = graph("FROM scratch\nRUN one\n");
    let first = build(&fixture, &executor, &request(&graph)).0.unwrap();
    let created = |output: &BuildOutput| history_of(&output.image.config)[0].created.clone();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let again = build(&fixture, &executor, &request(&graph)).0.unwrap();
    assert_eq!(again.cached, 1);
    assert_eq!(created(&again), created(&first));
    assert_eq!(
        again.image.id, first.image.id,
        "so a rebuild is the same image"
    );
}
