//! COPY and ADD into a layer: writes the copied files into a fresh upper dir, the way overlayfs
//! would have written them had the copy run inside the container.
//!
//! The upper dir starts empty. Destination parents that exist in the image are recreated in it
//! with the image's metadata (as overlay's copy-up does), so the layer does not change them;
//! parents that do not exist are created `0755` (owned by the `--chown` user, as BuildKit does).
//! Copied entries keep their mode and mtime; ownership is the `--chown` user, or root for files
//! from the context, or the source's own for files from another stage or image.

pub mod archive;

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use rustix::fs::{AtFlags, FileType, Mode, Timespec, Timestamps, CWD};

use crate::context::{EntryKind, SourceEntry};
use crate::error::{Error, Result};
use strata_oci::LayerStack;

/// One resolved source and what it contributes.
#[derive(Debug, Clone)]
pub struct CopySource {
    /// The source's base name, used when it is copied into a directory (`COPY a.txt /dir/`).
    pub name: String,
    /// Its path relative to the context or stage root, kept under the destination by `--parents`.
    pub rel: String,
    /// The walked entries (first is the source itself).
    pub entries: Vec<SourceEntry>,
    /// Keep the entries' own uid/gid (sources from another stage or image) instead of root.
    pub keep_owner: bool,
    /// Content digests of the entries (`Some` for regular files), parallel to `entries`, when
    /// the cache key computation made them; empty when unknown.
    pub content: Vec<Option<[u8; 32]>>,
    /// ADD may unpack it when it is a local archive: true only for files from the build
    /// context (never for a download, a heredoc or another stage's file, as in BuildKit).
    pub unpack: bool,
}

/// An earlier snapshot of the same copy step and the content digests of its files (layer path
/// → sha256): a file to copy whose content and metadata are already there is hard-linked from
/// it instead of copied. Snapshots are immutable, so sharing their inodes is safe.
#[derive(Debug, Clone, Default)]
pub struct Reuse {
    /// The earlier snapshot's directory.
    pub snapshot: PathBuf,
    /// Its regular files and their content digests.
    pub files: HashMap<Vec<u8>, [u8; 32]>,
}

/// Regular files a copy wrote whose content digest is known: layer path (relative, no leading
/// `/`) → sha256. What the next run of the step may reuse.
pub type WrittenFiles = HashMap<Vec<u8>, [u8; 32]>;

/// How to copy.
#[derive(Debug, Clone, Default)]
pub struct CopyOptions {
    /// Destination as written (after variable expansion); relative to `workdir` unless absolute.
    pub dest: String,
    /// The stage's working directory at this step.
    pub workdir: String,
    /// `--chown`, resolved.
    pub chown: Option<(u32, u32)>,
    /// `--chmod`, parsed.
    pub chmod: Option<u32>,
    /// `--parents`: keep each source's path under the destination.
    pub parents: bool,
}

/// Copies `sources` into `upper`, an empty directory that becomes the step's layer. `image` is
/// the filesystem the step builds on.
pub fn copy_into_layer(
    sources: &[CopySource],
    options: &CopyOptions,
    image: &LayerStack,
    upper: &Path,
) -> Result<()> {
    copy_into_layer_reusing(sources, options, image, upper, None).map(|_| ())
}

