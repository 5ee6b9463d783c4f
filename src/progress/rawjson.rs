//! BuildKit's `rawjson` progress: one `SolveStatus` JSON object per line, as
//! `docker buildx build --progress rawjson` prints, so tools that read BuildKit's progress
//! stream read strata's.
//!
//! Each event becomes one status update: a step's vertex (`digest`, `name`, `started`,
//! `completed`, `cached`, `error`) every time its state changes, its output as `logs`
//! (`stream` 1 or 2, `data` base64), warnings as `warnings` (`short` base64). Notes that are
//! not about one step (`naming to …`) become vertexes of their own, started and completed at
//! once, as BuildKit's one-off progress items are. Times are RFC 3339 with nanoseconds, as
//! Go marshals them.
//!
//! BuildKit's vertex digest is its LLB operation's; strata's steps are named by
//! `sha256(name)`, which stays the same across builds of the same Dockerfile, so a consumer
//! can match a step between two runs.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::SystemTime;

use base64::Engine as _;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use strata_builder::progress::{Event, Progress, StepId, Stream};

/// Writes SolveStatus lines to a writer (stderr in the CLI, a buffer in tests).
pub struct RawJson<W: Write + Send> {
    state: Mutex<State<W>>,
}

struct State<W> {
    out: W,
    /// Each step's vertex as last sent (its digest, name and start time are needed again).
    vertexes: HashMap<StepId, Vertex>,
    /// Notes sent so far: each note's vertex digest includes its number, so that two equal
    /// notes stay two vertexes.
    notes: usize,
}

/// BuildKit's `client.SolveStatus`, empty lists left out.
#[derive(Serialize, Default)]
struct SolveStatus {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    vertexes: Vec<Vertex>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    logs: Vec<VertexLog>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<VertexWarning>,
}

