//! `strata export`: an image's flattened filesystem as one tar (what `docker export` gives for
//! a container made from it), read from the snapshots through the overlay rules.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use strata_cache::Store;

use crate::error::{Error, Result};
use crate::image::StoredImage;
use crate::layer::placeholder;
use crate::layer::tar_format::{finish, pad, write_header, Entry, EntryType};
use crate::rootfs::{Found, LayerStack};

/// Writes the flattened filesystem of `image` into `out`.
pub fn export(store: &Store, image: &StoredImage, out: &mut dyn Write) -> Result<()> {
    let view = view_of(store, image);
    let mut links = HashMap::new();
    walk(&view, "/", "", &mut links, out)?;
    finish(out).map_err(io_err)
}

/// The image's filesystem as one view over its snapshots.
pub(super) fn view_of(store: &Store, image: &StoredImage) -> LayerStack {
    LayerStack::new(
        image
            .diff_ids
            .iter()
            .rev()
            .map(|d| store.snapshots().path(d))
            .collect(),
    )
}

fn io_err(source: io::Error) -> Error {
    Error::Io {
        path: "<output>".into(),
        source,
    }
}

fn walk(
    view: &LayerStack,
    dir: &str,
    rel: &str,
    links: &mut HashMap<(u64, u64), String>,
    out: &mut dyn Write,
) -> Result<()> {
    for (name, found) in view.read_dir(dir)? {
        let path = format!("{}/{name}", dir.trim_end_matches('/'));
        let child_rel = format!("{rel}{name}");
        entry(view, &path, &child_rel, found, links, out)?;
    }
    Ok(())
}

fn entry(
    view: &LayerStack,
    path: &str,
    rel: &str,
    found: Found,
    links: &mut HashMap<(u64, u64), String>,
    out: &mut dyn Write,
) -> Result<()> {
    let meta = &found.meta;
    let file_type = meta.file_type();
    let mut e = Entry {
        path: rel.to_string(),
        kind: EntryType::File,
        mode: meta.mode() & 0o7777,
        uid: meta.uid() as u64,
        gid: meta.gid() as u64,
        size: 0,
        mtime: meta.mtime(),
        link: String::new(),
        dev: (0, 0),
        xattrs: Vec::new(),
    };
    if file_type.is_dir() {
        e.kind = EntryType::Dir;
        e.path.push('/');
        write_header(out, &e).map_err(io_err)?;
        return walk(view, path, &format!("{rel}/"), links, out);
    }
    if file_type.is_symlink() {
        e.kind = EntryType::Symlink;
        e.link = fs::read_link(&found.host_path)
            .map_err(|s| Error::Io {
                path: found.host_path.clone(),
                source: s,
            })?
            .to_string_lossy()
            .into_owned();
        return write_header(out, &e).map_err(io_err);
    }
    if file_type.is_char_device() || file_type.is_block_device() || file_type.is_fifo() {
        e.kind = if file_type.is_char_device() {
            EntryType::CharDevice
        } else if file_type.is_block_device() {
            EntryType::BlockDevice
        } else {
            EntryType::Fifo
        };
        e.dev = (
            rustix::fs::major(meta.rdev()),
            rustix::fs::minor(meta.rdev()),
        );
        return write_header(out, &e).map_err(io_err);
    }
    if file_type.is_socket() {
        return Ok(());
    }
    if let Some((kind, major, minor)) = placeholder::device_at(&found.host_path, meta) {
        e.kind = kind;
        e.dev = (major, minor);
        return write_header(out, &e).map_err(io_err);
    }
    if meta.nlink() > 1 {
        if let Some(first) = links.get(&(meta.dev(), meta.ino())) {
            e.kind = EntryType::HardLink;
            e.link = first.clone();
            return write_header(out, &e).map_err(io_err);
        }
        links.insert((meta.dev(), meta.ino()), rel.to_string());
    }
    e.size = meta.len();
    write_header(out, &e).map_err(io_err)?;
    let mut file = File::open(&found.host_path).map_err(|s| Error::Io {
        path: found.host_path.clone(),
        source: s,
    })?;
    let copied = io::copy(&mut file, out).map_err(io_err)?;
    if copied != e.size {
        return Err(Error::Image {
            reason: format!("`{path}` changed size while exporting"),
        });
    }
    pad(out, e.size).map_err(io_err)
}
