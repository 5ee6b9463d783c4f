//! Where COPY/ADD sources come from: the build context (through `.dockerignore`, with the
//! file-hash index), another stage's or an image's filesystem (a layered view), or inline
//! heredoc content. Each yields [`CopySource`]s for the copy engine and a content digest for
//! the cache key.

use std::fs;
use std::path::Path;

use sha2::{Digest as _, Sha256};
use strata_cache::Digest;
use strata_frontend::graph::{CopyOp, CopySource as SourceSpec};
use strata_frontend::stages::{is_git, is_remote};

use crate::context::{
    clean_relative, BuildContext, ContentDigester, EntryKind, EntryMeta, FileHashCache, PatternSet,
    SourceEntry,
};
use crate::copy::CopySource;
use crate::error::{Error, Result};
use crate::fetch::fetch;
use strata_oci::LayerStack;
use strata_oci::MAX_DEPTH;

/// Where a copy reads from, resolved.
pub enum Origin<'a> {
    /// The build context.
    Context(&'a BuildContext),
    /// A layered filesystem (another stage, an image), and how errors name it
    /// (``stage `build` ``, ``image `alpine:3` ``).
    View(LayerStack, String),
    /// No context at all (the Dockerfile came from stdin): only URLs and heredocs can be read.
    NoContext,
}

/// Resolves every source of a copy; `inline_dir` receives heredoc files.
pub fn resolve(op: &CopyOp, origin: &Origin<'_>, inline_dir: &Path) -> Result<Vec<CopySource>> {
    let excludes =
        PatternSet::new(op.exclude.iter().map(String::as_str)).map_err(|e| Error::BadSource {
            source_path: e.pattern.clone(),
            reason: e.reason.clone(),
        })?;
    let mut sources = Vec::new();
    for spec in &op.sources {
        match spec {
            SourceSpec::Inline { name, content } => {
                let path = inline_dir.join(name);
                fs::write(&path, content).map_err(|source| Error::Io {
                    path: path.clone(),
                    source,
                })?;
                use std::os::unix::fs::PermissionsExt;
                fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).map_err(
                    |source| Error::Io {
                        path: path.clone(),
                        source,
                    },
                )?;
                let meta = fs::symlink_metadata(&path).map_err(|source| Error::Io {
                    path: path.clone(),
                    source,
                })?;
                sources.push(CopySource {
                    name: name.clone(),
                    rel: name.clone(),
                    entries: vec![SourceEntry {
                        rel: String::new(),
                        host_path: path,
                        meta: EntryMeta::of(&meta),
                        kind: EntryKind::File,
                    }],
                    keep_owner: false,
                    unpack: false,
                    content: Vec::new(),
                });
            }
            SourceSpec::Path(path) if op.add && is_git(path, true) => {
                return Err(Error::BadSource {
                    source_path: path.clone(),
                    reason: "ADD from a git repository is not supported yet".into(),
                })
            }
            SourceSpec::Path(path) if op.add && is_remote(path, true) => {
                let fetched = fetch(path, op.checksum.as_deref(), inline_dir)?;
                let meta = fs::symlink_metadata(&fetched.path).map_err(|source| Error::Io {
                    path: fetched.path.clone(),
                    source,
                })?;
                sources.push(CopySource {
                    rel: fetched.name.clone(),
                    name: fetched.name,
                    entries: vec![SourceEntry {
                        rel: String::new(),
                        host_path: fetched.path,
                        meta: EntryMeta::of(&meta),
                        kind: EntryKind::File,
                    }],
                    keep_owner: false,
                    unpack: false,
                    content: Vec::new(),
                });
            }
            SourceSpec::Path(path) => {
                match origin {
                    Origin::NoContext => return Err(Error::BadSource {
                        source_path: path.clone(),
                        reason:
                            "there is no build context (the Dockerfile came from stdin with `-`)"
                                .into(),
                    }),
                    Origin::Context(context) => {
                        for found in context.resolve_source(path)? {
                            let entries = context.walk_source(&found, &excludes)?;
                            sources.push(CopySource {
                                name: base_name(&found.rel, path),
                                rel: found.rel.clone(),
                                entries,
                                keep_owner: false,
                                unpack: true,
                                content: Vec::new(),
                            });
                        }
                    }
                    Origin::View(view, place) => {
                        let cleaned = clean_relative(path);
                        // A wildcard matches in the stage's filesystem as in the context's; one
                        // that matches nothing copies nothing (BuildKit's AllowEmptyWildcard).
                        let matched = if has_wildcard(&cleaned) {
                            expand_view_wildcard(view, &cleaned, path)?
                        } else {
                            vec![cleaned]
                        };
                        for rel in matched {
                            let (resolved, found) = view_source(view, &rel, path, place)?;
                            let mut entries = Vec::new();
                            walk_view(view, &resolved, "", found, &excludes, &mut entries)?;
                            sources.push(CopySource {
                                name: base_name(&rel, path),
                                rel,
                                entries,
                                keep_owner: true,
                                unpack: false,
                                content: Vec::new(),
                            });
                        }
                    }
                }
            }
        }
    }
    // Sources that were all wildcards matching nothing leave nothing to copy: the step still
    // succeeds and makes nothing, not even the destination (BuildKit, docker 20.10 included).
    Ok(sources)
}

