//! Image assembly: the target stage's config, history and layers, once the solver has built
//! its filesystem, written to the store as an image.
//!
//! Kept out of the solver because it is about the image format, not about scheduling: the
//! history follows docker's rules (a base image's history first, then one entry per
//! instruction of every stage the target is built `FROM`, `empty_layer` where an instruction
//! made no layer), and the `created` times come from when each step first ran — or all from
//! `SOURCE_DATE_EPOCH`, so that a reproducible build makes the same image.

use strata_cache::{Digest, Store};
use strata_frontend::graph::{Graph, Op, VertexId};

use crate::error::{Error, Result};
use strata_oci::image::{self, config as image_config, StoredImage};

/// What the solver knows of the built target.
pub struct Built<'a> {
    /// The compiled Dockerfile.
    pub graph: &'a Graph,
    /// The target's DiffIDs, bottom first.
    pub diff_ids: &'a [Digest],
    /// When each filesystem step of the target's chain first ran (vertex → unix secs).
    pub created: &'a [(VertexId, i64)],
    /// Whether a vertex made a layer.
    pub made_layer: &'a dyn Fn(VertexId) -> bool,
    /// `--label`s added to the config.
    pub labels: &'a [(String, String)],
    /// `SOURCE_DATE_EPOCH`: every `created` time, when set.
    pub source_date_epoch: Option<i64>,
}

/// Writes the target stage's image: config (with history), manifest, blobs.
pub fn assemble(store: &Store, built: &Built<'_>) -> Result<StoredImage> {
    let graph = built.graph;
    let epoch = built.source_date_epoch;
    let chain = stage_chain(graph);
    let base_stage = &graph.stages[*chain.last().expect("at least the target")];
    let mut history = match &graph.vertices[base_stage.base].op {
        Op::Image { reference, .. } => match image::find(store, reference)? {
            Some(base) => image_config::history_of(&base.config),
            None => Vec::new(),
        },
        _ => Vec::new(),
    };
    let created_of = |id: VertexId| {
        built
            .created
            .iter()
            .find(|(v, _)| *v == id)
            .map(|(_, c)| *c)
    };
    let mut last_created = history
        .last()
        .map(|h| h.created.clone())
        .unwrap_or_else(|| image_config::rfc3339(epoch.unwrap_or(0)));
    for stage_index in chain.iter().rev() {
        for (entry, vertex) in &graph.stages[*stage_index].history {
            let (created, empty) = match vertex {
                Some(v) => {
                    let created = created_of(*v)
                        .map(image_config::rfc3339)
                        .unwrap_or_else(|| last_created.clone());
                    (created, !(built.made_layer)(*v))
                }
                None => (last_created.clone(), true),
            };
            last_created = created.clone();
            history.push(image_config::History {
                created,
                created_by: entry.created_by.clone(),
                empty_layer: empty,
                comment: Some("buildkit.dockerfile.v0".into()),
            });
        }
    }
    let mut config = graph.target_stage().config.clone();
    for (key, value) in built.labels {
        config.labels.insert(key.clone(), value.clone());
    }
    let created = match epoch {
        Some(e) => image_config::rfc3339(e),
        None => last_created,
    };
    let json = image_config::to_json(&image_config::ConfigParts {
        config: &config,
        diff_ids: built.diff_ids,
        history: &history,
        created: &created,
    });
    let mut layers = Vec::new();
    for diff_id in built.diff_ids {
        let record = store
            .index()
            .layer(diff_id)?
            .ok_or(Error::LayerRecordMissing { diff_id: *diff_id })?;
        layers.push((*diff_id, record.size));
    }
    Ok(image::store_image(store, &json, &layers)?)
}

/// The target stage and the stages it is built `FROM`, target first: the image's history is
/// theirs, base first.
fn stage_chain(graph: &Graph) -> Vec<usize> {
    let mut chain = Vec::new();
    let mut stage_index = graph.target;
    loop {
        chain.push(stage_index);
        let stage = &graph.stages[stage_index];
        match graph.stages.iter().position(|s| s.last == stage.base) {
            Some(base_stage) if base_stage != stage_index => stage_index = base_stage,
            _ => break,
        }
    }
    chain
}
