//! A live view for terminals: one spinner line per running step with its timer; finished steps
//! and command output scroll above them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use strata_builder::progress::{Event, Progress, StepId};

/// The terminal renderer.
pub struct Tty {
    bars: MultiProgress,
    running: Mutex<HashMap<StepId, (ProgressBar, String)>>,
}

impl Tty {
    /// A renderer drawing on stderr.
    pub fn new() -> Self {
        Tty {
            bars: MultiProgress::new(),
            running: Mutex::new(HashMap::new()),
        }
    }

    fn finish(&self, id: StepId, suffix: &str) {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((bar, name)) = running.remove(&id) {
            bar.finish_and_clear();
            let _ = self.bars.println(format!("=> {name} {suffix}"));
        }
    }
}

impl Progress for Tty {
    fn event(&self, event: Event<'_>) {
        match event {
            Event::Started { id, name } => {
                let bar = self.bars.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {msg} {elapsed:>4}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_message(name.to_string());
                bar.enable_steady_tick(Duration::from_millis(100));
                let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
                running.insert(id, (bar, name.to_string()));
            }
            Event::Log { data, .. } => {
                for line in String::from_utf8_lossy(data).lines() {
                    let _ = self.bars.println(format!("   {line}"));
                }
            }
            Event::Cached { id } => self.finish(id, "CACHED"),
            Event::Done { id, elapsed } => {
                self.finish(id, &format!("{:.1}s", elapsed.as_secs_f64()))
            }
            Event::Failed { id, message } => self.finish(id, &format!("ERROR: {message}")),
            Event::Note { message } => {
                let _ = self.bars.println(message);
            }
            Event::Warning { message } => {
                let _ = self.bars.println(format!("WARNING: {message}"));
            }
        }
    }
}