/// [`copy_into_layer`], hard-linking unchanged files from `reuse` when given; returns the
/// regular files written whose content digest is known.
pub fn copy_into_layer_reusing(
    sources: &[CopySource],
    options: &CopyOptions,
    image: &LayerStack,
    upper: &Path,
    reuse: Option<&Reuse>,
) -> Result<WrittenFiles> {
    let dest = absolute_dest(&options.dest, &options.workdir);
    let dest_is_dir_by_syntax = dest.ends_with('/') || dest.ends_with("/.") || sources.len() > 1;
    let resolved_dest = image.resolve(&dest)?;
    let dest_exists_as_dir = image
        .lookup(&resolved_dest)?
        .is_some_and(|found| found.meta.is_dir());
    let into_dir = dest_is_dir_by_syntax || dest_exists_as_dir;
    if sources.len() > 1 && !dest.ends_with('/') && !dest_exists_as_dir {
        return Err(Error::CopyDestination {
            dest: options.dest.clone(),
            reason: "when copying several sources, the destination must be a directory and end with a `/`".into(),
        });
    }
    let mut writer = LayerWriter {
        image,
        upper,
        options,
        reuse,
        written: HashMap::new(),
        dir_times: Vec::new(),
    };
    for source in sources {
        let content = |index: usize| source.content.get(index).copied().flatten();
        let Some(root) = source.entries.first() else {
            continue;
        };
        let mut target = resolved_dest.clone();
        if options.parents {
            let parent = Path::new(&source.rel)
                .parent()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            target = join_image(&target, &parent);
        }
        if root.kind == EntryKind::Dir {
            if options.parents {
                target = join_image(&target, &source.name);
            }
            // A directory's contents go into the destination, not the directory itself.
            writer.ensure_dir(&target, Some(root))?;
            // Directories first, in walk order (parents before children); then everything
            // else in parallel: a big tree is mostly independent file copies and links.
            let mut leaves = Vec::new();
            for (index, entry) in source.entries.iter().enumerate().skip(1) {
                let path = join_image(&target, &entry.rel);
                if entry.kind == EntryKind::Dir {
                    writer.write_entry(&path, entry, source.keep_owner, None)?;
                } else {
                    leaves.push((path, entry, content(index)));
                }
            }
            let done: Vec<Option<[u8; 32]>> = leaves
                .par_iter()
                .map(|(path, entry, content)| {
                    writer.write_leaf(path, entry, source.keep_owner, *content)
                })
                .collect::<Result<_>>()?;
            for ((path, _, _), recorded) in leaves.iter().zip(done) {
                writer.record(path, recorded);
            }
        } else {
            let file_target = if into_dir || options.parents {
                writer.ensure_dir(&target, None)?;
                join_image(&target, &source.name)
            } else {
                let parent = parent_of(&target);
                writer.ensure_dir(&parent, None)?;
                target.clone()
            };
            writer.write_entry(&file_target, root, source.keep_owner, content(0))?;
        }
    }
    writer.restore_dir_times()?;
    Ok(writer.written)
}

/// Creates the destination directory of `options` in the layer (WORKDIR's mkdir), with the
/// same parent rules as a copy.
pub fn ensure_dir_in_layer(options: &CopyOptions, image: &LayerStack, upper: &Path) -> Result<()> {
    let dest = absolute_dest(&options.dest, &options.workdir);
    let resolved = image.resolve(&dest)?;
    let mut writer = LayerWriter {
        image,
        upper,
        options,
        reuse: None,
        written: HashMap::new(),
        dir_times: Vec::new(),
    };
    writer.ensure_dir(&resolved, None)?;
    writer.restore_dir_times()
}

/// Resolves a COPY destination against the working directory; a trailing `/` is kept.
pub fn absolute_dest(dest: &str, workdir: &str) -> String {
    if dest.starts_with('/') {
        return dest.to_string();
    }
    let base = if workdir.is_empty() { "/" } else { workdir };
    let joined = format!("{}/{}", base.trim_end_matches('/'), dest);
    if dest == "." || dest == "./" {
        format!("{}/", base.trim_end_matches('/'))
    } else {
        joined
    }
}

struct LayerWriter<'a> {
    image: &'a LayerStack,
    upper: &'a Path,
    options: &'a CopyOptions,
    reuse: Option<&'a Reuse>,
    written: WrittenFiles,
    /// Directories given an mtime, set again once everything is in them: adding an entry
    /// bumps a directory's mtime, and the layer must not depend on when it was built.
    dir_times: Vec<(PathBuf, i64)>,
}

