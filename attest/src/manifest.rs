//! Attestation manifests: how statements ride along with an image in its index, laid out as
//! BuildKit's image exporter writes them (`docs/attestations/attestation-storage.md`).
//!
//! Each statement is one layer (`application/vnd.in-toto+json`, annotated with its
//! `in-toto.io/predicate-type`) of an image manifest; the image index lists that manifest after
//! the runnable ones, with platform `unknown/unknown` (so no runtime picks it) and the
//! annotations `vnd.docker.reference.type=attestation-manifest` and
//! `vnd.docker.reference.digest=<the image manifest it is about>`.
//!
//! Everything here is pure: it returns the blobs' bytes and descriptors; the caller writes them
//! to the store and adds [`AttestationManifest::index_entry`] to the index.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::intoto::{predicate_type, sha256_digest};

/// An OCI image manifest.
pub const MEDIA_TYPE_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// An OCI image config.
pub const MEDIA_TYPE_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// The OCI empty JSON blob (`{}`), the config of artifacts that need none.
pub const MEDIA_TYPE_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// An in-toto statement layer.
pub const MEDIA_TYPE_IN_TOTO: &str = "application/vnd.in-toto+json";
/// The `artifactType` BuildKit gives attestation manifests stored as OCI artifacts.
pub const ARTIFACT_TYPE_ATTESTATION: &str = "application/vnd.docker.attestation.manifest.v1+json";
/// Layer annotation: the predicate type of the statement inside.
pub const ANNOTATION_PREDICATE_TYPE: &str = "in-toto.io/predicate-type";
/// Index entry annotation: what kind of reference the entry is.
pub const ANNOTATION_REFERENCE_TYPE: &str = "vnd.docker.reference.type";
/// Index entry annotation: the digest of the manifest the entry refers to.
pub const ANNOTATION_REFERENCE_DIGEST: &str = "vnd.docker.reference.digest";
/// The [`ANNOTATION_REFERENCE_TYPE`] of attestation manifests.
pub const REFERENCE_TYPE_ATTESTATION: &str = "attestation-manifest";

/// The digest of the OCI empty JSON blob `{}`.
const EMPTY_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

/// An OCI content descriptor, serialized with the OCI field names (so it converts to any OCI
/// library's descriptor through serde).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    /// What the blob is.
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// `sha256:<hex>` of its bytes.
    pub digest: String,
    /// Its length in bytes.
    pub size: u64,
    /// Extra facts about it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The blob itself, base64, for tiny blobs (the empty config).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// The platform of a manifest in an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

impl Descriptor {
    /// A descriptor with no annotations, data or platform.
    pub fn new(media_type: &str, digest: String, size: u64) -> Self {
        Descriptor {
            media_type: media_type.to_string(),
            digest,
            size,
            annotations: BTreeMap::new(),
            data: None,
            platform: None,
        }
    }

    /// The descriptor of some bytes.
    fn of(media_type: &str, bytes: &[u8]) -> Self {
        Descriptor::new(media_type, sha256_digest(bytes), bytes.len() as u64)
    }
}

/// An index entry's platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture (`unknown` for attestations).
    pub architecture: String,
    /// Operating system (`unknown` for attestations).
    pub os: String,
}

/// An OCI image manifest, fields in the order the Go image-spec types marshal them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always 2.
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    /// [`MEDIA_TYPE_OCI_MANIFEST`].
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// [`ARTIFACT_TYPE_ATTESTATION`] in the OCI artifact layout.
    #[serde(
        rename = "artifactType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub artifact_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// One in-toto statement per layer.
    pub layers: Vec<Descriptor>,
    /// The image manifest attested, in the OCI artifact layout (registries with the referrers
    /// API index it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
}

/// How the attestation manifest is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// As BuildKit writes by default since its attestations became OCI artifacts:
    /// `artifactType`, a `subject`, and the empty config.
    #[default]
    OciArtifact,
    /// BuildKit's older layout (`oci-artifact=false`), for registries and tools that predate
    /// OCI 1.1: a placeholder image config (platform `unknown/unknown`, the layers as DiffIDs)
    /// and no subject.
    ImageConfig,
}

