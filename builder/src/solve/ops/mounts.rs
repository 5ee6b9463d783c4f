//! `RUN --mount` as BuildKit gives it: what each mount contributes to the step's cache key,
//! and the filesystems the sandbox shows the command.
//!
//! - `type=bind` shows a path of the context (through `.dockerignore`), a stage or an image;
//!   read-only unless `rw`, and then writes are thrown away after the run. Its content is part
//!   of the cache key: the context's files by content digest, a stage or image by its key.
//! - `type=cache` is a directory under the store root (`cache-mounts/`) that outlives builds,
//!   keyed by `id` (default: the target). Never part of the cache key (a cache may not change
//!   what a step means); `sharing=shared|private|locked` as BuildKit.
//! - `type=tmpfs` is an empty tmpfs; `type=secret` a read-only file (default
//!   `/run/secrets/<id>`, mode 0400) and/or an environment variable, from `--secret`; neither
//!   is part of the cache key, as in BuildKit.
//!
//! Nothing a mount shows, nor its mount point, ends up in the layer (see `sandbox/stubs.rs`).

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

use sha2::{Digest as _, Sha256};
use strata_cache::Store;
use strata_frontend::graph::{ExecOp, MountSource, RunMount};
use strata_frontend::instructions::{MountKind, Sharing};

use crate::context::SourceEntry;
use crate::context::{BuildContext, ContentDigester, EntryKind, PatternSet};
use crate::error::{Error, Result};
use crate::sandbox::{ExtraMount, MountFrom};
use crate::solve::hash_cache::ContextHashCache;
use crate::solve::NamedContexts;
use strata_oci::LayerStack;

/// Secrets passed with `--secret`: id → content.
pub type Secrets = BTreeMap<String, Vec<u8>>;

/// A mount resolved far enough to key the step; [`materialize`] makes it real on a miss.
pub enum Prepared<'m> {
    /// Context files for a bind mount (already walked and digested).
    Context {
        mount: &'m RunMount,
        entries: Vec<SourceEntry>,
    },
    /// A bind mount of a stage's or image's filesystem.
    Layers {
        mount: &'m RunMount,
        lowers: Vec<PathBuf>,
    },
    /// A cache, tmpfs, secret or heredoc mount: nothing to key.
    Other(&'m RunMount),
}

/// What the mounts of `exec` add to the cache key, and their resolved forms. `input` gives
/// the filesystem of the vertex input a mount reads (index into the vertex's inputs). Context
/// files are looked up in the context's file-hash table, as a COPY's are; the table is read
/// only when a mount shows context files.
pub fn prepare<'m>(
    exec: &'m ExecOp,
    context: Option<&BuildContext>,
    named: &NamedContexts,
    input: &dyn Fn(usize) -> Option<(Vec<u8>, LayerStack)>,
    store: &Store,
) -> Result<(Vec<Prepared<'m>>, Vec<Vec<u8>>)> {
    let hashes = context
        .filter(|_| exec.mounts.iter().any(|m| m.source == MountSource::Context))
        .map(|context| ContextHashCache::new(store, context.root()));
    let contexts = Contexts {
        main: context,
        hashes: hashes.as_ref(),
        named,
        store,
    };
    let result = prepare_with(exec, &contexts, input);
    if let Some(hashes) = &hashes {
        hashes.save();
    }
    result
}

/// The directories bind mounts may show: the build context (with its file-hash table, read
/// when a mount shows it) and the named directory contexts.
struct Contexts<'a> {
    main: Option<&'a BuildContext>,
    hashes: Option<&'a ContextHashCache<'a>>,
    named: &'a NamedContexts,
    store: &'a Store,
}