impl LayerWriter<'_> {
    fn host(&self, image_path: &str) -> PathBuf {
        self.upper.join(image_path.trim_start_matches('/'))
    }

    /// Makes `dir` (an image path) a directory in the upper dir, recreating every missing
    /// ancestor: from the image's metadata where the image has it, else fresh (`0755`, owner
    /// per `--chown`), or from `like` (the copied source dir) for the final component.
    fn ensure_dir(&mut self, dir: &str, like: Option<&SourceEntry>) -> Result<()> {
        let parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
        let mut image_path = String::new();
        for (index, part) in parts.iter().enumerate() {
            image_path.push('/');
            image_path.push_str(part);
            let host = self.host(&image_path);
            if host.symlink_metadata().is_ok() {
                continue;
            }
            let last = index + 1 == parts.len();
            let found = self.image.lookup(&image_path)?;
            let (mode, uid, gid, mtime) = match (&found, last.then_some(like).flatten()) {
                (Some(found), _) if found.meta.is_dir() => (
                    found.meta.mode() & 0o7777,
                    found.meta.uid(),
                    found.meta.gid(),
                    Some(found.meta.mtime()),
                ),
                (Some(_), _) => {
                    return Err(Error::CopyDestination {
                        dest: self.options.dest.clone(),
                        reason: format!(
                            "`{image_path}` exists in the image and is not a directory"
                        ),
                    })
                }
                (None, Some(source)) => {
                    // A destination directory the copy creates is 0755 whatever the source
                    // directory's mode or --chmod (docker/BuildKit do the same).
                    let (uid, gid) = self.options.chown.unwrap_or((0, 0));
                    (0o755, uid, gid, Some(source.meta.mtime()))
                }
                (None, None) => {
                    let (uid, gid) = self.options.chown.unwrap_or((0, 0));
                    (0o755, uid, gid, None)
                }
            };
            fs::create_dir(&host).map_err(|source| io(&host, source))?;
            apply_meta(&host, mode, uid, gid, mtime, false)?;
            if let Some(mtime) = mtime {
                self.dir_times.push((host, mtime));
            }
        }
        Ok(())
    }

    fn restore_dir_times(&self) -> Result<()> {
        for (host, mtime) in &self.dir_times {
            set_mtime(host, *mtime)?;
        }
        Ok(())
    }

    /// Notes what now sits at `image_path`: a file with a known content digest, or not.
    fn record(&mut self, image_path: &str, recorded: Option<[u8; 32]>) {
        let layer_path = image_path.trim_start_matches('/').as_bytes().to_vec();
        match recorded {
            Some(digest) => self.written.insert(layer_path, digest),
            None => self.written.remove(&layer_path),
        };
    }

    fn write_entry(
        &mut self,
        image_path: &str,
        entry: &SourceEntry,
        keep_owner: bool,
        content: Option<[u8; 32]>,
    ) -> Result<()> {
        if entry.kind != EntryKind::Dir {
            let recorded = self.write_leaf(image_path, entry, keep_owner, content)?;
            self.record(image_path, recorded);
            return Ok(());
        }
        self.record(image_path, None);
        let host = self.host(image_path);
        let (mode, uid, gid) = self.meta_for(entry, keep_owner);
        remove_existing(&host)?;
        fs::create_dir(&host).map_err(|source| io(&host, source))?;
        apply_meta(&host, mode, uid, gid, Some(entry.meta.mtime()), false)?;
        self.dir_times.push((host, entry.meta.mtime()));
        Ok(())
    }

    /// Mode, uid and gid an entry gets in the layer.
    fn meta_for(&self, entry: &SourceEntry, keep_owner: bool) -> (u32, u32, u32) {
        let (uid, gid) = match self.options.chown {
            Some(owner) => owner,
            None if keep_owner => (entry.meta.uid(), entry.meta.gid()),
            None => (0, 0),
        };
        let mode = self.options.chmod.unwrap_or(entry.meta.mode() & 0o7777);
        (mode, uid, gid)
    }

    /// Writes a file, link or node (not a directory); returns the content digest to record
    /// for its path (`Some` for a regular file whose digest is known).
    fn write_leaf(
        &self,
        image_path: &str,
        entry: &SourceEntry,
        keep_owner: bool,
        content: Option<[u8; 32]>,
    ) -> Result<Option<[u8; 32]>> {
        let host = self.host(image_path);
        let layer_path = image_path.trim_start_matches('/').as_bytes();
        let (uid, gid) = match self.options.chown {
            Some(owner) => owner,
            None if keep_owner => (entry.meta.uid(), entry.meta.gid()),
            None => (0, 0),
        };
        let mode = self.options.chmod.unwrap_or(entry.meta.mode() & 0o7777);
        remove_existing(&host)?;
        match &entry.kind {
            EntryKind::Dir => unreachable!("directories go through write_entry"),
            EntryKind::File => {
                let wanted = Wanted {
                    mode,
                    uid,
                    gid,
                    mtime: entry.meta.mtime(),
                    size: entry.meta.len(),
                };
                let linked = match (content, self.reuse) {
                    (Some(digest), Some(reuse)) => {
                        link_unchanged(reuse, layer_path, &digest, &wanted, &host)
                    }
                    _ => false,
                };
                if !linked {
                    fs::copy(&entry.host_path, &host).map_err(|source| io(&host, source))?;
                    apply_meta(&host, mode, uid, gid, Some(entry.meta.mtime()), false)?;
                }
                return Ok(content);
            }
            EntryKind::Symlink { target } => {
                std::os::unix::fs::symlink(target, &host).map_err(|source| io(&host, source))?;
                apply_meta(&host, mode, uid, gid, Some(entry.meta.mtime()), true)?;
            }
            EntryKind::Special => {
                let raw = entry.meta.mode();
                let (kind, bits) = (FileType::from_raw_mode(raw), Mode::from_raw_mode(raw));
                rustix::fs::mknodat(CWD, &host, kind, bits, entry.meta.rdev())
                    .map_err(|source| io(&host, source.into()))?;
                apply_meta(&host, mode, uid, gid, Some(entry.meta.mtime()), false)?;
            }
        }
        Ok(None)
    }
}

