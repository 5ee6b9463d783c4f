//! `type=oci|docker,dest=FILE|-`: the image as a tarball, as `strata save` writes it (an OCI
//! layout that is a docker-archive too, so `docker load`, `podman load` and skopeo's
//! `oci-archive:` and `docker-archive:` all read either flavour). The `-t` tags or `name=`
//! become its names; without one the image is in it unnamed.

use strata_oci::archive::{exported_manifest, save, SaveOptions};
use strata_oci::image::reference::normalize;
use strata_oci::image::StoredImage;
use strata_oci::Compression;

use super::dest::{describe, write_to};
use super::metadata::ImageMetadata;
use super::spec::{ArchiveFormat, Dest};
use super::Exporters;

/// Writes the image tarball to `dest`.
pub fn export(
    exporters: &Exporters<'_>,
    image: &StoredImage,
    format: ArchiveFormat,
    dest: &Dest,
    names: &[String],
    compression: Option<Compression>,
) -> anyhow::Result<ImageMetadata> {
    let flavour = match format {
        ArchiveFormat::Oci => "oci",
        ArchiveFormat::Docker => "docker",
    };
    (exporters.note)(&format!(
        "exporting to {flavour} image format: {}",
        describe(dest)
    ));
    let keys: Vec<String> = names.iter().map(|n| normalize(n)).collect();
    let images = [(keys, image.clone())];
    write_to(dest, "the image tarball", |out| {
        Ok(save(
            exporters.store,
            &images,
            &SaveOptions { compression },
            out,
        )?)
    })?;
    let manifest = exported_manifest(exporters.store, image, compression)?;
    Ok(ImageMetadata::new(image, manifest, names, false))
}