fn prepare_with<'m>(
    exec: &'m ExecOp,
    contexts: &Contexts<'_>,
    input: &dyn Fn(usize) -> Option<(Vec<u8>, LayerStack)>,
) -> Result<(Vec<Prepared<'m>>, Vec<Vec<u8>>)> {
    let mut prepared = Vec::new();
    let mut key_parts = Vec::new();
    for mount in &exec.mounts {
        let spec = &mount.mount;
        match spec.kind {
            MountKind::Ssh => {
                return Err(Error::Unsupported {
                    what: "RUN --mount=type=ssh is not supported yet".into(),
                })
            }
            MountKind::Cache if spec.from.is_some() => {
                return Err(Error::Unsupported {
                    what: "RUN --mount=type=cache with `from` is not supported yet".into(),
                })
            }
            MountKind::Bind => {}
            _ => {
                prepared.push(Prepared::Other(mount));
                continue;
            }
        }
        let source = spec.source.as_deref().unwrap_or("/");
        match &mount.source {
            MountSource::Context => {
                let context = contexts.main.ok_or_else(|| Error::BadSource {
                    source_path: source.to_string(),
                    reason: "there is no build context to mount (the Dockerfile came from stdin with `-`)".into(),
                })?;
                let hashes = contexts
                    .hashes
                    .expect("read when a mount shows context files");
                let (entries, digest) = context_files(context, source, hashes)?;
                key_parts.push(digest);
                prepared.push(Prepared::Context { mount, entries });
            }
            MountSource::NamedContext(name) => {
                let context = named_context(contexts.named, name)?;
                let hashes = ContextHashCache::new(contexts.store, context.root());
                let found = context_files(context, source, &hashes);
                hashes.save();
                let (entries, digest) = found?;
                key_parts.push(digest);
                prepared.push(Prepared::Context { mount, entries });
            }
            MountSource::Stage(_) | MountSource::Image(_) | MountSource::Scratch => {
                let (key, stack) = mount
                    .input
                    .and_then(input)
                    .unwrap_or_else(|| (b"scratch".to_vec(), LayerStack::new(Vec::new())));
                key_parts.push(key);
                prepared.push(Prepared::Layers {
                    mount,
                    lowers: stack.layers().to_vec(),
                });
            }
            MountSource::None => prepared.push(Prepared::Other(mount)),
        }
    }
    Ok((prepared, key_parts))
}

/// The files of a context a bind mount shows (`source` names one path), and their content
/// digest for the step's key.
fn context_files(
    context: &BuildContext,
    source: &str,
    hashes: &ContextHashCache<'_>,
) -> Result<(Vec<SourceEntry>, Vec<u8>)> {
    let found = context.resolve_source(source)?;
    let [found] = found.as_slice() else {
        return Err(Error::BadSource {
            source_path: source.to_string(),
            reason: "a bind mount's source must name one path".into(),
        });
    };
    let entries = context.walk_source(found, &PatternSet::default())?;
    let digest = ContentDigester::new(hashes).digest_entries(&entries)?;
    Ok((entries, digest.to_vec()))
}

/// The directory of a named context the graph reads.
pub(super) fn named_context<'c>(named: &'c NamedContexts, name: &str) -> Result<&'c BuildContext> {
    named.get(name).ok_or_else(|| Error::BadSource {
        source_path: format!("context `{name}`"),
        reason: "no directory was given for this named context (`--build-context NAME=DIR`)".into(),
    })
}

/// What a RUN gets from its mounts.
pub struct Materialized {
    /// The filesystems the sandbox mounts.
    pub mounts: Vec<ExtraMount>,
    /// Environment variables from `type=secret,env=…`.
    pub env: Vec<(String, String)>,
    /// Keeps the cache mounts reserved until the run is over.
    pub _leases: Vec<CacheLease>,
}

