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
        let subtrees: Vec<Vec<SourceEntry>> = children
            .into_par_iter()
            .map(|(name, meta)| self.walk_child(source, rel, &dir, &name, meta, excludes))
            .collect::<Result<_>>()?;
        out.reserve(subtrees.iter().map(Vec::len).sum());
        for subtree in subtrees {
            out.extend(subtree);
        }
        Ok(())
    }

    /// One child and, for a directory, everything below it (empty when left out).
    fn walk_child(
        &self,
        source: &SourceMatch,
        rel: &str,
        dir: &std::path::Path,
        name: &str,
        meta: fs::Metadata,
        excludes: &PatternSet,
    ) -> Result<Vec<SourceEntry>> {
        let child_rel = if rel.is_empty() {
            name.to_string()
        } else {
            format!("{rel}/{name}")
        };
        let context_rel = if source.rel.is_empty() {
            child_rel.clone()
        } else {
            format!("{}/{child_rel}", source.rel)
        };
        let ignored = self.ignore().is_excluded(&context_rel);
        let excluded = ignored || excludes.is_excluded(&child_rel);
        let host_path = dir.join(name);
        let Some(kind) = kind_of(&host_path, &meta)? else {
            return Ok(Vec::new());
        };
        let is_dir = kind == EntryKind::Dir;
        let entry = SourceEntry {
            rel: child_rel.clone(),
            host_path,
            meta,
            kind,
        };
        if excluded {
            // A later `!pattern` may re-include something below an excluded directory.
            let may_reinclude = self.ignore().has_negations() || excludes.has_negations();
            if is_dir && may_reinclude {
                let mut out = vec![entry];
                self.walk_children(source, &child_rel, excludes, &mut out)?;
                if out.len() > 1 {
                    return Ok(out);
                }
            }
            return Ok(Vec::new());
        }
        let mut out = vec![entry];
        if is_dir {
            self.walk_children(source, &child_rel, excludes, &mut out)?;
        }
        Ok(out)
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
