//! Named build contexts (`--build-context NAME=…`, BuildKit's `context:NAME` option): a name
//! that stands for an image or a directory wherever the Dockerfile names a base or a source
//! — `FROM NAME`, `COPY --from=NAME`, `RUN --mount=from=NAME`.
//!
//! As in BuildKit's Dockerfile frontend:
//! - a stage whose `AS` name has a context is replaced by it: its instructions are not
//!   built, and whatever reads the stage (a `FROM`, a `--from`) reads the context;
//! - a `FROM`, `--from` or `from=` that names no stage looks the name up among the contexts
//!   before taking it for an image (`scratch` stays the empty filesystem);
//! - names are compared as buildx keys them: docker's familiar form without `:latest`, so
//!   `--build-context alpine=…` serves `FROM alpine`, `FROM alpine:latest` and
//!   `FROM docker.io/library/alpine`, but not `FROM alpine:3.20`.
//!
//! An image context is just another reference (the CLI turns `oci-layout://` into an image in
//! the store). A directory context is a root vertex of its own ([`Op::NamedContext`]): COPY
//! and bind mounts read it as they read the build context; `FROM` it starts the stage with
//! its files, copied onto the empty filesystem as one layer (BuildKit's local source).

use super::plan::{Base, Source};
use super::state::StageState;
use super::{BuildOptions, Compiler};
use crate::graph::{CopyFrom, CopyOp, CopySource, Op, VertexId};
use crate::reference::split_domain;

/// What a named context is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamedContext {
    /// An image, by reference (`docker-image://REF`; an OCI layout loaded into the store).
    Image(String),
    /// A directory (the builder is handed it under the context's name).
    Local,
}

/// The key a name is looked up by, as buildx's `ParseContextNames` and BuildKit's
/// `NamedContext` compute it: docker's familiar form of the normalized reference, `:latest`
/// dropped.
pub fn context_key(name: &str) -> String {
    let (rest, digest) = match name.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (name, None),
    };
    // A tag's `:` comes after the last `/` (a registry's port comes before it).
    let last = rest.rfind('/').map_or(0, |i| i + 1);
    let (path, tag) = match rest[last..].find(':') {
        Some(i) => (&rest[..last + i], Some(&rest[last + i + 1..])),
        None => (rest, None),
    };
    let familiar = match split_domain(path) {
        Some(("docker.io" | "index.docker.io", repo)) => familiar_repo(repo),
        Some(_) => path,
        None => familiar_repo(path),
    };
    let mut key = familiar.to_string();
    if let Some(tag) = tag {
        key.push(':');
        key.push_str(tag);
    }
    if let Some(digest) = digest {
        key.push('@');
        key.push_str(digest);
    }
    key.strip_suffix(":latest")
        .map_or(key.clone(), str::to_string)
}

/// A docker.io repository in familiar form: `library/` dropped for official images.
fn familiar_repo(repo: &str) -> &str {
    match repo.strip_prefix("library/") {
        Some(short) if !short.contains('/') => short,
        _ => repo,
    }
}

/// The base a `FROM` word (or a stage's `AS` name) means when a context has that name.
pub(super) fn base(options: &BuildOptions, name: &str) -> Option<Base> {
    let key = context_key(name);
    options
        .named_contexts
        .get(&key)
        .map(|context| match context {
            NamedContext::Image(reference) => Base::Image(reference.clone()),
            NamedContext::Local => Base::Local(key),
        })
}

/// What a `--from` or `from=` that names no stage reads: a context of that name, else the
/// image it names.
pub(super) fn source(options: &BuildOptions, name: String) -> Source {
    let key = context_key(&name);
    match options.named_contexts.get(&key) {
        Some(NamedContext::Image(reference)) => Source::Image(reference.clone()),
        Some(NamedContext::Local) => Source::Local(key),
        None => Source::Image(name),
    }
}

/// The root vertex of a directory context.
pub(super) fn context_vertex(c: &mut Compiler<'_>, key: &str) -> VertexId {
    let op = Op::NamedContext {
        name: key.to_string(),
    };
    c.add_vertex(op, Vec::new(), String::new(), (0, 0))
}

/// `FROM <directory context>`: the empty filesystem with the context's files copied in, one
/// layer, recorded in the history as the step that made it.
pub(super) fn local_base(
    c: &mut Compiler<'_>,
    state: &mut StageState,
    key: &str,
    lines: (usize, usize),
) -> VertexId {
    let scratch = c.add_vertex(Op::Scratch, Vec::new(), String::new(), lines);
    let source = context_vertex(c, key);
    let op = Op::Copy(CopyOp {
        add: false,
        sources: vec![CopySource::Path(".".into())],
        dest: "/".into(),
        workdir: "/".into(),
        from: CopyFrom::NamedContext(key.to_string()),
        chown: None,
        chmod: None,
        chmod_symbolic: None,
        exclude: Vec::new(),
        parents: false,
        link: false,
        checksum: None,
        keep_git_dir: false,
    });
    let name = state.step_name(&format!("FROM {key} (context)"));
    let vertex = c.add_vertex(op, vec![scratch, source], name, lines);
    state.record(format!("FROM {key} (build context)"), Some(vertex));
    vertex
}

#[cfg(test)]
mod tests {
    use super::context_key;

    #[test]
    fn keys_are_buildx_s_familiar_names() {
        for (name, key) in [
            ("alpine", "alpine"),
            ("alpine:latest", "alpine"),
            ("docker.io/library/alpine:latest", "alpine"),
            ("index.docker.io/library/alpine", "alpine"),
            ("alpine:3.20", "alpine:3.20"),
            ("docker.io/myorg/app:1", "myorg/app:1"),
            ("library/a/b", "library/a/b"),
            ("127.0.0.1:5000/app:latest", "127.0.0.1:5000/app"),
            ("localhost:5000/app:2", "localhost:5000/app:2"),
            ("build", "build"),
            ("app@sha256:abc", "app@sha256:abc"),
        ] {
            assert_eq!(context_key(name), key, "{name}");
        }
    }
}
