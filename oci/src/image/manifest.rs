//! Manifests and indexes through `oci-spec`: reading what other tools wrote (OCI and docker
//! media types alike), and writing strata's own manifests.
//!
//! Index JSON that carries annotations is written by hand elsewhere (`archive::save`): `oci-spec`
//! keeps annotations in a `HashMap`, whose order would make the bytes differ from run to run.

use std::collections::BTreeMap;
use std::str::FromStr;

use oci_spec::image::{
    DescriptorBuilder, ImageIndex, ImageManifest, ImageManifestBuilder, MediaType,
};
use strata_cache::Digest;

use crate::error::{Error, Result};
use crate::layer::Compression;

/// The OCI manifest media type.
pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The OCI index media type.
pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker's schema 2 manifest media type.
pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker's manifest list media type.
pub(crate) const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// One descriptor, with the digest in strata's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Desc {
    /// The media type as written.
    pub media_type: String,
    /// The content's digest.
    pub digest: Digest,
    /// The content's size.
    pub size: u64,
}

/// A manifest's parts strata uses.
#[derive(Debug, Clone)]
pub(crate) struct Manifest {
    /// The manifest's own media type (OCI when it does not say).
    pub media_type: String,
    /// The config blob.
    pub config: Desc,
    /// The layer blobs, bottom first.
    pub layers: Vec<Desc>,
}

/// One entry of an image index.
#[derive(Debug, Clone)]
pub(crate) struct IndexEntry {
    /// What it points at.
    pub desc: Desc,
    /// `os/architecture[/variant]`, when the entry says.
    pub platform: Option<String>,
    /// Its annotations, sorted.
    pub annotations: BTreeMap<String, String>,
}

fn bad(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Image {
        reason: format!("{what}: {e}"),
    }
}

fn desc_of(what: &str, d: &oci_spec::image::Descriptor) -> Result<Desc> {
    let digest = d
        .digest()
        .to_string()
        .parse::<Digest>()
        .map_err(|e| bad(what, e))?;
    Ok(Desc {
        media_type: d.media_type().to_string(),
        digest,
        size: d.size(),
    })
}

/// True for the media types of an image index or docker manifest list.
pub(crate) fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_LIST
}

/// Parses a manifest (OCI or docker schema 2).
pub(crate) fn parse_manifest(bytes: &[u8]) -> Result<Manifest> {
    let manifest = ImageManifest::from_reader(bytes).map_err(|e| bad("manifest", e))?;
    if manifest.schema_version() != 2 {
        return Err(bad("manifest", "schema version is not 2"));
    }
    Ok(Manifest {
        media_type: manifest
            .media_type()
            .as_ref()
            .map_or_else(|| OCI_MANIFEST.to_string(), |m| m.to_string()),
        config: desc_of("manifest config", manifest.config())?,
        layers: manifest
            .layers()
            .iter()
            .map(|l| desc_of("manifest layer", l))
            .collect::<Result<_>>()?,
    })
}

/// Why bytes are not a manifest (or index) strata can read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ManifestError {
    /// The bytes do not parse as JSON.
    #[error("not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    /// Docker's schema 1, which registries stopped serving years ago.
    #[error("docker schema 1 manifests are not supported")]
    SchemaOne,
    /// JSON without a media type, `manifests` or `config`.
    #[error("neither an image manifest nor an index")]
    Unrecognised,
}

/// A manifest's media type: its `mediaType`, else an index when it lists `manifests`, else
/// an OCI manifest. Schema 1 manifests are refused.
pub(crate) fn media_type_of(bytes: &[u8]) -> std::result::Result<String, ManifestError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(ManifestError::NotJson)?;
    if value["schemaVersion"].as_i64() == Some(1) {
        return Err(ManifestError::SchemaOne);
    }
    if let Some(media_type) = value["mediaType"].as_str().filter(|m| !m.is_empty()) {
        return Ok(media_type.to_string());
    }
    if value.get("manifests").is_some() {
        Ok(OCI_INDEX.to_string())
    } else if value.get("config").is_some() {
        Ok(OCI_MANIFEST.to_string())
    } else {
        Err(ManifestError::Unrecognised)
    }
}

/// Parses an image index (OCI or docker manifest list).
pub(crate) fn parse_index(bytes: &[u8]) -> Result<Vec<IndexEntry>> {
    let index = ImageIndex::from_reader(bytes).map_err(|e| bad("index", e))?;
    index
        .manifests()
        .iter()
        .map(|d| {
            let platform = d.platform().as_ref().map(|p| {
                let mut text = format!("{}/{}", p.os(), p.architecture());
                if let Some(variant) = p.variant() {
                    text.push('/');
                    text.push_str(variant);
                }
                text
            });
            Ok(IndexEntry {
                desc: desc_of("index entry", d)?,
                platform,
                annotations: d
                    .annotations()
                    .iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            })
        })
        .collect()
}

