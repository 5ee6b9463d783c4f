//! COPY and ADD as a step (BuildKit's file op with its copy and unpack actions).
//!
//! The key hashes exactly the files the step reads — resolved through `.dockerignore`,
//! wildcards and symlinks (`copy_sources.rs`) and digested by content — not the whole context
//! or source stage: editing a file nobody copies misses nothing. The resolved list is kept for
//! the copy itself, so a miss does not walk the sources twice.
//!
//! ADD unpacks a local tar archive (recognised by content, as docker does) instead of copying
//! it: [`archive_of`] decides, once per source.

use strata_frontend::graph::{CopyFrom, CopyOp as CopySpec, Graph};

use super::copy_sources::{self, Origin};
use super::mounts;
use super::{ExecContext, Op, OpContext};
use crate::context::EntryKind;
use crate::copy::archive::{self, Compression};
use crate::copy::{copy_into_layer_reusing, CopyOptions, CopySource, WrittenFiles};
use crate::error::Result;
use crate::solve::hash_cache::{ContextHashCache, IndexHashCache};
use crate::solve::reuse;
use crate::solve::state::cache_key;
use crate::users::UserDb;
use strata_cache::Digest;

/// A COPY or ADD.
pub(super) struct CopyOp<'g> {
    spec: &'g CopySpec,
    /// How errors name a `--from` source (``stage `build` ``, ``image `alpine:3` ``).
    place: Option<String>,
    /// The sources, resolved and digested by [`Op::cache_map`].
    sources: Vec<CopySource>,
    /// What a copy from the context wrote, remembered once it is a layer.
    written: Option<(Digest, WrittenFiles)>,
}

impl<'g> CopyOp<'g> {
    pub(super) fn new(spec: &'g CopySpec, graph: &Graph) -> Self {
        let place = match &spec.from {
            CopyFrom::Context | CopyFrom::NamedContext(_) => None,
            CopyFrom::Stage(slot) => Some(match &graph.stages[*slot].name {
                Some(name) => format!("stage `{name}`"),
                None => format!("stage {}", graph.stages[*slot].index),
            }),
            CopyFrom::Image(image) => Some(format!("image `{image}`")),
        };
        CopyOp {
            spec,
            place,
            sources: Vec::new(),
            written: None,
        }
    }

    /// The step's key without its content part: the same COPY on the same parent. What it
    /// wrote last time lets unchanged files be linked, not copied again.
    fn lineage(cx: &OpContext<'_>) -> Digest {
        cache_key(&[b"copy-lineage", cx.parent.key.bytes(), cx.digest.as_bytes()])
    }
}

impl Op for CopyOp<'_> {
    fn cache_map(&mut self, cx: &OpContext<'_>) -> Result<Vec<Vec<u8>>> {
        let origin = match (&self.place, cx.inputs.first()) {
            (None, _) => match (&self.spec.from, cx.request.context) {
                (CopyFrom::NamedContext(name), _) => {
                    Origin::Context(mounts::named_context(&cx.request.named_contexts, name)?)
                }
                (_, Some(context)) => Origin::Context(context),
                (_, None) => Origin::NoContext,
            },
            (Some(place), Some(source)) => {
                cx.snapshots.ensure(&source.layers)?;
                Origin::View(cx.snapshots.view(&source.layers), place.clone())
            }
            (Some(_), None) => unreachable!("copies from stages and images have a source input"),
        };
        // The context's file-hash table is read while the context is walked.
        let (resolved, remembered) = rayon::join(
            || copy_sources::resolve(self.spec, &origin, cx.scratch),
            || match &origin {
                Origin::Context(context) => Some(ContextHashCache::new(cx.store, context.root())),
                Origin::View(..) | Origin::NoContext => None,
            },
        );
        let mut sources = resolved?;
        let content = match &remembered {
            Some(cache) => {
                let content = copy_sources::digest(&mut sources, cache);
                cache.save();
                content?
            }
            None => copy_sources::digest(&mut sources, &IndexHashCache(cx.store))?,
        };
        self.sources = sources;
        Ok(vec![content.bytes().to_vec()])
    }

    fn exec(&mut self, cx: &OpContext<'_>, exec: &ExecContext<'_>) -> Result<()> {
        let spec = self.spec;
        let view = exec.view;
        let chown = match &spec.chown {
            Some(owner) => Some(UserDb::load(|p| view.read_file(p)).resolve_chown(owner)?),
            None => None,
        };
        let options = CopyOptions {
            dest: spec.dest.clone(),
            workdir: spec.workdir.clone(),
            chown,
            chmod: spec.chmod,
            parents: spec.parents,
        };
        let mut archives = Vec::new();
        let mut plain = Vec::new();
        for source in std::mem::take(&mut self.sources) {
            match archive_of(spec, &source) {
                Some(compression) => archives.push((source, compression)),
                None => plain.push(source),
            }
        }
        let lineage = Self::lineage(cx);
        let from_context = matches!(spec.from, CopyFrom::Context);
        // `--no-cache` recomputes everything from the sources, links included.
        let reuse = if from_context && !cx.request.no_cache {
            reuse::earlier(cx.store, &lineage)?
        } else {
            None
        };
        let mut written = WrittenFiles::default();
        if !plain.is_empty() {
            written = copy_into_layer_reusing(&plain, &options, view, exec.upper, reuse.as_ref())?;
        }
        // Unpacked archives may overwrite copied files: then the record would lie.
        if from_context && archives.is_empty() {
            self.written = Some((lineage, written));
        }
        for (source, compression) in archives {
            // The destination is made like a copy's (parents mirror the image, new
            // directories belong to the --chown user), then the archive goes in.
            let dest = crate::copy::absolute_dest(&spec.dest, &spec.workdir);
            let dir_options = CopyOptions {
                dest: format!("{}/", dest.trim_end_matches('/')),
                ..options.clone()
            };
            crate::copy::ensure_dir_in_layer(&dir_options, view, exec.upper)?;
            let dest_host = exec
                .upper
                .join(view.resolve(&dest)?.trim_start_matches('/'));
            let path = &source.entries[0].host_path;
            archive::unpack(path, compression, &dest_host, chown)?;
        }
        Ok(())
    }

    fn committed(&mut self, cx: &OpContext<'_>, diff_id: Digest) -> Result<()> {
        match self.written.take() {
            Some((lineage, written)) => reuse::remember(cx.store, &lineage, diff_id, written),
            None => Ok(()),
        }
    }
}

