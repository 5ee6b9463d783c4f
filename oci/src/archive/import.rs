//! `strata import`: a root filesystem tarball becomes a one-layer image, as `docker import`.
//! The tar is unpacked into a snapshot and the layer regenerated deterministically from it,
//! so the image's layer is like any layer strata built. Its container config comes ready-made
//! (the builder turns `--change` lines into one).

use std::io::{BufRead, BufReader, Read};

use strata_cache::Store;
use strata_frontend::config::ImageConfig;

use crate::commit::commit_dir;
use crate::error::{Error, Result};
use crate::image::{self, config as image_config, StoredImage};
use crate::layer::{extract_layer, LayerOptions};

/// What to import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The container config (`--change` lines, as the builder's `config_from_changes` reads them).
    pub config: ImageConfig,
    /// The history comment and config `comment` (`-m`); `Imported from SOURCE` without one.
    pub message: Option<String>,
    /// Where the tarball came from (`-` for stdin), for the default comment.
    pub source: String,
}

/// Imports a (possibly gzip/zstd/bzip2/xz-compressed) rootfs tar.
pub fn import(store: &Store, input: impl Read, options: &ImportOptions) -> Result<StoredImage> {
    let input_err = |e: std::io::Error| Error::Io {
        path: options.source.clone().into(),
        source: e,
    };
    let mut buffered = BufReader::with_capacity(1 << 20, input);
    let magic = buffered.fill_buf().map_err(input_err)?.to_vec();
    let reader: Box<dyn Read> = if magic.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::bufread::MultiGzDecoder::new(buffered))
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::stream::read::Decoder::with_buffer(buffered).map_err(input_err)?)
    } else if magic.starts_with(b"BZh") {
        Box::new(bzip2::bufread::MultiBzDecoder::new(buffered))
    } else if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Box::new(xz2::bufread::XzDecoder::new_multi_decoder(buffered))
    } else {
        Box::new(buffered)
    };
    let scratch = store.snapshots().scratch("import")?;
    extract_layer(reader, scratch.path()).map_err(|e| match e {
        Error::BadLayer { reason } => Error::BadLayer {
            reason: format!("`{}`: {reason}", options.source),
        },
        other => other,
    })?;
    let diff_id = commit_dir(store, scratch, &LayerOptions::default())?;
    let created = image_config::rfc3339(strata_cache::now());
    let diff_ids: Vec<_> = diff_id.into_iter().collect();
    let comment = options
        .message
        .clone()
        .unwrap_or_else(|| format!("Imported from {}", options.source));
    let history = vec![image_config::History {
        created: created.clone(),
        created_by: String::new(),
        empty_layer: diff_ids.is_empty(),
        comment: Some(comment),
    }];
    let mut json = image_config::to_json(&image_config::ConfigParts {
        config: &options.config,
        diff_ids: &diff_ids,
        history: &history,
        created: &created,
    });
    if let Some(message) = &options.message {
        json["comment"] = serde_json::Value::String(message.clone());
    }
    let mut layers = Vec::new();
    for d in &diff_ids {
        let record = store.index().layer(d)?.ok_or_else(|| Error::Image {
            reason: format!("layer {d} has no record"),
        })?;
        layers.push((*d, record.size));
    }
    image::store_image(store, &json, &layers)
}