fn has_wildcard(path: &str) -> bool {
    path.contains(['*', '?', '['])
}

/// Looks a source up in a stage's or image's filesystem, following its symlinks: the resolved
/// path and what is there. A path that is not there is an error that says where it looked and,
/// when a symlink led elsewhere, where it led.
fn view_source(
    view: &LayerStack,
    rel: &str,
    written: &str,
    place: &str,
) -> Result<(String, strata_oci::Found)> {
    let unresolved = format!("/{rel}");
    let resolved = view.resolve(&unresolved)?;
    match view.lookup(&resolved)? {
        Some(found) => Ok((resolved, found)),
        None if resolved.trim_end_matches('/') != unresolved.trim_end_matches('/') => {
            Err(Error::DanglingSource {
                source_path: written.to_string(),
                place: place.to_string(),
                missing: resolved,
            })
        }
        None => Err(Error::SourceNotFoundIn {
            source_path: written.to_string(),
            place: place.to_string(),
        }),
    }
}

/// Expands a wildcard source in a layered filesystem one path component at a time, as the
/// context's sources are (Go's `filepath.Glob` rules: `*` stops at `/`); names in byte order.
/// Folders on the way are resolved inside the image, so a symlinked folder is listed where it
/// points. Returns the matching paths that exist (relative, as written with the wildcards
/// replaced).
fn expand_view_wildcard(view: &LayerStack, pattern: &str, written: &str) -> Result<Vec<String>> {
    let mut prefixes = vec![String::new()];
    for component in pattern.split('/') {
        let mut next = Vec::new();
        if !has_wildcard(component) {
            for prefix in &prefixes {
                next.push(join_rel(prefix, component));
            }
            prefixes = next;
            continue;
        }
        let glob = crate::context::component_matcher(component, written)?;
        for prefix in &prefixes {
            let dir = view.resolve(&format!("/{prefix}"))?;
            if !view.lookup(&dir)?.is_some_and(|found| found.meta.is_dir()) {
                continue;
            }
            for (name, _) in view.read_dir(&dir)? {
                if glob.is_match(&name) {
                    next.push(join_rel(prefix, &name));
                }
            }
        }
        prefixes = next;
    }
    // Literal components after a wildcard may name nothing (`/a/*/y`), and a match may be a
    // symlink that leads nowhere: those are not matches, as in the context.
    let mut found = Vec::new();
    for rel in prefixes {
        if view.lookup(&view.resolve(&format!("/{rel}"))?)?.is_some() {
            found.push(rel);
        }
    }
    Ok(found)
}

fn join_rel(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}

fn base_name(rel: &str, written: &str) -> String {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    if name.is_empty() {
        written
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or("")
            .to_string()
    } else {
        name.to_string()
    }
}

