//! The build context: the directory a build reads COPY/ADD sources from, seen through
//! `.dockerignore`. Paths never leave the context: symlinks are resolved inside it, as
//! BuildKit resolves them inside the context snapshot it receives.

mod digest;
mod dir;
mod meta;
mod patterns;
mod scoped;
mod walk;

use std::fs;
use std::path::{Path, PathBuf};

pub use digest::{ContentDigester, FileHashCache, FileStat, NoFileHashCache};
pub use meta::EntryMeta;
pub use patterns::{PatternError, PatternSet};
use rustix::io::Errno;
use scoped::link_target;
pub use scoped::resolve_in_root;
use strata_oci::resolve_scoped;
pub use walk::{EntryKind, SourceEntry};

use crate::error::{Error, Result};

/// A context directory and the ignore rules that apply to it.
#[derive(Debug, Clone)]
pub struct BuildContext {
    root: PathBuf,
    ignore: PatternSet,
    ignore_file: Option<PathBuf>,
}

/// What a COPY source pattern matched: a path inside the context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceMatch {
    /// Context-relative path with `/` separators (`""` is the context root itself).
    pub rel: String,
    /// Where the content is on the host, symlinks in the path already resolved inside the root.
    pub host_path: PathBuf,
    /// The context-relative path `host_path` is at (`rel` with its symlinks resolved): what
    /// `.dockerignore` is matched against below it.
    pub resolved: String,
}

/// What a context path names once its symlinks are followed, seen through `.dockerignore`.
enum Lookup {
    /// It is there and not excluded.
    Found(SourceMatch),
    /// Nothing is there.
    Missing,
    /// It exists but is excluded, or a symlink on the way is: the context-relative path that
    /// is excluded.
    Excluded(String),
}

impl BuildContext {
    /// Opens a context directory. The ignore file is `<Dockerfile>.dockerignore` next to the
    /// Dockerfile when that exists (BuildKit's rule), else `.dockerignore` in the context root.
    pub fn open(root: &Path, dockerfile: Option<&Path>) -> Result<Self> {
        let root = fs::canonicalize(root).map_err(|source| Error::Io {
            path: root.to_path_buf(),
            source,
        })?;
        let specific = dockerfile.map(|file| {
            let mut name = file.as_os_str().to_owned();
            name.push(".dockerignore");
            PathBuf::from(name)
        });
        let candidates = specific.into_iter().chain([root.join(".dockerignore")]);
        for candidate in candidates {
            match fs::read_to_string(&candidate) {
                Ok(text) => {
                    let ignore = PatternSet::from_ignore_file(&text).map_err(|source| {
                        Error::IgnoreFile {
                            path: candidate.clone(),
                            source,
                        }
                    })?;
                    return Ok(BuildContext {
                        root,
                        ignore,
                        ignore_file: Some(candidate),
                    });
                }
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => {
                    return Err(Error::Io {
                        path: candidate,
                        source,
                    })
                }
            }
        }
        Ok(BuildContext {
            root,
            ignore: PatternSet::default(),
            ignore_file: None,
        })
    }

    /// A context with nothing in it (`strata build -` with the Dockerfile on stdin).
    pub fn empty(root: PathBuf) -> Self {
        BuildContext {
            root,
            ignore: PatternSet::default(),
            ignore_file: None,
        }
    }

    /// The context directory (canonical).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The ignore rules in effect.
    pub fn ignore(&self) -> &PatternSet {
        &self.ignore
    }

    /// The ignore file that was read, if any (named in hints).
    pub fn ignore_file(&self) -> Option<&Path> {
        self.ignore_file.as_deref()
    }

    /// Resolves one COPY/ADD source as written (may contain `*`, `?`, `[..]`) to the paths it
    /// names. A missing source is an error; if it exists but `.dockerignore` hides it, the error
    /// says so. A wildcard that matches nothing is not an error here (docker accepts it beside
    /// other sources); the caller refuses a copy with no sources at all.
    pub fn resolve_source(&self, source: &str) -> Result<Vec<SourceMatch>> {
        let cleaned = clean_relative(source);
        let has_wildcard = cleaned.contains(['*', '?', '[']);
        let matches = if has_wildcard {
            self.expand_wildcard(&cleaned)?
        } else {
            self.lookup(&cleaned)?.into_iter().collect()
        };
        if matches.is_empty() && !has_wildcard {
            return Err(self.not_found(source, &cleaned));
        }
        Ok(matches)
    }

    /// The error for a source that names nothing (with the `.dockerignore` hint if it applies).
    pub fn source_not_found(&self, source: &str) -> Error {
        self.not_found(source, &clean_relative(source))
    }

    fn lookup(&self, rel: &str) -> Result<Option<SourceMatch>> {
        match self.lookup_visible(rel)? {
            Lookup::Found(found) => Ok(Some(found)),
            Lookup::Missing | Lookup::Excluded(_) => Ok(None),
        }
    }

