//! The mutable state of a stage while its instructions are dispatched.
//!
//! BuildKit keeps two environments per stage, and so does this: the image config's `Env`
//! (what ENV sets, what the image ships) and the build state's environment (the image's, plus
//! every ARG with a value, in order: a later ARG or ENV of the same name wins). Words are
//! expanded and RUN executes with the second one; only the first is written to the image.

use crate::config::{HistoryEntry, ImageConfig};
use crate::graph::VertexId;

/// What a stage built on another stage inherits (BuildKit's `dispatchState.init`).
#[derive(Debug, Clone)]
pub(super) struct Inherited {
    pub config: ImageConfig,
    pub env: Vec<(String, String)>,
    pub build_args: Vec<(String, Option<String>)>,
    pub last: VertexId,
}

/// A stage being compiled.
pub(super) struct StageState {
    /// The image config so far.
    pub config: ImageConfig,
    /// The build environment (see the module doc).
    pub env: Vec<(String, String)>,
    /// ARGs declared in this stage or its base stages, in order, with their values.
    pub build_args: Vec<(String, Option<String>)>,
    /// Whether CMD was set in this stage (a later ENTRYPOINT then keeps it).
    pub cmd_set: bool,
    /// The stage's last vertex.
    pub last: VertexId,
    /// History entries this stage adds.
    pub history: Vec<(HistoryEntry, Option<VertexId>)>,
    /// Stage name in progress lines (may be empty).
    pub display: String,
    /// Steps named so far and in total.
    pub step: usize,
    pub total: usize,
    /// Whether the instruction being dispatched is an inherited ONBUILD trigger.
    pub in_trigger: bool,
}

impl StageState {
    /// Sets a variable of the build environment, in place when it exists.
    pub fn set_env(&mut self, key: &str, value: &str) {
        set(&mut self.env, key, value);
    }

    /// The progress name of the next step, as BuildKit's `prefixCommand`:
    /// `[stage  3/12] ONBUILD RUN make` (the number padded to the width of the total).
    pub fn step_name(&mut self, text: &str) -> String {
        if self.total == 0 {
            return text.to_string();
        }
        self.step += 1;
        let width = self.total.to_string().len();
        let stage = if self.display.is_empty() {
            String::new()
        } else {
            format!("{} ", self.display)
        };
        let onbuild = if self.in_trigger { "ONBUILD " } else { "" };
        format!(
            "[{stage}{:>width$}/{}] {onbuild}{text}",
            self.step, self.total
        )
    }

    /// Records a history entry; `layer` is the vertex that made a layer (`None` for
    /// config-only steps).
    pub fn record(&mut self, created_by: String, layer: Option<VertexId>) {
        self.history.push((
            HistoryEntry {
                created_by,
                empty_layer: layer.is_none(),
            },
            layer,
        ));
    }
}

/// Sets `key` in an ordered environment, in place when it exists.
pub(super) fn set(env: &mut Vec<(String, String)>, key: &str, value: &str) {
    match env.iter_mut().find(|(k, _)| k == key) {
        Some(entry) => entry.1 = value.to_string(),
        None => env.push((key.to_string(), value.to_string())),
    }
}
