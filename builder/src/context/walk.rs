//! Listing what one COPY source contributes: the source itself, and for a directory everything
//! below it, minus what `.dockerignore` or `--exclude` leave out. The list is sorted, so the
//! digest and the copy of a source see exactly the same entries in the same order.

use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::path::PathBuf;

use super::{BuildContext, PatternSet, SourceMatch};
use crate::error::{Error, Result};

/// The kinds of entries a copy carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A directory.
    Dir,
    /// A regular file.
    File,
    /// A symbolic link, copied as a link.
    Symlink {
        /// Where the link points, as stored.
        target: String,
    },
    /// A fifo or device node (copied as the node).
    Special,
}

/// One entry of a walked source.
#[derive(Debug, Clone)]
pub struct SourceEntry {
    /// Path relative to the source (`""` for the source itself), `/`-separated.
    pub rel: String,
    /// Where it is on the host.
    pub host_path: PathBuf,
    /// Its metadata (not following a final symlink).
    pub meta: fs::Metadata,
    /// What it is.
    pub kind: EntryKind,
}

impl BuildContext {
    /// Lists a resolved source. `excludes` are `COPY --exclude` patterns, matched against paths
    /// relative to the source.
    pub fn walk_source(
        &self,
        source: &SourceMatch,
        excludes: &PatternSet,
    ) -> Result<Vec<SourceEntry>> {
        let meta = metadata(&source.host_path)?;
        let Some(kind) = kind_of(&source.host_path, &meta)? else {
            return Ok(Vec::new());
        };
        let is_dir = kind == EntryKind::Dir;
        let mut entries = vec![SourceEntry {
            rel: String::new(),
            host_path: source.host_path.clone(),
            meta,
            kind,
        }];
        if is_dir {
            self.walk_dir(source, "", excludes, &mut entries)?;
        }
        Ok(entries)
    }

    /// Appends the children of `source/rel`; returns whether anything was appended.
    fn walk_dir(
        &self,
        source: &SourceMatch,
        rel: &str,
        excludes: &PatternSet,
        out: &mut Vec<SourceEntry>,
    ) -> Result<bool> {
        let before = out.len();
        self.walk_children(source, rel, excludes, out)?;
        Ok(out.len() > before)
    }

    /// Appends the entries below `source/rel` to `out`, in order. Each directory's children
    /// are stat'ed relative to the open directory (no path walk per file); subdirectories are
    /// walked in parallel: a big context is mostly `stat` calls, and they overlap well.
    fn walk_children(
        &self,
        source: &SourceMatch,
        rel: &str,
        excludes: &PatternSet,
        out: &mut Vec<SourceEntry>,
    ) -> Result<()> {
        use rayon::prelude::*;
        let dir = if rel.is_empty() {
            source.host_path.clone()
        } else {
            source.host_path.join(rel)
        };
        let read = fs::read_dir(&dir).map_err(|err| Error::Io {
            path: dir.clone(),
            source: err,
        })?;
        let mut children: Vec<(String, fs::Metadata)> = Vec::new();
        for entry in read {
            let entry = entry.map_err(|err| Error::Io {
                path: dir.clone(),
                source: err,
            })?;
            // `DirEntry::metadata` is an `lstat` relative to the open directory.
            let meta = entry.metadata().map_err(|source| Error::Io {
                path: entry.path(),
                source,
            })?;
            match entry.file_name().into_string() {
                Ok(name) => children.push((name, meta)),
                Err(name) => {
                    return Err(Error::BadSource {
                        source_path: dir.join(name).display().to_string(),
                        reason: "file name is not valid UTF-8".into(),
                    })
                }
            }
        }
        children.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        // Every child's entry is made here, in order; only directories are descended, and
        // those in parallel. One vector per directory, not one per file.
        let mut made: Vec<(SourceEntry, bool)> = Vec::with_capacity(children.len());
        for (name, meta) in children {
            if let Some(child) = self.child_entry(source, rel, &dir, &name, meta, excludes)? {
                made.push(child);
            }
        }
        let may_reinclude = self.ignore().has_negations() || excludes.has_negations();
        let descend = |(entry, excluded): &(SourceEntry, bool)| {
            entry.kind == EntryKind::Dir && (!excluded || may_reinclude)
        };
        let subtrees: Vec<Option<Vec<SourceEntry>>> = if made.iter().any(descend) {
            made.par_iter()
                .map(|child| {
                    if !descend(child) {
                        return Ok(None);
                    }
                    let mut below = Vec::new();
                    self.walk_children(source, &child.0.rel, excludes, &mut below)?;
                    Ok(Some(below))
                })
                .collect::<Result<_>>()?
        } else {
            made.iter().map(|_| None).collect()
        };
        let below_count: usize = subtrees.iter().flatten().map(Vec::len).sum();
        out.reserve(made.len() + below_count);
        for ((entry, excluded), below) in made.into_iter().zip(subtrees) {
            if excluded {
                // Left out, unless a later `!pattern` re-includes something below it.
                if let Some(below) = below.filter(|b| !b.is_empty()) {
                    out.push(entry);
                    out.extend(below);
                }
                continue;
            }
            out.push(entry);
            out.extend(below.into_iter().flatten());
        }
        Ok(())
    }

    /// One child's entry and whether `.dockerignore` or `--exclude` leave it out; `None` for
    /// what cannot be copied (sockets).
    fn child_entry(
        &self,
        source: &SourceMatch,
        rel: &str,
        dir: &std::path::Path,
        name: &str,
        meta: fs::Metadata,
        excludes: &PatternSet,
    ) -> Result<Option<(SourceEntry, bool)>> {
        let child_rel = if rel.is_empty() {
            name.to_string()
        } else {
            format!("{rel}/{name}")
        };
        let ignored = !self.ignore().is_empty()
            && if source.rel.is_empty() {
                self.ignore().is_excluded(&child_rel)
            } else {
                self.ignore()
                    .is_excluded(&format!("{}/{child_rel}", source.rel))
            };
        let excluded = ignored || (!excludes.is_empty() && excludes.is_excluded(&child_rel));
        let host_path = dir.join(name);
        let Some(kind) = kind_of(&host_path, &meta)? else {
            return Ok(None);
        };
        let entry = SourceEntry {
            rel: child_rel,
            host_path,
            meta,
            kind,
        };
        Ok(Some((entry, excluded)))
    }
}

fn metadata(path: &std::path::Path) -> Result<fs::Metadata> {
    fs::symlink_metadata(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The entry's kind; `None` for sockets, which cannot be archived (BuildKit skips them too).
fn kind_of(path: &std::path::Path, meta: &fs::Metadata) -> Result<Option<EntryKind>> {
    let file_type = meta.file_type();
    Ok(Some(if file_type.is_dir() {
        EntryKind::Dir
    } else if file_type.is_file() {
        EntryKind::File
    } else if file_type.is_symlink() {
        let target = fs::read_link(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        EntryKind::Symlink {
            target: target.to_string_lossy().into_owned(),
        }
    } else if file_type.is_fifo() || file_type.is_block_device() || file_type.is_char_device() {
        EntryKind::Special
    } else {
        return Ok(None);
    }))
}