/// Lists `path` of a layered filesystem and everything below it, in order (a directory before
/// its contents, names sorted), minus `--exclude`. Walked from an explicit stack: a stage can
/// hold a tree of any depth, and a step may run on a thread with a small stack.
fn walk_view(
    view: &LayerStack,
    path: &str,
    rel: &str,
    found: strata_oci::Found,
    excludes: &PatternSet,
    out: &mut Vec<SourceEntry>,
) -> Result<()> {
    // (path in the view, path relative to the source, depth below `path`, what is there)
    let mut pending = vec![(path.to_string(), rel.to_string(), 0, found)];
    while let Some((path, rel, depth, found)) = pending.pop() {
        let file_type = found.meta.file_type();
        let kind = if file_type.is_dir() {
            EntryKind::Dir
        } else if file_type.is_file() {
            EntryKind::File
        } else if file_type.is_symlink() {
            let target = fs::read_link(&found.host_path).map_err(|source| Error::Io {
                path: found.host_path.clone(),
                source,
            })?;
            EntryKind::Symlink {
                target: target.to_string_lossy().into_owned(),
            }
        } else {
            EntryKind::Special
        };
        let is_dir = kind == EntryKind::Dir;
        out.push(SourceEntry {
            rel: rel.clone(),
            host_path: found.host_path,
            meta: EntryMeta::of(&found.meta),
            kind,
        });
        if !is_dir {
            continue;
        }
        let children = view.read_dir(&path)?;
        if depth >= MAX_DEPTH {
            if let Some((name, _)) = children.first() {
                return Err(strata_oci::Error::TooDeep {
                    path: format!("{}/{name}", path.trim_end_matches('/')),
                    max: MAX_DEPTH,
                }
                .into());
            }
        }
        // Pushed in reverse, so they come off the stack in name order.
        for (name, child) in children.into_iter().rev() {
            let child_rel = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            if excludes.is_excluded(&child_rel) {
                continue;
            }
            let child_path = format!("{}/{name}", path.trim_end_matches('/'));
            pending.push((child_path, child_rel, depth + 1, child));
        }
    }
    Ok(())
}

