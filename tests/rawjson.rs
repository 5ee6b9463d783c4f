//! `--progress rawjson`: BuildKit's SolveStatus JSON lines, read as a BuildKit progress
//! consumer would read them.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use serde_json::Value;

use crate::util::{env_with_imported_busybox, TestEnv};

/// Builds `dir` with `--progress MODE`; returns stderr, asserting success.
fn build(env: &TestEnv, dir: &std::path::Path, mode: &str) -> String {
    let output = env.run(&[
        "build",
        "--progress",
        mode,
        "-t",
        "app:1",
        dir.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    stderr
}

/// What one rawjson run said: each vertex's last state by digest, and the logs per vertex.
struct Stream {
    vertexes: BTreeMap<String, Value>,
    logs: BTreeMap<(String, u64), Vec<u8>>,
}

fn parse(stderr: &str) -> Stream {
    let mut stream = Stream {
        vertexes: BTreeMap::new(),
        logs: BTreeMap::new(),
    };
    for line in stderr.lines() {
        let status: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}\n{stderr}"));
        let object = status.as_object().expect("each line is an object");
        for key in object.keys() {
            assert!(
                ["vertexes", "statuses", "logs", "warnings"].contains(&key.as_str()),
                "unknown SolveStatus field {key}"
            );
        }
        for vertex in object
            .get("vertexes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let digest = vertex["digest"].as_str().unwrap();
            assert!(
                digest.starts_with("sha256:") && digest.len() == 71,
                "{digest}"
            );
            assert!(vertex["name"].is_string());
            stream.vertexes.insert(digest.to_string(), vertex.clone());
        }
        for log in object
            .get("logs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let data = base64::engine::general_purpose::STANDARD
                .decode(log["data"].as_str().unwrap())
                .expect("log data is base64");
            let key = (
                log["vertex"].as_str().unwrap().to_string(),
                log["stream"].as_u64().unwrap(),
            );
            assert!(log["timestamp"].is_string());
            stream.logs.entry(key).or_default().extend(data);
        }
    }
    stream
}

/// The step names of plain progress: the `#N NAME` line that opens each step.
fn plain_step_names(stderr: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut names = BTreeSet::new();
    for line in stderr.lines() {
        let Some((number, rest)) = line.strip_prefix('#').and_then(|l| l.split_once(' ')) else {
            continue;
        };
        if number.parse::<u32>().is_ok() && seen.insert(number.to_string()) {
            names.insert(rest.to_string());
        }
    }
    names
}

#[test]
fn rawjson_vertexes_match_plain_steps_with_cache_flags_and_logs() {
    let Some(env) = env_with_imported_busybox("base:1", "CMD [\"sh\"]") else {
        return;
    };
    let dir = env.write_files(
        "app",
        &[
            (
                "Dockerfile",
                "FROM base:1\nRUN echo out-rawjson && echo err-rawjson >&2\nCOPY a.txt /a.txt\n",
            ),
            ("a.txt", "a"),
        ],
    );
    let cold = parse(&build(&env, &dir, "rawjson"));
    let plain = plain_step_names(&build(&env, &dir, "plain"));
    let warm = parse(&build(&env, &dir, "rawjson"));

    let names = |stream: &Stream| -> BTreeMap<String, Value> {
        stream
            .vertexes
            .values()
            .map(|v| (v["name"].as_str().unwrap().to_string(), v.clone()))
            .collect()
    };
    let (cold_names, warm_names) = (names(&cold), names(&warm));
    assert!(
        plain.iter().any(|n| n.contains("RUN echo out-rawjson")),
        "{plain:?}"
    );
    for step in &plain {
        assert!(
            cold_names.contains_key(step),
            "cold build lacks {step}: {cold_names:?}"
        );
        let warm_vertex = warm_names
            .get(step)
            .unwrap_or_else(|| panic!("rebuild lacks {step}: {warm_names:?}"));
        // Every step of the rebuild came from the cache, started and completed.
        assert!(warm_vertex["started"].is_string(), "{warm_vertex}");
        assert!(warm_vertex["completed"].is_string(), "{warm_vertex}");
        assert_eq!(warm_vertex.get("error"), None);
        // The same step keeps its digest from one build to the next.
        assert_eq!(warm_vertex["digest"], cold_names[step]["digest"]);
    }
    let run_name = plain.iter().find(|n| n.contains("RUN echo")).unwrap();
    let cold_run = &cold_names[run_name];
    assert_eq!(
        cold_run.get("cached"),
        None,
        "the first build runs it: {cold_run}"
    );
    assert!(cold_run["completed"].is_string());
    assert_eq!(warm_names[run_name]["cached"], true);
    let copy_name = plain.iter().find(|n| n.contains("COPY a.txt")).unwrap();
    assert_eq!(warm_names[copy_name]["cached"], true);

    let digest = cold_run["digest"].as_str().unwrap().to_string();
    let stdout = String::from_utf8_lossy(&cold.logs[&(digest.clone(), 1)]).into_owned();
    let stderr = String::from_utf8_lossy(&cold.logs[&(digest.clone(), 2)]).into_owned();
    assert_eq!(stdout, "out-rawjson\n");
    assert_eq!(stderr, "err-rawjson\n");
    assert!(
        warm.logs.keys().all(|(vertex, _)| *vertex != digest),
        "a cached RUN prints nothing"
    );
}