    /// Resolves `rel` inside the root as BuildKit resolves it in the context it was sent: the
    /// files `.dockerignore` excludes are not there, so neither a symlink that is excluded nor
    /// the path a symlink leads to may be excluded. Otherwise `link -> secret` or
    /// `dirlink/secret` (with `dirlink -> .`) would read an excluded file.
    fn lookup_visible(&self, rel: &str) -> Result<Lookup> {
        let ignore = &self.ignore;
        let mut excluded = None;
        let resolved = resolve_scoped(rel, |prefix| -> Result<Option<String>> {
            if excluded.is_some() {
                // Past an excluded symlink nothing is read: the answer is known.
                return Ok(None);
            }
            let target = link_target(&self.root, prefix)?;
            if target.is_some() && !ignore.is_empty() && ignore.is_excluded(prefix) {
                excluded = Some(prefix.to_string());
                return Ok(None);
            }
            Ok(target)
        })?;
        if let Some(path) = excluded {
            return Ok(Lookup::Excluded(path));
        }
        let host_path = self.root.join(&resolved);
        match fs::symlink_metadata(&host_path) {
            Ok(meta) if !resolved.is_empty() && ignore.is_excluded(&resolved) => {
                let found = SourceMatch {
                    rel: rel.to_string(),
                    host_path,
                    resolved,
                };
                // An excluded directory is still sent, holding what a `!pattern` re-includes
                // below it (`gen` with `!gen/keep.txt`): then it is there, with just that.
                if meta.is_dir()
                    && ignore.has_negations()
                    && self.walk_source(&found, &PatternSet::default())?.len() > 1
                {
                    return Ok(Lookup::Found(found));
                }
                Ok(Lookup::Excluded(found.resolved))
            }
            Ok(_) => Ok(Lookup::Found(SourceMatch {
                rel: rel.to_string(),
                host_path,
                resolved,
            })),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Lookup::Missing),
            // A file where the path needs a directory (`file/x`) names nothing either.
            Err(err) if Errno::from_io_error(&err) == Some(Errno::NOTDIR) => Ok(Lookup::Missing),
            Err(source) => Err(Error::Io {
                path: host_path,
                source,
            }),
        }
    }

    /// Expands a wildcard one path component at a time, as Go's `filepath.Glob` does.
    fn expand_wildcard(&self, pattern: &str) -> Result<Vec<SourceMatch>> {
        let mut prefixes = vec![String::new()];
        for component in pattern.split('/') {
            let mut next = Vec::new();
            for prefix in &prefixes {
                if !component.contains(['*', '?', '[']) {
                    next.push(join_rel(prefix, component));
                    continue;
                }
                let glob = component_matcher(component, pattern)?;
                let dir = resolve_in_root(&self.root, prefix)?;
                let Ok(entries) = fs::read_dir(&dir) else {
                    continue;
                };
                let mut names: Vec<String> = entries
                    .filter_map(|entry| entry.ok())
                    .filter_map(|entry| entry.file_name().into_string().ok())
                    .filter(|name| glob.is_match(name))
                    .collect();
                names.sort();
                next.extend(names.iter().map(|name| join_rel(prefix, name)));
            }
            prefixes = next;
        }
        let mut found = Vec::new();
        for rel in prefixes {
            if let Some(found_match) = self.lookup(&rel)? {
                found.push(found_match);
            }
        }
        Ok(found)
    }

    fn not_found(&self, written: &str, cleaned: &str) -> Error {
        // A symlink (the source or a folder on its way) that leads nowhere: say where it led.
        if let Ok(resolved) = resolve_in_root(&self.root, cleaned) {
            if resolved != self.root.join(cleaned) && resolved.symlink_metadata().is_err() {
                let inside = resolved.strip_prefix(&self.root).unwrap_or(&resolved);
                return Error::DanglingSource {
                    source_path: written.to_string(),
                    place: "the build context".into(),
                    missing: format!("/{}", inside.display()),
                };
            }
        }
        let excluded = match self.lookup_visible(cleaned) {
            Ok(Lookup::Excluded(path)) => Some(path),
            _ => None,
        };
        match (excluded, &self.ignore_file) {
            // Excluded where a symlink led: say where, or the hint would name the wrong path.
            (Some(path), Some(file)) if path != cleaned => Error::SourceExcluded {
                source_path: written.to_string(),
                excluded: path,
                ignored_by: file.clone(),
            },
            (excluded, _) => Error::SourceNotFound {
                source_path: written.to_string(),
                ignored_by: excluded.and(self.ignore_file.clone()),
            },
        }
    }
}

/// Cleans a source path to a context-relative one: `./a/../b/` → `b`, `/x` → `x`; `..` cannot
/// climb above the root (BuildKit scopes every source to the context).
pub fn clean_relative(path: &str) -> String {
    // Go's `path.Clean` of the path made absolute, which is what scopes it to the root.
    strata_frontend::stages::clean_path(path)[1..].to_string()
}

fn join_rel(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}

#[cfg(test)]
mod tests;

/// The matcher for one path component of a COPY source with wildcards (`*` does not cross `/`;
/// `\` escapes, as in BuildKit); `written` names the source in errors.
pub(crate) fn component_matcher(component: &str, written: &str) -> Result<globset::GlobMatcher> {
    Ok(globset::GlobBuilder::new(component)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|err| Error::BadSource {
            source_path: written.to_string(),
            reason: err.kind().to_string(),
        })?
        .compile_matcher())
}
