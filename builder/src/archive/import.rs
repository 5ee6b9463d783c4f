//! `strata import`: a root filesystem tarball becomes a one-layer image, as `docker import`.
//! The tar is unpacked into a snapshot and the layer regenerated deterministically from it,
//! so the image's layer is like any layer strata built.

use std::io::{BufRead, BufReader, Read};

use strata_cache::Store;
use strata_frontend::config::ImageConfig;

use crate::commit::commit_dir;
use crate::error::{Error, Result};
use crate::image::{self, config as image_config, StoredImage};
use crate::layer::{extract_layer, LayerOptions};

/// Imports a (possibly gzip/zstd/bzip2/xz-compressed) rootfs tar with the given config.
pub fn import(
    store: &Store,
    input: impl Read,
    config: &ImageConfig,
    created_by: &str,
) -> Result<StoredImage> {
    let mut buffered = BufReader::with_capacity(1 << 20, input);
    let magic = buffered
        .fill_buf()
        .map_err(|e| Error::Io {
            path: "<input>".into(),
            source: e,
        })?
        .to_vec();
    let reader: Box<dyn Read> = if magic.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(buffered))
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(
            zstd::stream::read::Decoder::with_buffer(buffered).map_err(|e| Error::Io {
                path: "<input>".into(),
                source: e,
            })?,
        )
    } else if magic.starts_with(b"BZh") {
        Box::new(bzip2::read::MultiBzDecoder::new(buffered))
    } else if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Box::new(xz2::read::XzDecoder::new_multi_decoder(buffered))
    } else {
        Box::new(buffered)
    };
    let scratch = store.snapshots().scratch("import")?;
    extract_layer(reader, scratch.path())?;
    let diff_id = commit_dir(store, scratch, &LayerOptions::default())?;
    let now = strata_cache::now();
    let created = image_config::rfc3339(now);
    let diff_ids: Vec<_> = diff_id.into_iter().collect();
    let history = vec![image_config::History {
        created: created.clone(),
        created_by: created_by.to_string(),
        empty_layer: diff_ids.is_empty(),
        comment: Some("Imported from tarball".into()),
    }];
    let json = image_config::to_json(&image_config::ConfigParts {
        config,
        diff_ids: &diff_ids,
        history: &history,
        created: &created,
    });
    let mut layers = Vec::new();
    for d in &diff_ids {
        let record = store.index().layer(d)?.ok_or_else(|| Error::Image {
            reason: format!("layer {d} has no record"),
        })?;
        layers.push((*d, record.size));
    }
    image::store_image(store, &json, &layers)
}