/// The metadata a copied file must end up with.
struct Wanted {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    size: u64,
}

/// Hard-links `layer_path` from the earlier snapshot when it holds that path with the same
/// content digest (its record says so; snapshots never change) and exactly the metadata the
/// copy would give the file — a link shares the inode, so nothing may be changed on it.
/// Anything unexpected (snapshot gone, another filesystem) answers false: the caller copies.
fn link_unchanged(
    reuse: &Reuse,
    layer_path: &[u8],
    digest: &[u8; 32],
    wanted: &Wanted,
    host: &Path,
) -> bool {
    use std::os::unix::ffi::OsStrExt;
    if reuse.files.get(layer_path) != Some(digest) {
        return false;
    }
    let old = reuse.snapshot.join(std::ffi::OsStr::from_bytes(layer_path));
    let Ok(meta) = old.symlink_metadata() else {
        return false;
    };
    let same = meta.file_type().is_file()
        && meta.mode() & 0o7777 == wanted.mode
        && meta.uid() == wanted.uid
        && meta.gid() == wanted.gid
        && meta.mtime() == wanted.mtime
        && meta.mtime_nsec() == 0
        && meta.len() == wanted.size;
    same && fs::hard_link(&old, host).is_ok()
}

/// A later source may overwrite an earlier one at the same path (last one wins, as docker).
fn remove_existing(host: &Path) -> Result<()> {
    match host.symlink_metadata() {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => fs::remove_file(host).map_err(|source| io(host, source)),
        Err(_) => Ok(()),
    }
}

fn apply_meta(
    host: &Path,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: Option<i64>,
    is_symlink: bool,
) -> Result<()> {
    std::os::unix::fs::lchown(host, Some(uid), Some(gid)).map_err(|source| io(host, source))?;
    if !is_symlink {
        // chown clears setuid/setgid bits, so the mode goes after it.
        fs::set_permissions(host, fs::Permissions::from_mode(mode))
            .map_err(|source| io(host, source))?;
    }
    if let Some(secs) = mtime {
        set_mtime(host, secs)?;
    }
    Ok(())
}

/// Sets atime and mtime to `secs` (whole seconds, as a layer records them), never following
/// a final symlink.
fn set_mtime(host: &Path, secs: i64) -> Result<()> {
    let time = Timespec {
        tv_sec: secs,
        tv_nsec: 0,
    };
    let times = Timestamps {
        last_access: time,
        last_modification: time,
    };
    rustix::fs::utimensat(CWD, host, &times, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|source| io(host, source.into()))
}

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn join_image(base: &str, rel: &str) -> String {
    let rel = rel.trim_matches('/');
    if rel.is_empty() {
        return base.to_string();
    }
    format!("{}/{}", base.trim_end_matches('/'), rel)
}

fn parent_of(path: &str) -> String {
    match path.trim_end_matches('/').rsplit_once('/') {
        Some((parent, _)) if !parent.is_empty() => parent.to_string(),
        _ => "/".to_string(),
    }
}

#[cfg(test)]
mod tests;
