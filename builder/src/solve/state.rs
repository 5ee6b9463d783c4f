//! What the scheduler knows of an evaluated vertex: its cache key and the layers of its
//! filesystem. A state is all an op sees of its inputs, and all a cache hit needs to stand in
//! for a step that did not run: no files, only digests.

use sha2::{Digest as _, Sha256};
use strata_cache::Digest;
use strata_frontend::graph::VertexId;

/// The filesystem state after a vertex.
#[derive(Debug, Clone)]
pub(crate) struct State {
    /// The cache key of the vertex (a metadata vertex keeps the one below it: ENV changes
    /// what later steps mean through their definition digests, not through the files).
    pub key: Digest,
    /// DiffIDs, bottom first.
    pub layers: Vec<Digest>,
    /// `created` of each filesystem step so far (vertex → unix secs), for history.
    pub created: Vec<(VertexId, i64)>,
    /// Whether this vertex made a layer (history's `empty_layer` is its negation).
    pub made_layer: bool,
}

impl State {
    /// A state at the root of a chain: nothing below it was built by this build.
    pub fn root(key: Digest, layers: Vec<Digest>) -> State {
        State {
            key,
            layers,
            created: Vec::new(),
            made_layer: false,
        }
    }

    /// The state after the filesystem step `id` (keyed `key`) on top of this one, whether it
    /// ran or was answered from a cache.
    pub fn after(&self, id: VertexId, key: Digest, diff_id: Option<Digest>, created: i64) -> State {
        let mut state = self.clone();
        state.key = key;
        state.made_layer = diff_id.is_some();
        if let Some(diff_id) = diff_id {
            state.layers.push(diff_id);
        }
        state.created.push((id, created));
        state
    }

    /// The same files under a vertex that changes only the image config.
    pub fn unchanged(&self) -> State {
        State {
            made_layer: false,
            ..self.clone()
        }
    }
}

/// A cache key: SHA-256 over the length-prefixed parts, after a version tag. Bump the tag
/// (`strata-cachekey-v2`) when the parts of any op's key change meaning: every stored step
/// record then misses once instead of answering for different work.
pub(crate) fn cache_key(parts: &[&[u8]]) -> Digest {
    let mut hasher = Sha256::new();
    hasher.update(b"strata-cachekey-v1");
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    Digest::from_bytes(hasher.finalize().into())
}
