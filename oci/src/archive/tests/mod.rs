//! Save/load/import/export against a real store in a temp dir, with archives written by hand
//! (docker's legacy layout, nested OCI indexes, hostile entries).

mod formats;
mod hostile;
mod layout;
mod repeat;
mod roundtrip;

use std::fs;
use std::path::Path;

use serde_json::{json, Value};
use strata_cache::{Digest, OpenOptions, Store};

use super::{import, save, ImportOptions, SaveOptions};
use crate::commit::commit_dir;
use crate::image::{self, StoredImage};
use crate::layer::{Compression, LayerOptions};

pub(super) struct TestStore {
    pub dir: tempfile::TempDir,
    pub store: Store,
}

/// A store at `<tempdir>/root`, so that the test can see whether anything lands beside it.
pub(super) fn store() -> TestStore {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("root"), &OpenOptions::default()).unwrap();
    TestStore { dir, store }
}

/// A tar (as other tools write them: GNU headers, user names) of (path, content) files;
/// paths ending in `/` are directories.
pub(super) fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut header = tar::Header::new_gnu();
        if path.ends_with('/') {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(0o755);
            header.set_size(0);
        } else {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(0o644);
            header.set_size(content.len() as u64);
        }
        header.set_mtime(1_600_000_000);
        header.set_username("root").unwrap();
        builder.append_data(&mut header, path, *content).unwrap();
    }
    builder.into_inner().unwrap()
}

/// A one-layer image imported from `files`, named `name`.
pub(super) fn imported(store: &Store, name: &str, files: &[(&str, &[u8])]) -> StoredImage {
    let options = ImportOptions {
        config: strata_frontend::config::ImageConfig {
            cmd: Some(vec!["sh".into()]),
            ..Default::default()
        },
        message: None,
        source: "test".into(),
    };
    let image = import(store, tar_of(files).as_slice(), &options).unwrap();
    image::name(store, name, &image.manifest).unwrap();
    image
}

/// `base` plus a layer made by `fill` in a fresh dir, named `name`.
pub(super) fn with_layer(
    store: &Store,
    base: &StoredImage,
    name: &str,
    fill: impl FnOnce(&Path),
) -> StoredImage {
    let scratch = store.snapshots().scratch("test").unwrap();
    fill(scratch.path());
    let diff_id = commit_dir(store, scratch, &LayerOptions::default())
        .unwrap()
        .expect("a non-empty layer");
    let mut config = base.config.clone();
    config["rootfs"]["diff_ids"]
        .as_array_mut()
        .unwrap()
        .push(json!(diff_id.to_string()));
    config["history"]
        .as_array_mut()
        .unwrap()
        .push(json!({"created": "2026-01-01T00:00:00Z", "created_by": "RUN test"}));
    let layers: Vec<(Digest, u64)> = image::config::diff_ids_of(&config)
        .iter()
        .map(|d| (*d, store.index().layer(d).unwrap().unwrap().size))
        .collect();
    let image = image::store_image(store, &config, &layers).unwrap();
    image::name(store, name, &image.manifest).unwrap();
    image
}

pub(super) fn saved(
    store: &Store,
    images: &[(&str, &StoredImage)],
    compression: Option<Compression>,
) -> Vec<u8> {
    let list: Vec<(Vec<String>, StoredImage)> = images
        .iter()
        .map(|(n, i)| {
            (
                if n.is_empty() {
                    vec![]
                } else {
                    vec![n.to_string()]
                },
                (*i).clone(),
            )
        })
        .collect();
    let mut out = Vec::new();
    save(store, &list, &SaveOptions { compression }, &mut out).unwrap();
    out
}

/// The (path, content) files of a tar.
pub(super) fn entries_of(archive: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in tar::Archive::new(archive).entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut content = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut content).unwrap();
        out.push((path, content));
    }
    out
}

pub(super) fn json_entry(archive: &[u8], name: &str) -> Value {
    let (_, bytes) = entries_of(archive)
        .into_iter()
        .find(|(p, _)| p == name)
        .unwrap_or_else(|| panic!("{name} missing"));
    serde_json::from_slice(&bytes).unwrap()
}

/// Everything the store holds, to compare before and after a failed load.
pub(super) fn inventory(store: &Store) -> String {
    let mut out = String::new();
    for (digest, size) in store.blobs().list().unwrap() {
        out.push_str(&format!("blob {digest} {size}\n"));
    }
    for diff_id in store.snapshots().list().unwrap() {
        out.push_str(&format!("snapshot {diff_id}\n"));
    }
    for record in store.index().layers().unwrap() {
        out.push_str(&format!("layer {record:?}\n"));
    }
    for (name, manifest) in store.index().tags().unwrap() {
        out.push_str(&format!("tag {name} {manifest}\n"));
    }
    let tmp = fs::read_dir(store.root().join("tmp")).unwrap().count();
    out.push_str(&format!("tmp entries {tmp}\n"));
    out
}

/// Files of a snapshot dir as `path kind size`, sorted.
pub(super) fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let mut entries: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap()).collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let meta = fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(base).unwrap().display().to_string();
            let size = if meta.is_file() { meta.len() } else { 0 };
            out.push(format!("{rel} {:?} {size}", meta.file_type()));
            if meta.is_dir() {
                walk(base, &path, out);
            }
        }
    }
    walk(dir, dir, &mut out);
    out
}

/// One raw tar entry, as a hostile tool might write it: path, type flag, link target,
/// content. No checks at all on the names.
pub(super) type RawEntry = (String, u8, String, Vec<u8>);

/// A file entry for [`raw_tar`].
pub(super) fn file(path: &str, content: impl Into<Vec<u8>>) -> RawEntry {
    (path.to_string(), b'0', String::new(), content.into())
}

/// Writes raw entries as a tar (old-style headers, names as given, up to 100 bytes).
pub(super) fn raw_tar(entries: &[RawEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, kind, link, content) in entries {
        let mut header = tar::Header::new_old();
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_mode(if *kind == b'5' { 0o755 } else { 0o644 });
        header.set_size(content.len() as u64);
        header.set_entry_type(tar::EntryType::new(*kind));
        header.set_cksum();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(content);
        out.extend(std::iter::repeat_n(0u8, (512 - content.len() % 512) % 512));
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// An image config over `diff_ids`.
pub(super) fn config_json(diff_ids: &[Digest], cmd: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": [cmd]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids.iter().map(|d| d.to_string()).collect::<Vec<_>>()},
        "history": diff_ids.iter().map(|_| json!({"created_by": "test"})).collect::<Vec<_>>(),
    }))
    .unwrap()
}