/// The sandbox's view of prepared mounts, plus heredoc scripts (`exec.files`) and the
/// environment secrets add. `scratch` is the step's private dir; `cache_root` holds cache
/// mounts.
pub fn materialize(
    exec: &ExecOp,
    prepared: &[Prepared<'_>],
    secrets: &Secrets,
    cache_root: &Path,
    scratch: &Path,
) -> Result<Materialized> {
    let mut mounts = Vec::new();
    let mut env = Vec::new();
    let mut leases = Vec::new();
    for (n, item) in prepared.iter().enumerate() {
        let own_dir = scratch.join(format!("mount-{n}"));
        match item {
            Prepared::Context { mount, entries } => {
                let spec = &mount.mount;
                let is_dir = entries.first().is_some_and(|e| e.kind == EntryKind::Dir);
                let name = if is_dir { "" } else { "file" };
                link_farm(entries, &own_dir, name)?;
                mounts.push(ExtraMount {
                    target: target_of(spec.target.as_deref()),
                    source: MountFrom::Layers {
                        lowers: vec![own_dir],
                        path: format!("/{name}"),
                    },
                    readonly: spec.readonly,
                });
            }
            Prepared::Layers { mount, lowers } => {
                let spec = &mount.mount;
                mounts.push(ExtraMount {
                    target: target_of(spec.target.as_deref()),
                    source: MountFrom::Layers {
                        lowers: lowers.clone(),
                        path: spec.source.clone().unwrap_or_else(|| "/".into()),
                    },
                    readonly: spec.readonly,
                });
            }
            Prepared::Other(mount) => {
                let spec = &mount.mount;
                match spec.kind {
                    MountKind::Tmpfs => mounts.push(ExtraMount {
                        target: target_of(spec.target.as_deref()),
                        source: MountFrom::Tmpfs { size: spec.size },
                        readonly: false,
                    }),
                    MountKind::Cache => {
                        let target = target_of(spec.target.as_deref());
                        let id = spec.id.clone().unwrap_or_else(|| target.clone());
                        let (dir, lease) = cache_dir(cache_root, &id, spec, &own_dir, &leases)?;
                        leases.extend(lease);
                        mounts.push(ExtraMount {
                            target,
                            source: MountFrom::Host(dir),
                            readonly: spec.readonly,
                        });
                    }
                    MountKind::Secret => {
                        let id = spec
                            .id
                            .clone()
                            .or_else(|| spec.source.clone())
                            .or_else(|| {
                                spec.target
                                    .as_deref()
                                    .and_then(|t| t.rsplit('/').next())
                                    .map(str::to_string)
                            })
                            .unwrap_or_default();
                        let Some(data) = secrets.get(&id) else {
                            if spec.required {
                                return Err(Error::BadSource {
                                    source_path: format!("secret `{id}`"),
                                    reason: format!(
                                        "required but not provided: pass it with `--secret id={id},src=FILE`"
                                    ),
                                });
                            }
                            continue;
                        };
                        if let Some(var) = &spec.env {
                            env.push((var.clone(), String::from_utf8_lossy(data).into_owned()));
                        }
                        let target = match (&spec.target, &spec.env) {
                            (Some(target), _) => target.clone(),
                            (None, None) => format!("/run/secrets/{id}"),
                            (None, Some(_)) => continue,
                        };
                        let file = own_dir.join("secret");
                        write_private(
                            &file,
                            data,
                            spec.mode.unwrap_or(0o400),
                            spec.uid.unwrap_or(0),
                            spec.gid.unwrap_or(0),
                        )?;
                        mounts.push(ExtraMount {
                            target,
                            source: MountFrom::Host(file),
                            readonly: true,
                        });
                    }
                    MountKind::Bind | MountKind::Ssh => {
                        unreachable!("bind and ssh mounts are prepared or refused above")
                    }
                }
            }
        }
    }
    for (n, file) in exec.files.iter().enumerate() {
        let host = scratch.join(format!("file-{n}"));
        write_private(&host, file.content.as_bytes(), file.mode, 0, 0)?;
        mounts.push(ExtraMount {
            target: file.path.clone(),
            source: MountFrom::Host(host),
            readonly: true,
        });
    }
    Ok(Materialized {
        mounts,
        env,
        _leases: leases,
    })
}

fn target_of(target: Option<&str>) -> String {
    target.unwrap_or("/").to_string()
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn write_private(path: &Path, data: &[u8], mode: u32, uid: u32, gid: u32) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io(parent))?;
    }
    fs::write(path, data).map_err(io(path))?;
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(io(path))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode & 0o7777)).map_err(io(path))
}