/// The layer compression a media type says: `Some(None)` for a plain tar, `None` when the
/// type is not a layer type strata knows.
pub(crate) fn layer_compression(media_type: &str) -> Option<Option<Compression>> {
    if media_type.ends_with("+gzip") || media_type.ends_with(".tar.gzip") {
        Some(Some(Compression::Gzip))
    } else if media_type.ends_with("+zstd") || media_type.ends_with(".tar.zstd") {
        Some(Some(Compression::Zstd))
    } else if media_type.ends_with(".tar") || media_type.ends_with(".diff.tar") {
        Some(None)
    } else {
        None
    }
}

/// The OCI layer media type for a compression.
pub(crate) fn layer_media_type(compression: Option<Compression>) -> &'static str {
    match compression {
        None => "application/vnd.oci.image.layer.v1.tar",
        Some(Compression::Gzip) => "application/vnd.oci.image.layer.v1.tar+gzip",
        Some(Compression::Zstd) => "application/vnd.oci.image.layer.v1.tar+zstd",
    }
}

/// The platform this machine runs, as `os/architecture` in Go's names.
pub(crate) fn host_platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "arm" => "arm",
        other => other,
    };
    format!("linux/{arch}")
}

fn oci_descriptor(media_type: MediaType, desc: &Desc) -> Result<oci_spec::image::Descriptor> {
    DescriptorBuilder::default()
        .media_type(media_type)
        .digest(
            oci_spec::image::Digest::from_str(&desc.digest.to_string())
                .map_err(|e| bad("descriptor", e))?,
        )
        .size(desc.size)
        .build()
        .map_err(|e| bad("descriptor", e))
}

/// The bytes of an OCI manifest for a config and layers (deterministic: no maps inside).
pub(crate) fn build_manifest(config: &Desc, layers: &[Desc]) -> Result<Vec<u8>> {
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(oci_descriptor(MediaType::ImageConfig, config)?)
        .layers(
            layers
                .iter()
                .map(|l| oci_descriptor(MediaType::from(l.media_type.as_str()), l))
                .collect::<Result<Vec<_>>>()?,
        )
        .build()
        .map_err(|e| bad("manifest", e))?;
    manifest
        .to_string()
        .map(String::into_bytes)
        .map_err(|e| bad("manifest", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_are_read_or_inferred() {
        assert_eq!(
            media_type_of(br#"{"mediaType":"x","config":{}}"#).unwrap(),
            "x"
        );
        assert_eq!(media_type_of(br#"{"manifests":[]}"#).unwrap(), OCI_INDEX);
        assert_eq!(media_type_of(br#"{"config":{}}"#).unwrap(), OCI_MANIFEST);
        assert!(matches!(
            media_type_of(br#"{"schemaVersion":1}"#),
            Err(ManifestError::SchemaOne)
        ));
        assert!(matches!(
            media_type_of(b"{"),
            Err(ManifestError::NotJson(_))
        ));
    }

    #[test]
    fn manifests_round_trip_and_docker_types_read() {
        let config = Desc {
            media_type: "application/vnd.oci.image.config.v1+json".into(),
            digest: Digest::of(b"config"),
            size: 6,
        };
        let layer = Desc {
            media_type: layer_media_type(Some(Compression::Gzip)).into(),
            digest: Digest::of(b"layer"),
            size: 5,
        };
        let bytes = build_manifest(&config, std::slice::from_ref(&layer)).unwrap();
        assert_eq!(
            bytes,
            build_manifest(&config, std::slice::from_ref(&layer)).unwrap()
        );
        let parsed = parse_manifest(&bytes).unwrap();
        assert_eq!(parsed.media_type, OCI_MANIFEST);
        assert_eq!(parsed.config.digest, config.digest);
        assert_eq!(parsed.layers, vec![layer]);
        let docker = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":6,"digest":"{}"}},"layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":5,"digest":"{}"}}]}}"#,
            config.digest,
            Digest::of(b"layer")
        );
        let parsed = parse_manifest(docker.as_bytes()).unwrap();
        assert_eq!(parsed.media_type, DOCKER_MANIFEST);
        assert_eq!(
            layer_compression(&parsed.layers[0].media_type),
            Some(Some(Compression::Gzip))
        );
        assert_eq!(
            layer_compression("application/vnd.oci.image.layer.v1.tar"),
            Some(None)
        );
        assert_eq!(layer_compression("application/x-unknown"), None);
        assert!(parse_manifest(br#"{"schemaVersion":2}"#).is_err());
    }

    #[test]
    fn indexes_give_platforms_and_annotations() {
        let index = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","size":1,"digest":"{}","platform":{{"os":"linux","architecture":"arm64","variant":"v8"}},"annotations":{{"b":"2","a":"1"}}}}]}}"#,
            Digest::of(b"m")
        );
        let entries = parse_index(index.as_bytes()).unwrap();
        assert_eq!(entries[0].platform.as_deref(), Some("linux/arm64/v8"));
        assert_eq!(
            entries[0].annotations.keys().collect::<Vec<_>>(),
            vec!["a", "b"]
        );
    }
}