impl Drop for CopyOp<'_> {
    /// After a cache hit the resolved sources are unused: they are freed on a pool thread, as
    /// a big context's list is tens of thousands of allocations the build need not wait for.
    fn drop(&mut self) {
        let sources = std::mem::take(&mut self.sources);
        if !sources.is_empty() {
            rayon::spawn(move || drop(sources));
        }
    }
}

/// Whether ADD unpacks `source` rather than copying it, and with which decompression: only
/// ADD, only a single regular file from the context (never a download, a heredoc or another
/// stage's file, as in BuildKit), only when its content is a tar archive.
pub(super) fn archive_of(spec: &CopySpec, source: &CopySource) -> Option<Compression> {
    let [entry] = source.entries.as_slice() else {
        return None;
    };
    if !spec.add || !source.unpack || entry.kind != EntryKind::File {
        return None;
    }
    archive::detect(&entry.host_path).ok().flatten()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use strata_frontend::graph::CopySource as SourceSpec;

    use super::*;
    use crate::context::{EntryMeta, SourceEntry};

    fn spec(add: bool) -> CopySpec {
        CopySpec {
            add,
            sources: vec![SourceSpec::Path("a".into())],
            dest: "/dst/".into(),
            workdir: "/".into(),
            from: CopyFrom::Context,
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

    fn file_source(path: &Path, unpack: bool) -> CopySource {
        CopySource {
            name: "a".into(),
            rel: "a".into(),
            entries: vec![SourceEntry {
                rel: String::new(),
                host_path: path.to_path_buf(),
                meta: EntryMeta::of(&std::fs::symlink_metadata(path).unwrap()),
                kind: EntryKind::File,
            }],
            keep_owner: false,
            unpack,
            content: Vec::new(),
        }
    }

    /// A one-file tar archive at `dir/name`.
    fn tar_file(dir: &Path, name: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        let mut builder = tar::Builder::new(std::fs::File::create(&path).unwrap());
        let mut header = tar::Header::new_ustar();
        header.set_size(2);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, "inside", &b"hi"[..])
            .unwrap();
        builder.finish().unwrap();
        path
    }

    #[test]
    fn add_unpacks_a_context_tar_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let tar = tar_file(dir.path(), "app.bin");
        let text = dir.path().join("app.tar");
        std::fs::write(&text, "not an archive, whatever the name says").unwrap();

        assert_eq!(
            archive_of(&spec(true), &file_source(&tar, true)),
            Some(Compression::None),
            "recognised by content, not by name"
        );
        assert_eq!(
            archive_of(&spec(false), &file_source(&tar, true)),
            None,
            "COPY copies"
        );
        assert_eq!(
            archive_of(&spec(true), &file_source(&tar, false)),
            None,
            "a download, heredoc or another stage's file is copied"
        );
        assert_eq!(archive_of(&spec(true), &file_source(&text, true)), None);
        let mut two = file_source(&tar, true);
        two.entries.push(two.entries[0].clone());
        assert_eq!(archive_of(&spec(true), &two), None, "a directory is copied");
    }
}
