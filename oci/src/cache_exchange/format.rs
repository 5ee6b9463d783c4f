//! strata's cache export format: an OCI image manifest whose config blob lists step records
//! and whose layers are the gzip layer blobs those records name.
//!
//! ```text
//! manifest  application/vnd.oci.image.manifest.v1+json
//!   config  application/vnd.strata.cache.config.v1+json   {"keys", "layers", "steps"}
//!   layers  application/vnd.oci.image.layer.v1.tar+gzip   one per distinct layer
//! ```
//!
//! The keys are strata's own (`strata-cachekey-v1`): they cannot be shared with BuildKit's
//! cache, whose keys are computed differently. Any OCI registry stores this (it is an ordinary
//! image manifest with an unknown config type), and an OCI layout dir holds it as is.
//!
//! Versioning: the media type carries the format version (`…config.v1+json`); bump it when a
//! v1 reader would misread a new file. Adding an optional field that old readers ignore needs
//! no bump. `keys` names the cache-key scheme: records of another scheme are never looked at.

use serde::{Deserialize, Serialize};
use strata_cache::Digest;

use crate::image::manifest::{self, Desc, OCI_MANIFEST};
use crate::layer::Compression;

/// The cache config's media type.
pub(super) const CACHE_CONFIG_MEDIA_TYPE: &str = "application/vnd.strata.cache.config.v1+json";

/// The cache-key scheme these records were computed with (the builder's key prefix).
pub(super) const KEY_SCHEME: &str = "strata-cachekey-v1";

/// The config blob: what each cached step produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct CacheConfig {
    /// The cache-key scheme ([`KEY_SCHEME`]).
    pub keys: String,
    /// The layers, in the manifest's layer order.
    pub layers: Vec<CacheLayer>,
    /// The step records.
    pub steps: Vec<CacheStep>,
}

/// One layer of the cache: the manifest's layer at the same index holds its gzip blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct CacheLayer {
    /// sha256 of the uncompressed tar.
    pub diff_id: Digest,
    /// Size of the uncompressed tar.
    pub size: u64,
}

/// One cached step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct CacheStep {
    /// The step's cache key.
    pub key: Digest,
    /// Index into `layers` of the layer it added; `None` for a step that changed no file.
    pub layer: Option<usize>,
    /// When the step first ran (unix seconds): the image's history `created` for it, so a hit
    /// reproduces the image digest of the build that exported it.
    pub created: i64,
}

/// A parsed, checked cache: config plus the blob of each layer.
#[derive(Debug, Clone)]
pub(super) struct CacheContents {
    /// The config.
    pub config: CacheConfig,
    /// The gzip blob of `config.layers[i]`.
    pub blobs: Vec<Desc>,
}

/// The manifest bytes for a config blob and layer blobs (deterministic: fields in a fixed order).
pub(super) fn manifest_bytes(config: &Desc, layers: &[Desc]) -> Vec<u8> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Descriptor<'a> {
        media_type: &'a str,
        digest: String,
        size: u64,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Manifest<'a> {
        schema_version: u32,
        media_type: &'a str,
        config: Descriptor<'a>,
        layers: Vec<Descriptor<'a>>,
    }
    let descriptor = |d: &'_ Desc| Descriptor {
        media_type: "",
        digest: d.digest.to_string(),
        size: d.size,
    };
    let mut config_desc = descriptor(config);
    config_desc.media_type = CACHE_CONFIG_MEDIA_TYPE;
    let manifest = Manifest {
        schema_version: 2,
        media_type: OCI_MANIFEST,
        config: config_desc,
        layers: layers
            .iter()
            .map(|l| Descriptor {
                media_type: manifest::layer_media_type(Some(Compression::Gzip)),
                ..descriptor(l)
            })
            .collect(),
    };
    serde_json::to_vec(&manifest).expect("manifests serialise")
}

/// The config blob's bytes.
pub(super) fn config_bytes(config: &CacheConfig) -> Vec<u8> {
    serde_json::to_vec(config).expect("cache configs serialise")
}