/// BuildKit's `client.Vertex`.
#[derive(Serialize, Clone)]
struct Vertex {
    digest: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    started: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    completed: Option<String>,
    #[serde(skip_serializing_if = "is_false")]
    cached: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// BuildKit's `client.VertexLog`.
#[derive(Serialize)]
struct VertexLog {
    vertex: String,
    stream: u8,
    data: String,
    timestamp: String,
}

/// BuildKit's `client.VertexWarning`, for a warning not tied to a step.
#[derive(Serialize)]
struct VertexWarning {
    level: u8,
    short: String,
}

fn is_false(value: &bool) -> bool {
    !value
}

fn now() -> String {
    chrono::DateTime::<chrono::Utc>::from(SystemTime::now())
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn digest_of(text: &str) -> String {
    format!("sha256:{:x}", Sha256::digest(text.as_bytes()))
}

fn base64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

impl<W: Write + Send> RawJson<W> {
    /// A renderer writing to `out`.
    pub fn new(out: W) -> Self {
        RawJson {
            state: Mutex::new(State {
                out,
                vertexes: HashMap::new(),
                notes: 0,
            }),
        }
    }

    /// Gives the writer back (tests read what was printed).
    #[cfg(test)]
    pub fn into_inner(self) -> W {
        self.state.into_inner().unwrap().out
    }
}

impl<W> State<W> {
    /// Updates a step's vertex and returns it, to send.
    fn finish(&mut self, id: StepId, cached: bool, error: Option<&str>) -> Option<Vertex> {
        let vertex = self.vertexes.get_mut(&id)?;
        vertex.completed = Some(now());
        vertex.cached = cached;
        vertex.error = error.map(str::to_string);
        Some(vertex.clone())
    }
}

impl<W: Write + Send> Progress for RawJson<W> {
    fn event(&self, event: Event<'_>) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut status = SolveStatus::default();
        match event {
            Event::Started { id, name } => {
                let vertex = Vertex {
                    digest: digest_of(name),
                    name: name.to_string(),
                    started: Some(now()),
                    completed: None,
                    cached: false,
                    error: None,
                };
                state.vertexes.insert(id, vertex.clone());
                status.vertexes.push(vertex);
            }
            Event::Log {
                id, stream, data, ..
            } => {
                let Some(vertex) = state.vertexes.get(&id) else {
                    return;
                };
                status.logs.push(VertexLog {
                    vertex: vertex.digest.clone(),
                    stream: match stream {
                        Stream::Stdout => 1,
                        Stream::Stderr => 2,
                    },
                    data: base64(data),
                    timestamp: now(),
                });
            }
            Event::Cached { id } => status.vertexes.extend(state.finish(id, true, None)),
            Event::Done { id, .. } => status.vertexes.extend(state.finish(id, false, None)),
            Event::Failed { id, message } => {
                status
                    .vertexes
                    .extend(state.finish(id, false, Some(message)))
            }
            Event::Note { message } => {
                state.notes += 1;
                let at = now();
                status.vertexes.push(Vertex {
                    digest: digest_of(&format!("note {}: {message}", state.notes)),
                    name: message.to_string(),
                    started: Some(at.clone()),
                    completed: Some(at),
                    cached: false,
                    error: None,
                });
            }
            Event::Warning { message } => status.warnings.push(VertexWarning {
                level: 1,
                short: base64(message.as_bytes()),
            }),
        }
        if status.vertexes.is_empty() && status.logs.is_empty() && status.warnings.is_empty() {
            return;
        }
        // Progress goes to stderr; a closed stderr must not fail the build.
        if let Ok(line) = serde_json::to_string(&status) {
            let _ = writeln!(state.out, "{line}");
            let _ = state.out.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::Value;

    use super::*;

    fn lines(raw: RawJson<Vec<u8>>) -> Vec<Value> {
        String::from_utf8(raw.into_inner())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn each_event_is_one_solve_status_line() {
        let raw = RawJson::new(Vec::new());
        raw.event(Event::Started {
            id: 1,
            name: "[1/2] RUN echo hi",
        });
        raw.event(Event::Log {
            id: 1,
            stream: Stream::Stderr,
            data: b"hi\n",
            elapsed: Duration::from_millis(5),
        });
        raw.event(Event::Done {
            id: 1,
            elapsed: Duration::from_millis(9),
        });
        raw.event(Event::Started {
            id: 2,
            name: "[2/2] COPY a /a",
        });
        raw.event(Event::Cached { id: 2 });
        raw.event(Event::Started {
            id: 3,
            name: "[3/3] RUN false",
        });
        raw.event(Event::Failed {
            id: 3,
            message: "exit code 1",
        });
        raw.event(Event::Warning { message: "careful" });
        raw.event(Event::Note {
            message: "naming to app",
        });
        let lines = lines(raw);
        assert_eq!(lines.len(), 9);
        let run = &lines[0]["vertexes"][0];
        assert_eq!(run["name"], "[1/2] RUN echo hi");
        assert_eq!(run["digest"], digest_of("[1/2] RUN echo hi"));
        assert!(run["started"].is_string() && run.get("completed").is_none());
        let log = &lines[1]["logs"][0];
        assert_eq!(log["vertex"], run["digest"]);
        assert_eq!(log["stream"], 2);
        assert_eq!(log["data"], "aGkK");
        assert!(log["timestamp"].as_str().unwrap().ends_with('Z'));
        let done = &lines[2]["vertexes"][0];
        assert_eq!(done["started"], run["started"]);
        assert!(done["completed"].is_string());
        assert!(done.get("cached").is_none());
        assert_eq!(lines[4]["vertexes"][0]["cached"], true);
        assert_eq!(lines[6]["vertexes"][0]["error"], "exit code 1");
        assert_eq!(lines[7]["warnings"][0]["short"], base64(b"careful"));
        let note = &lines[8]["vertexes"][0];
        assert_eq!(note["name"], "naming to app");
        assert!(note["completed"].is_string());
    }

    #[test]
    fn output_of_an_unknown_step_is_dropped_not_invented() {
        let raw = RawJson::new(Vec::new());
        raw.event(Event::Log {
            id: 7,
            stream: Stream::Stdout,
            data: b"x",
            elapsed: Duration::ZERO,
        });
        raw.event(Event::Done {
            id: 7,
            elapsed: Duration::ZERO,
        });
        // Nothing to say about a step never started: no `{}` line (BuildKit sends none).
        assert!(lines(raw).is_empty());
    }
}
