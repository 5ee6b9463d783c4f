//! Listing what one COPY source contributes: the source itself, and for a directory everything
//! below it, minus what `.dockerignore` or `--exclude` leave out. The list is sorted, so the
//! digest and the copy of a source see exactly the same entries in the same order.

use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::path::PathBuf;

use super::dir::OpenDir;
use super::meta::EntryMeta;
use super::{join_rel, BuildContext, PatternSet, SourceMatch};
use crate::error::{Error, Result};
use strata_oci::MAX_DEPTH;

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
    /// Its `lstat` facts.
    pub meta: EntryMeta,
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
        let entries = vec![SourceEntry {
            rel: String::new(),
            host_path: source.host_path.clone(),
            meta: EntryMeta::of(&meta),
            kind,
        }];
        if !is_dir {
            return Ok(entries);
        }
        let dir = OpenDir::open(&source.host_path)?;
        let walk = Walk {
            context: self,
            source,
            excludes,
            may_reinclude: self.ignore().has_negations() || excludes.has_negations(),
        };
        walk.below(&dir, "", 0, entries)
    }
}

/// One source's walk: what decides which entries it keeps.
struct Walk<'a> {
    context: &'a BuildContext,
    source: &'a SourceMatch,
    excludes: &'a PatternSet,
    /// Whether a `!pattern` may re-include something below an excluded directory.
    may_reinclude: bool,
}

impl Walk<'_> {
    /// `out` followed by the entries below the open directory `dir` (`rel` in the source,
    /// `depth` levels below it), in order. Subdirectories are walked in parallel: a big context
    /// is mostly `stat` calls, and they overlap well. A directory with no subdirectories
    /// returns its own vector, so most entries are written once and moved once.
    fn below(
        &self,
        dir: &OpenDir,
        rel: &str,
        depth: usize,
        mut out: Vec<SourceEntry>,
    ) -> Result<Vec<SourceEntry>> {
        use rayon::prelude::*;
        let children = self.children(dir, rel, depth)?;
        if !children
            .iter()
            .any(|(entry, _)| entry.kind == EntryKind::Dir)
        {
            // Nothing excluded is left and nothing is below: the children are the listing.
            let listing = children.into_iter().map(|(entry, _)| entry);
            if out.is_empty() {
                return Ok(listing.collect());
            }
            out.extend(listing);
            return Ok(out);
        }
        // One job per child: rayon otherwise walks runs of subdirectories as sequential chunks,
        // and the last chunk can leave the other cores idle for a quarter of the walk.
        let subtrees: Vec<Option<Vec<SourceEntry>>> = children
            .par_iter()
            .with_max_len(1)
            .map(|(entry, _)| {
                if entry.kind != EntryKind::Dir {
                    return Ok(None);
                }
                let name = entry.rel.rsplit('/').next().unwrap_or(&entry.rel);
                let child = dir.open_child(name)?;
                if depth + 1 >= PARALLEL_DEPTH {
                    return self
                        .below_sequential(child, &entry.rel, depth + 1)
                        .map(Some);
                }
                self.below(&child, &entry.rel, depth + 1, Vec::new())
                    .map(Some)
            })
            .collect::<Result<_>>()?;
        let pieces = children
            .into_iter()
            .zip(subtrees)
            .filter_map(|((entry, excluded), below)| {
                let below = below.unwrap_or_default();
                // Left out, unless a later `!pattern` re-included something below it.
                (!excluded || !below.is_empty()).then_some((entry, below))
            })
            .collect();
        append_pieces(&mut out, pieces);
        Ok(out)
    }

    /// The entries below `dir` as [`Walk::below`] lists them, walked one directory at a time
    /// from an explicit stack: a deep tree costs heap, not stack (rayon's threads have small
    /// stacks, and each level of the parallel walk takes kilobytes of one).
    fn below_sequential(&self, dir: OpenDir, rel: &str, depth: usize) -> Result<Vec<SourceEntry>> {
        /// A directory being listed: its remaining children, what is listed below it so far,
        /// and its own entry (none for the directory the walk started at).
        struct Level {
            dir: OpenDir,
            depth: usize,
            children: std::vec::IntoIter<(SourceEntry, bool)>,
            out: Vec<SourceEntry>,
            this: Option<(SourceEntry, bool)>,
        }
        let children = self.children(&dir, rel, depth)?.into_iter();
        let mut stack = vec![Level {
            dir,
            depth,
            children,
            out: Vec::new(),
            this: None,
        }];
        while let Some(top) = stack.last_mut() {
            match top.children.next() {
                Some((entry, excluded)) if entry.kind == EntryKind::Dir => {
                    let name = entry.rel.rsplit('/').next().unwrap_or(&entry.rel);
                    let dir = top.dir.open_child(name)?;
                    let depth = top.depth + 1;
                    let children = self.children(&dir, &entry.rel, depth)?.into_iter();
                    stack.push(Level {
                        dir,
                        depth,
                        children,
                        out: Vec::new(),
                        this: Some((entry, excluded)),
                    });
                }
                Some((entry, _)) => top.out.push(entry),
                None => {
                    let Some(done) = stack.pop() else { break };
                    let (Some((entry, excluded)), Some(parent)) = (done.this, stack.last_mut())
                    else {
                        return Ok(done.out);
                    };
                    // Left out, unless a later `!pattern` re-included something below it.
                    if !excluded || !done.out.is_empty() {
                        parent.out.push(entry);
                        parent.out.extend(done.out);
                    }
                }
            }
        }
        Ok(Vec::new())
    }

    /// The children of `dir` (`rel` in the source, `depth` levels below it), in name order,
    /// each with whether it is excluded; an excluded child is kept only if it is a directory a
    /// later `!pattern` may re-include something below.
    fn children(&self, dir: &OpenDir, rel: &str, depth: usize) -> Result<Vec<(SourceEntry, bool)>> {
        let children = dir.read(|name, meta, kind| {
            let entry = self.entry(dir, rel, name, meta, kind);
            let excluded = self.is_excluded(&entry.rel);
            let keep = !excluded || (entry.kind == EntryKind::Dir && self.may_reinclude);
            Ok(keep.then_some((entry, excluded)))
        })?;
        if depth >= MAX_DEPTH {
            if let Some((entry, _)) = children.first() {
                return Err(strata_oci::Error::TooDeep {
                    path: join_rel(&self.source.resolved, &entry.rel),
                    max: MAX_DEPTH,
                }
                .into());
            }
        }
        Ok(children)
    }

    /// The entry of the child `name` of `dir` (`rel` in the source).
    fn entry(
        &self,
        dir: &OpenDir,
        rel: &str,
        name: &str,
        meta: EntryMeta,
        kind: EntryKind,
    ) -> SourceEntry {
        let rel = if rel.is_empty() {
            name.to_string()
        } else {
            let mut child = String::with_capacity(rel.len() + 1 + name.len());
            child.push_str(rel);
            child.push('/');
            child.push_str(name);
            child
        };
        SourceEntry {
            rel,
            host_path: dir.path().join(name),
            meta,
            kind,
        }
    }

    /// Whether `.dockerignore` or `--exclude` leave out `rel` (relative to the source).
    fn is_excluded(&self, rel: &str) -> bool {
        let ignore = self.context.ignore();
        let ignored = !ignore.is_empty()
            && if self.source.resolved.is_empty() {
                ignore.is_excluded(rel)
            } else {
                // Matched where the files really are: a source reached through a symlink
                // (`dirlink/` with `dirlink -> .`) is seen through the rules of its target.
                ignore.is_excluded(&format!("{}/{rel}", self.source.resolved))
            };
        ignored || (!self.excludes.is_empty() && self.excludes.is_excluded(rel))
    }
}