/// Reads a cache manifest: checks it is one of strata's, returns the config's descriptor and
/// the layer blobs.
pub(super) fn parse_manifest(bytes: &[u8]) -> std::result::Result<(Desc, Vec<Desc>), String> {
    let parsed = manifest::parse_manifest(bytes).map_err(|e| e.to_string())?;
    if parsed.config.media_type != CACHE_CONFIG_MEDIA_TYPE {
        return Err(format!(
            "not a strata build cache: the config's media type is `{}`, expected `{CACHE_CONFIG_MEDIA_TYPE}` (strata cannot read BuildKit's cache, nor BuildKit strata's)",
            parsed.config.media_type
        ));
    }
    for layer in &parsed.layers {
        if manifest::layer_compression(&layer.media_type) != Some(Some(Compression::Gzip)) {
            return Err(format!(
                "layer {} has media type `{}`, expected a gzip layer",
                layer.digest, layer.media_type
            ));
        }
    }
    Ok((parsed.config, parsed.layers))
}

/// Reads the config blob (already digest-checked) against the manifest's layers. `Ok(None)`
/// when the records use another key scheme (they could never match).
pub(super) fn parse_config(
    bytes: &[u8],
    blobs: Vec<Desc>,
) -> std::result::Result<Option<CacheContents>, String> {
    let config: CacheConfig =
        serde_json::from_slice(bytes).map_err(|e| format!("cache config: {e}"))?;
    if config.keys != KEY_SCHEME {
        return Ok(None);
    }
    if config.layers.len() != blobs.len() {
        return Err(format!(
            "cache config lists {} layers but the manifest {}",
            config.layers.len(),
            blobs.len()
        ));
    }
    if let Some(step) = config
        .steps
        .iter()
        .find(|s| s.layer.is_some_and(|l| l >= config.layers.len()))
    {
        return Err(format!(
            "cache step {} names layer {} of {}",
            step.key,
            step.layer.unwrap_or_default(),
            config.layers.len()
        ));
    }
    Ok(Some(CacheContents { config, blobs }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(data: &[u8]) -> Desc {
        Desc {
            media_type: String::new(),
            digest: Digest::of(data),
            size: data.len() as u64,
        }
    }

    #[test]
    fn a_cache_round_trips_and_others_are_refused() {
        let config = CacheConfig {
            keys: KEY_SCHEME.into(),
            layers: vec![CacheLayer {
                diff_id: Digest::of(b"tar"),
                size: 3,
            }],
            steps: vec![
                CacheStep {
                    key: Digest::of(b"k1"),
                    layer: Some(0),
                    created: 7,
                },
                CacheStep {
                    key: Digest::of(b"k2"),
                    layer: None,
                    created: 8,
                },
            ],
        };
        let config_json = config_bytes(&config);
        let bytes = manifest_bytes(&desc(&config_json), &[desc(b"gz")]);
        assert_eq!(bytes, manifest_bytes(&desc(&config_json), &[desc(b"gz")]));
        let (config_desc, layers) = parse_manifest(&bytes).unwrap();
        assert_eq!(config_desc.digest, Digest::of(&config_json));
        let contents = parse_config(&config_json, layers).unwrap().unwrap();
        assert_eq!(contents.config, config);
        assert_eq!(contents.blobs[0].digest, Digest::of(b"gz"));

        // An image manifest is not a cache.
        let image = manifest::build_manifest(
            &Desc {
                media_type: "application/vnd.oci.image.config.v1+json".into(),
                ..desc(b"c")
            },
            &[],
        )
        .unwrap();
        assert!(parse_manifest(&image)
            .unwrap_err()
            .contains("not a strata build cache"));
        // A step naming a layer that is not there, or a count mismatch, is corrupt.
        let mut broken = config.clone();
        broken.steps[0].layer = Some(3);
        assert!(parse_config(&config_bytes(&broken), vec![desc(b"gz")]).is_err());
        assert!(parse_config(&config_json, vec![]).is_err());
        // Another key scheme: nothing to use, no error.
        let mut other = config;
        other.keys = "strata-cachekey-v0".into();
        assert!(parse_config(&config_bytes(&other), vec![desc(b"gz")])
            .unwrap()
            .is_none());
    }
}