/// The context entries under `dir` (at `dir/name` for a file): hard links where possible, so
/// even a large context mounts in milliseconds. The overlay above never writes to them.
fn link_farm(entries: &[SourceEntry], dir: &Path, name: &str) -> Result<()> {
    fs::create_dir_all(dir).map_err(io(dir))?;
    for entry in entries {
        let path = match (entry.rel.as_str(), name) {
            ("", "") => dir.to_path_buf(),
            ("", name) => dir.join(name),
            (rel, _) => dir.join(rel),
        };
        match &entry.kind {
            EntryKind::Dir => {
                fs::create_dir_all(&path).map_err(io(&path))?;
                fs::set_permissions(&path, fs::Permissions::from_mode(entry.meta.mode()))
                    .map_err(io(&path))?;
            }
            EntryKind::File => {
                if fs::hard_link(&entry.host_path, &path).is_err() {
                    fs::copy(&entry.host_path, &path).map_err(io(&path))?;
                }
            }
            EntryKind::Symlink { target } => {
                std::os::unix::fs::symlink(target, &path).map_err(io(&path))?;
            }
            EntryKind::Special => {}
        }
    }
    Ok(())
}

/// Cache mounts in use by this process: id → users, and the condition `locked` waits on.
static IN_USE: Mutex<Option<HashMap<String, usize>>> = Mutex::new(None);
static RELEASED: Condvar = Condvar::new();

/// A cache mount's reservation for one run; dropping it frees the cache.
pub struct CacheLease(String);

impl Drop for CacheLease {
    fn drop(&mut self) {
        let mut in_use = IN_USE.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(users) = in_use.get_or_insert_with(HashMap::new).get_mut(&self.0) {
            *users -= 1;
        }
        RELEASED.notify_all();
    }
}

/// The directory of cache `id`, created on first use with the mount's mode and owner.
fn cache_dir(
    root: &Path,
    id: &str,
    spec: &strata_frontend::instructions::Mount,
    own_dir: &Path,
    held: &[CacheLease],
) -> Result<(PathBuf, Option<CacheLease>)> {
    let name = hex::encode(Sha256::digest(id.as_bytes()));
    let dir = root.join(&name);
    // The same cache mounted twice by one RUN: the run already holds it; waiting for itself
    // (`locked`) would never end.
    let sharing = match spec.sharing.unwrap_or(Sharing::Shared) {
        Sharing::Locked if held.iter().any(|lease| lease.0 == name) => Sharing::Shared,
        sharing => sharing,
    };
    let mut in_use = IN_USE.lock().unwrap_or_else(|p| p.into_inner());
    let chosen = loop {
        let users = *in_use
            .get_or_insert_with(HashMap::new)
            .get(&name)
            .unwrap_or(&0);
        match sharing {
            Sharing::Locked if users > 0 => {
                in_use = RELEASED.wait(in_use).unwrap_or_else(|p| p.into_inner());
            }
            // Busy: a private cache gets a fresh directory for this run only.
            Sharing::Private if users > 0 => break own_dir.join("cache"),
            _ => break dir.clone(),
        }
    };
    let lease = if chosen == dir {
        *in_use
            .get_or_insert_with(HashMap::new)
            .entry(name.clone())
            .or_insert(0) += 1;
        Some(CacheLease(name))
    } else {
        None
    };
    drop(in_use);
    if !chosen.is_dir() {
        // `cache-mounts/` itself is private, as everything under the store root (a cache may
        // hold what a RUN made setuid); the cache inside has the mount's mode for the RUN.
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .map_err(io(root))?;
        let building = chosen.with_extension("new");
        let _ = fs::remove_dir_all(&building);
        fs::create_dir_all(&building).map_err(io(&building))?;
        std::os::unix::fs::chown(
            &building,
            Some(spec.uid.unwrap_or(0)),
            Some(spec.gid.unwrap_or(0)),
        )
        .map_err(io(&building))?;
        fs::set_permissions(
            &building,
            fs::Permissions::from_mode(spec.mode.unwrap_or(0o755) & 0o7777),
        )
        .map_err(io(&building))?;
        fs::rename(&building, &chosen).map_err(io(&chosen))?;
    }
    Ok((chosen, lease))
}