/// Directories this many levels below the source are walked sequentially (see
/// [`Walk::below_sequential`]); real trees rarely reach it, so the parallel walk is unchanged.
const PARALLEL_DEPTH: usize = 32;

/// Below this many entries, pieces are appended on the calling thread.
const PARALLEL_APPEND: usize = 8192;

/// Appends each piece's first item and then its rest to `out`, in order. A big context's walk
/// ends by moving tens of thousands of entries from the directories' vectors into one; on one
/// core that move (and the page faults of the new vector) took a tenth of a no-op rebuild, so
/// big appends write disjoint runs of the new vector in parallel.
fn append_pieces<T: Send>(out: &mut Vec<T>, pieces: Vec<(T, Vec<T>)>) {
    use rayon::prelude::*;
    let total: usize = pieces.iter().map(|(_, rest)| 1 + rest.len()).sum();
    out.reserve(total);
    if total < PARALLEL_APPEND {
        for (first, rest) in pieces {
            out.push(first);
            out.extend(rest);
        }
        return;
    }
    let start = out.len();
    // One run of slots per piece, in order, covering exactly `total` slots.
    let mut room = &mut out.spare_capacity_mut()[..total];
    let mut runs = Vec::with_capacity(pieces.len());
    for (_, rest) in &pieces {
        let (run, after) = std::mem::take(&mut room).split_at_mut(1 + rest.len());
        runs.push(run);
        room = after;
    }
    pieces
        .into_par_iter()
        .zip(runs)
        .for_each(|((first, rest), run)| {
            run[0].write(first);
            for (slot, item) in run[1..].iter_mut().zip(rest) {
                slot.write(item);
            }
        });
    // SAFETY: the runs are disjoint, together cover the `total` slots after `start`, and each
    // run was filled completely: its first slot with the piece's first item, the others with
    // the piece's rest, which has exactly as many items as the run has remaining slots.
    unsafe { out.set_len(start + total) };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_pieces_keep_their_order_on_both_paths() {
        for rest_len in [3, PARALLEL_APPEND / 10] {
            let pieces: Vec<(String, Vec<String>)> = (0..20)
                .map(|p| {
                    let rest = (0..rest_len).map(|i| format!("{p}/{i}")).collect();
                    (p.to_string(), rest)
                })
                .collect();
            let mut expected = vec!["root".to_string()];
            for (first, rest) in &pieces {
                expected.push(first.clone());
                expected.extend(rest.iter().cloned());
            }
            let mut out = vec!["root".to_string()];
            append_pieces(&mut out, pieces);
            assert_eq!(out, expected, "pieces of {rest_len}");
        }
    }
}
