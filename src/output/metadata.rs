//! `--metadata-file FILE`: the build result as buildx writes it (the exporter response of
//! BuildKit's image exporter, base64 values decoded): `containerimage.digest` and
//! `containerimage.descriptor` for the manifest as it was pushed or written (so the digest
//! is the one the registry or the tarball holds), `containerimage.config.digest` (the image
//! ID) and `image.name` (the names, comma-separated). A build that makes no image (`-o
//! type=local`) writes `{}`. buildx's own `buildx.build.ref` has no meaning without a
//! builder instance and is left out.

use std::path::Path;

use anyhow::Context as _;
use serde_json::{json, Map, Value};
use strata_oci::archive::ManifestDescriptor;
use strata_oci::image::StoredImage;

/// What the metadata file says about the image a build output made.
#[derive(Debug, Clone)]
pub struct ImageMetadata {
    /// The image ID.
    config: String,
    /// When the image says it was made (`org.opencontainers.image.created`).
    created: Option<String>,
    /// The manifest as the output wrote or pushed it.
    manifest: ManifestDescriptor,
    /// The names, as given.
    names: Vec<String>,
    /// Whether the output pushed it.
    pub pushed: bool,
}

impl ImageMetadata {
    /// The metadata of `image` as `manifest` describes it, under `names`.
    pub fn new(
        image: &StoredImage,
        manifest: ManifestDescriptor,
        names: &[String],
        pushed: bool,
    ) -> Self {
        ImageMetadata {
            config: image.id.to_string(),
            created: image.config["created"].as_str().map(str::to_string),
            manifest,
            names: names.to_vec(),
            pushed,
        }
    }

    fn to_json(&self) -> Value {
        let mut annotations = Map::new();
        annotations.insert("config.digest".into(), json!(self.config));
        if let Some(created) = &self.created {
            annotations.insert("org.opencontainers.image.created".into(), json!(created));
        }
        let mut out = Map::new();
        out.insert("containerimage.config.digest".into(), json!(self.config));
        out.insert(
            "containerimage.descriptor".into(),
            json!({
                "mediaType": self.manifest.media_type,
                "digest": self.manifest.digest.to_string(),
                "size": self.manifest.size,
                "annotations": annotations,
            }),
        );
        out.insert(
            "containerimage.digest".into(),
            json!(self.manifest.digest.to_string()),
        );
        if !self.names.is_empty() {
            out.insert("image.name".into(), json!(self.names.join(",")));
        }
        Value::Object(out)
    }
}

/// Writes the metadata file (indented, as buildx), replacing it atomically.
pub fn write_metadata(path: &Path, image: Option<&ImageMetadata>) -> anyhow::Result<()> {
    let value = image.map_or_else(|| json!({}), ImageMetadata::to_json);
    let text = serde_json::to_string_pretty(&value).expect("JSON values serialise");
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("writing the metadata file `{}`", path.display()))?;
    std::io::Write::write_all(&mut tmp, text.as_bytes())
        .and_then(|()| {
            use std::os::unix::fs::PermissionsExt;
            tmp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o644))
        })
        .with_context(|| format!("writing the metadata file `{}`", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("writing the metadata file `{}`", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_cache::Digest;

    #[test]
    fn keys_and_shapes_are_buildx_s() {
        let image = StoredImage {
            manifest: Digest::of(b"stored"),
            id: Digest::of(b"config"),
            config: json!({"created": "2024-01-02T03:04:05Z"}),
            diff_ids: Vec::new(),
        };
        let manifest = ManifestDescriptor {
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            digest: Digest::of(b"pushed"),
            size: 506,
        };
        let names = ["r:5000/app:1".to_string(), "r:5000/app:2".to_string()];
        let value = ImageMetadata::new(&image, manifest.clone(), &names, true).to_json();
        assert_eq!(
            value,
            json!({
                "containerimage.config.digest": image.id.to_string(),
                "containerimage.descriptor": {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": manifest.digest.to_string(),
                    "size": 506,
                    "annotations": {
                        "config.digest": image.id.to_string(),
                        "org.opencontainers.image.created": "2024-01-02T03:04:05Z",
                    },
                },
                "containerimage.digest": manifest.digest.to_string(),
                "image.name": "r:5000/app:1,r:5000/app:2",
            })
        );
        let unnamed = ImageMetadata::new(&image, manifest, &[], false).to_json();
        assert!(unnamed.get("image.name").is_none());
    }
}