/// One blob to store: its descriptor and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// What to reference it by.
    pub descriptor: Descriptor,
    /// Its content.
    pub bytes: Vec<u8>,
}

/// Everything that attaches statements to one image manifest.
#[derive(Debug, Clone)]
pub struct AttestationManifest {
    /// The statements, one blob each, in the order given.
    pub layers: Vec<Blob>,
    /// The manifest's config (the empty `{}` blob, or the placeholder image config).
    pub config: Blob,
    /// The attestation manifest.
    pub manifest: Blob,
    /// The entry to append to the image index, after the image manifests.
    pub index_entry: Descriptor,
}

impl AttestationManifest {
    /// Every blob to write, layers and config before the manifest that names them.
    pub fn blobs(&self) -> impl Iterator<Item = &Blob> {
        self.layers
            .iter()
            .chain(std::iter::once(&self.config))
            .chain(std::iter::once(&self.manifest))
    }
}

/// Builds the attestation manifest for `statements` (serialized in-toto statements) about the
/// image manifest `subject`.
pub fn attestation_manifest(
    statements: &[Vec<u8>],
    subject: &Descriptor,
    layout: Layout,
) -> Result<AttestationManifest> {
    let mut layers = Vec::with_capacity(statements.len());
    for statement in statements {
        let mut descriptor = Descriptor::of(MEDIA_TYPE_IN_TOTO, statement);
        descriptor.annotations.insert(
            ANNOTATION_PREDICATE_TYPE.to_string(),
            predicate_type(statement)?,
        );
        layers.push(Blob {
            descriptor,
            bytes: statement.clone(),
        });
    }
    let config = match layout {
        Layout::OciArtifact => Blob {
            descriptor: Descriptor {
                data: Some("e30=".to_string()),
                ..Descriptor::new(MEDIA_TYPE_EMPTY, EMPTY_DIGEST.to_string(), 2)
            },
            bytes: b"{}".to_vec(),
        },
        Layout::ImageConfig => {
            let bytes = serde_json::to_vec(&serde_json::json!({
                "architecture": "unknown",
                "os": "unknown",
                "config": {},
                "rootfs": {
                    "type": "layers",
                    "diff_ids": layers.iter().map(|l| &l.descriptor.digest).collect::<Vec<_>>(),
                },
            }))?;
            Blob {
                descriptor: Descriptor::of(MEDIA_TYPE_OCI_CONFIG, &bytes),
                bytes,
            }
        }
    };
    let artifact = layout == Layout::OciArtifact;
    let manifest = Manifest {
        schema_version: 2,
        media_type: MEDIA_TYPE_OCI_MANIFEST.to_string(),
        artifact_type: artifact.then(|| ARTIFACT_TYPE_ATTESTATION.to_string()),
        config: config.descriptor.clone(),
        layers: layers.iter().map(|l| l.descriptor.clone()).collect(),
        subject: artifact
            .then(|| Descriptor::new(&subject.media_type, subject.digest.clone(), subject.size)),
    };
    let bytes = serde_json::to_vec_pretty(&manifest)?;
    let mut index_entry = Descriptor::of(MEDIA_TYPE_OCI_MANIFEST, &bytes);
    index_entry.annotations = BTreeMap::from([
        (
            ANNOTATION_REFERENCE_DIGEST.to_string(),
            subject.digest.clone(),
        ),
        (
            ANNOTATION_REFERENCE_TYPE.to_string(),
            REFERENCE_TYPE_ATTESTATION.to_string(),
        ),
    ]);
    index_entry.platform = Some(Platform {
        architecture: "unknown".to_string(),
        os: "unknown".to_string(),
    });
    Ok(AttestationManifest {
        layers,
        config,
        manifest: Blob {
            descriptor: Descriptor::of(MEDIA_TYPE_OCI_MANIFEST, &bytes),
            bytes,
        },
        index_entry,
    })
}