/// The content digest of resolved sources: paths, kinds, modes, contents (and owners for
/// sources that keep them). Each source's per-file digests are kept in its `content`.
pub fn digest(sources: &mut [CopySource], cache: &dyn FileHashCache) -> Result<Digest> {
    let digester = ContentDigester::new(cache);
    let mut hasher = Sha256::new();
    for source in sources.iter_mut() {
        hasher.update(source.rel.as_bytes());
        hasher.update([0]);
        hasher.update(source.name.as_bytes());
        hasher.update([0]);
        let (tree, content) = digester.digest_entries_and_files(&source.entries)?;
        hasher.update(tree);
        source.content = content;
        if source.keep_owner {
            for entry in &source.entries {
                hasher.update(format!("{}:{};", entry.meta.uid(), entry.meta.gid()).as_bytes());
            }
        }
    }
    Ok(Digest::from_bytes(hasher.finalize().into()))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use strata_frontend::graph::CopyFrom;

    use super::*;

    fn op(sources: &[&str]) -> CopyOp {
        CopyOp {
            add: false,
            sources: sources
                .iter()
                .map(|s| SourceSpec::Path(s.to_string()))
                .collect(),
            dest: "/dst/".into(),
            workdir: "/".into(),
            from: CopyFrom::Image("img".into()),
            chown: None,
            chmod: None,
            chmod_symbolic: None,
            exclude: Vec::new(),
            parents: false,
            link: false,
            checksum: None,
            keep_git_dir: false,
        }
    }

    /// A one-layer view: `/a/b/{x1,x2,c/y}`, `/a/b/xl` → `x1`, `/a/blink` → `b`,
    /// `/a/dl` → `/nowhere`.
    fn view() -> (tempfile::TempDir, LayerStack) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("a/b/c")).unwrap();
        for (path, text) in [("a/b/x1", "1"), ("a/b/x2", "2"), ("a/b/c/y", "3")] {
            fs::write(root.join(path), text).unwrap();
        }
        symlink("x1", root.join("a/b/xl")).unwrap();
        symlink("b", root.join("a/blink")).unwrap();
        symlink("/nowhere", root.join("a/dl")).unwrap();
        let stack = LayerStack::new(vec![root.to_path_buf()]);
        (dir, stack)
    }

    fn names(sources: &[CopySource]) -> Vec<(String, String, usize)> {
        sources
            .iter()
            .map(|s| (s.name.clone(), s.rel.clone(), s.entries.len()))
            .collect()
    }

    #[test]
    fn wildcards_match_in_a_stage_filesystem() {
        let (_dir, view) = view();
        let origin = Origin::View(view, "stage `src`".into());
        let inline = tempfile::tempdir().unwrap();
        let found = resolve(&op(&["/a/b/*"]), &origin, inline.path()).unwrap();
        assert_eq!(
            names(&found),
            [
                ("c".into(), "a/b/c".into(), 2),
                ("x1".into(), "a/b/x1".into(), 1),
                ("x2".into(), "a/b/x2".into(), 1),
                ("xl".into(), "a/b/xl".into(), 1),
            ]
        );
        // The matched symlink is followed, as a plain source is.
        assert_eq!(found[3].entries[0].kind, EntryKind::File);
        // A folder on the way may be a symlink; `*` does not cross `/`.
        let found = resolve(&op(&["a/blink/x[12]", "/a/*/y"]), &origin, inline.path()).unwrap();
        assert_eq!(
            names(&found),
            [
                ("x1".into(), "a/blink/x1".into(), 1),
                ("x2".into(), "a/blink/x2".into(), 1),
            ]
        );
        // Nothing matched: nothing to copy, no error.
        assert!(resolve(&op(&["/a/b/*.none"]), &origin, inline.path())
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_missing_source_is_named_where_it_was_looked_for() {
        let (_dir, view) = view();
        let origin = Origin::View(view, "stage `src`".into());
        let inline = tempfile::tempdir().unwrap();
        let err = resolve(&op(&["/a/nope"]), &origin, inline.path())
            .err()
            .unwrap()
            .to_string();
        assert_eq!(err, "source `/a/nope` not found in stage `src`");
        let err = resolve(&op(&["/a/dl"]), &origin, inline.path())
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            err,
            "source `/a/dl` not found in stage `src`: it leads through a symlink to `/nowhere`, which does not exist"
        );
    }

    /// A one-layer view holding `/top/d/d/…/f`, `depth` components below `/top`.
    fn deep_view(depth: usize) -> (tempfile::TempDir, LayerStack) {
        let dir = tempfile::tempdir().unwrap();
        let parent = (1..depth).fold(dir.path().join("top"), |path, _| path.join("d"));
        fs::create_dir_all(&parent).unwrap();
        fs::write(parent.join("f"), "bottom").unwrap();
        let view = LayerStack::new(vec![dir.path().to_path_buf()]);
        (dir, view)
    }

    fn walk(view: &LayerStack) -> Result<Vec<SourceEntry>> {
        let found = view.lookup("/top")?.expect("/top is there");
        let mut entries = Vec::new();
        walk_view(
            view,
            "/top",
            "",
            found,
            &PatternSet::default(),
            &mut entries,
        )?;
        Ok(entries)
    }

    #[test]
    fn a_stage_tree_is_walked_in_order_without_recursion_and_refused_past_the_limit() {
        // COPY --from walks a stage's tree; steps run on rayon's small stacks.
        let (_dir, view) = deep_view(MAX_DEPTH);
        let entries = std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || walk(&view).unwrap())
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(entries.len(), MAX_DEPTH + 1);
        assert_eq!(entries[1].rel, "d");
        assert!(entries.last().unwrap().rel.ends_with("/d/f"));

        let (_dir, view) = deep_view(MAX_DEPTH + 1);
        let err = walk(&view).unwrap_err();
        assert!(
            matches!(err, Error::Oci(strata_oci::Error::TooDeep { .. })),
            "{err}"
        );
        assert!(err.to_string().starts_with("`/top/d/d/"), "{err}");
    }
}
