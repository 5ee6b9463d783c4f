//! BuildKit's plain progress format: `#N [stage 1/3] RUN make`, `#N 0.123 output`, `#N DONE 1.2s`.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;

use strata_builder::progress::{Event, Progress, StepId};

/// Writes plain progress lines to a writer (stderr in the CLI, a buffer in tests).
pub struct Plain<W: Write + Send> {
    state: Mutex<State<W>>,
}

struct State<W> {
    out: W,
    /// Output not yet ended by a newline, per step: printed when the line completes.
    partial: HashMap<StepId, Vec<u8>>,
}

impl<W: Write + Send> Plain<W> {
    /// A renderer writing to `out`.
    pub fn new(out: W) -> Self {
        Plain {
            state: Mutex::new(State {
                out,
                partial: HashMap::new(),
            }),
        }
    }

    /// Gives the writer back (tests read what was printed).
    #[cfg(test)]
    pub fn into_inner(self) -> W {
        self.state.into_inner().unwrap().out
    }
}

impl<W: Write + Send> State<W> {
    fn flush_partial(&mut self, id: StepId, elapsed: f64) {
        if let Some(rest) = self.partial.remove(&id) {
            if !rest.is_empty() {
                let _ = writeln!(
                    self.out,
                    "#{id} {elapsed:.3} {}",
                    String::from_utf8_lossy(&rest)
                );
            }
        }
    }
}

impl<W: Write + Send> Progress for Plain<W> {
    fn event(&self, event: Event<'_>) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        // Progress goes to stderr; a closed stderr must not fail the build, so errors are dropped.
        match event {
            Event::Started { id, name } => {
                let _ = writeln!(state.out, "#{id} {name}");
            }
            Event::Log {
                id, data, elapsed, ..
            } => {
                let secs = elapsed.as_secs_f64();
                let mut buffer = state.partial.remove(&id).unwrap_or_default();
                buffer.extend_from_slice(data);
                let mut start = 0;
                while let Some(pos) = buffer[start..].iter().position(|&b| b == b'\n') {
                    let line = String::from_utf8_lossy(&buffer[start..start + pos]).into_owned();
                    let _ = writeln!(state.out, "#{id} {secs:.3} {line}");
                    start += pos + 1;
                }
                buffer.drain(..start);
                state.partial.insert(id, buffer);
            }
            Event::Cached { id } => {
                let _ = writeln!(state.out, "#{id} CACHED\n");
            }
            Event::Done { id, elapsed } => {
                let secs = elapsed.as_secs_f64();
                state.flush_partial(id, secs);
                let _ = writeln!(state.out, "#{id} DONE {secs:.1}s\n");
            }
            Event::Failed { id, message } => {
                state.flush_partial(id, 0.0);
                let _ = writeln!(state.out, "#{id} ERROR: {message}\n");
            }
            Event::Note { message } => {
                let _ = writeln!(state.out, "{message}");
            }
            Event::Warning { message } => {
                let _ = writeln!(state.out, "WARNING: {message}");
            }
        }
        let _ = state.out.flush();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use strata_builder::progress::Stream;

    use super::*;

    #[test]
    fn prints_buildkit_style_lines_and_joins_partial_output() {
        let plain = Plain::new(Vec::new());
        plain.event(Event::Started {
            id: 1,
            name: "[1/2] RUN echo hi",
        });
        let log = |data: &'static [u8]| Event::Log {
            id: 1,
            stream: Stream::Stdout,
            data,
            elapsed: Duration::from_millis(120),
        };
        plain.event(log(b"hel"));
        plain.event(log(b"lo\nwor"));
        plain.event(log(b"ld"));
        plain.event(Event::Done {
            id: 1,
            elapsed: Duration::from_millis(1250),
        });
        plain.event(Event::Started {
            id: 2,
            name: "[2/2] COPY a /a",
        });
        plain.event(Event::Cached { id: 2 });
        let text = String::from_utf8(plain.into_inner()).unwrap();
        assert_eq!(
            text,
            "#1 [1/2] RUN echo hi\n#1 0.120 hello\n#1 1.250 world\n#1 DONE 1.2s\n\n\
             #2 [2/2] COPY a /a\n#2 CACHED\n\n"
        );
    }
}