/// When an index entry is an attestation manifest, the digest of the manifest it attests.
pub fn attested_digest(entry: &Descriptor) -> Option<&str> {
    (entry.annotations.get(ANNOTATION_REFERENCE_TYPE)?.as_str() == REFERENCE_TYPE_ATTESTATION)
        .then(|| entry.annotations.get(ANNOTATION_REFERENCE_DIGEST))
        .flatten()
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::intoto::{statement, Subject};

    fn image() -> Descriptor {
        Descriptor::new(MEDIA_TYPE_OCI_MANIFEST, sha256_digest(b"image"), 5)
    }

    fn statements() -> Vec<Vec<u8>> {
        let subjects = Subject::for_image(&[], "linux/amd64", &image().digest).unwrap();
        vec![
            statement("https://spdx.dev/Document", subjects.clone(), json!({})).unwrap(),
            statement("https://slsa.dev/provenance/v1", subjects, json!({})).unwrap(),
        ]
    }

    #[test]
    fn oci_artifact_layout_matches_buildkit() {
        let attached = attestation_manifest(&statements(), &image(), Layout::OciArtifact).unwrap();
        let manifest: Value = serde_json::from_slice(&attached.manifest.bytes).unwrap();
        assert_eq!(manifest["schemaVersion"], 2);
        assert_eq!(manifest["mediaType"], MEDIA_TYPE_OCI_MANIFEST);
        assert_eq!(
            manifest["artifactType"],
            "application/vnd.docker.attestation.manifest.v1+json"
        );
        assert_eq!(
            manifest["config"],
            json!({"mediaType": "application/vnd.oci.empty.v1+json", "digest": EMPTY_DIGEST,
                   "size": 2, "data": "e30="})
        );
        assert_eq!(attached.config.descriptor.digest, sha256_digest(b"{}"));
        assert_eq!(
            manifest["subject"],
            json!({"mediaType": MEDIA_TYPE_OCI_MANIFEST, "digest": image().digest, "size": 5})
        );
        let layers = manifest["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 2);
        assert_eq!(layers[0]["mediaType"], "application/vnd.in-toto+json");
        assert_eq!(
            layers[0]["annotations"],
            json!({"in-toto.io/predicate-type": "https://spdx.dev/Document"})
        );
        assert_eq!(
            layers[1]["annotations"]["in-toto.io/predicate-type"],
            "https://slsa.dev/provenance/v1"
        );
        assert_eq!(layers[0]["digest"], sha256_digest(&statements()[0]));
        let entry = serde_json::to_value(&attached.index_entry).unwrap();
        assert_eq!(
            entry,
            json!({
                "mediaType": MEDIA_TYPE_OCI_MANIFEST,
                "digest": sha256_digest(&attached.manifest.bytes),
                "size": attached.manifest.bytes.len(),
                "annotations": {
                    "vnd.docker.reference.digest": image().digest,
                    "vnd.docker.reference.type": "attestation-manifest",
                },
                "platform": {"architecture": "unknown", "os": "unknown"},
            })
        );
        assert_eq!(
            attested_digest(&attached.index_entry),
            Some(image().digest.as_str())
        );
        assert_eq!(attested_digest(&image()), None);
        assert_eq!(attached.blobs().count(), 4);
    }

    #[test]
    fn image_config_layout_has_a_placeholder_config_and_no_subject() {
        let attached = attestation_manifest(&statements(), &image(), Layout::ImageConfig).unwrap();
        let manifest: Value = serde_json::from_slice(&attached.manifest.bytes).unwrap();
        assert!(manifest.get("artifactType").is_none());
        assert!(manifest.get("subject").is_none());
        assert_eq!(manifest["config"]["mediaType"], MEDIA_TYPE_OCI_CONFIG);
        let config: Value = serde_json::from_slice(&attached.config.bytes).unwrap();
        assert_eq!(config["architecture"], "unknown");
        assert_eq!(config["os"], "unknown");
        assert_eq!(
            config["rootfs"]["diff_ids"][1],
            manifest["layers"][1]["digest"]
        );
        assert_eq!(
            manifest["config"]["digest"],
            sha256_digest(&attached.config.bytes)
        );
    }

    #[test]
    fn non_statements_are_refused() {
        let err = attestation_manifest(&[b"{}".to_vec()], &image(), Layout::OciArtifact);
        assert!(err.is_err());
    }
}
