//! The corpus: one folder per case under `tests/differential/cases/`, turned into ready build
//! contexts in a scratch dir.
//!
//! A case folder holds a `Dockerfile` and its context files, plus optional files the harness
//! reads and keeps out of the context:
//! - `args`: extra `build` arguments, one per line (`--build-arg=K=V`, `--target=NAME`…),
//!   given to both docker and strata;
//! - `prebuild`: `TAG DIR` lines; DIR (a sub-folder) is built first as TAG by both, for cases
//!   that need a second image (ONBUILD triggers, inherited config). Tags start `strata-diff-`;
//! - `setup`: steps run on the copied context (see [`Step`]), for archives, modes and symlinks
//!   that are better made at test time than committed;
//! - `Dockerfile.docker`: what docker builds instead, for a feature dockerd 20.10's built-in
//!   frontend lacks (heredocs, `--link`, `--exclude`, `--parents`). Its first line must be
//!   `# reference: WHY`, and it must be the same build written without the feature;
//! - `expected-differences`: `KEY reason` lines (see `compare::parse_expected`);
//! - `expect-failure`: why the build must fail; then both builders must refuse it (the
//!   messages are not compared, only that neither makes an image). A line `docker: WHY` or
//!   `strata: WHY` says only that side must fail (and the other must build), for a
//!   reasoned, deliberate difference in what is accepted. A line `message: TEXT` says the
//!   error of every side that fails must contain TEXT (what both must name, e.g. a path).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use super::compare::{parse_expected, Expected};

/// Files of a case folder that are the harness's, not the context's.
const META: &[&str] = &[
    "args",
    "prebuild",
    "setup",
    "Dockerfile.docker",
    "expected-differences",
    "expect-failure",
];

/// Where the committed cases live.
pub fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/differential/cases")
}

/// One image to build: a context, the Dockerfile each side uses, arguments and a tag.
#[derive(Debug, Clone)]
pub struct Build {
    pub tag: String,
    pub context: PathBuf,
    /// What strata builds (`CONTEXT/Dockerfile`).
    pub dockerfile: PathBuf,
    /// What docker builds: the same file, or the case's `Dockerfile.docker`.
    pub docker_dockerfile: PathBuf,
    pub args: Vec<String>,
}

/// A case made ready to build.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    /// Prebuilt images first, the case's own image last.
    pub builds: Vec<Build>,
    /// Why docker builds `Dockerfile.docker`, when it does.
    pub reference: Option<String>,
    pub expected: Vec<Expected>,
    /// Which sides must fail and why, when some must.
    pub expect_failure: Option<Failure>,
}

/// The sides of a case that must refuse to build, each with the reason.
#[derive(Debug, Clone, Default)]
pub struct Failure {
    pub docker: Option<String>,
    pub strata: Option<String>,
    /// Text every failing side's error must contain.
    pub message: Option<String>,
}

impl Failure {
    /// Whether a side's error says what it must.
    pub fn names_what_it_must(&self, error: &str) -> bool {
        self.message.as_deref().is_none_or(|m| error.contains(m))
    }
}

fn parse_failure(text: &str) -> Failure {
    let mut failure = Failure::default();
    for (_, line) in lines(text) {
        if let Some(text) = line.strip_prefix("message:") {
            failure.message = Some(text.trim().to_string());
        } else if let Some(why) = line.strip_prefix("docker:") {
            failure.docker = Some(why.trim().to_string());
        } else if let Some(why) = line.strip_prefix("strata:") {
            failure.strata = Some(why.trim().to_string());
        } else {
            failure.docker = Some(line.to_string());
            failure.strata = Some(line.to_string());
        }
    }
    failure
}

/// Lists the case folders (sorted), keeping those whose name contains one of the
/// comma-separated words of `filter` (all when `None`).
pub fn list(filter: Option<&str>) -> Result<Vec<PathBuf>, String> {
    let dir = cases_dir();
    let mut out: Vec<PathBuf> = fs::read_dir(&dir)
        .map_err(|e| format!("reading `{}`: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("Dockerfile").is_file())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            filter.is_none_or(|f| f.split(',').any(|word| name.contains(word.trim())))
        })
        .collect();
    out.sort();
    Ok(out)
}

fn read_optional(path: &Path) -> Result<Option<String>, String> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("reading `{}`: {e}", path.display())),
    }
}

/// Non-empty, non-comment lines.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

/// Copies the case folder `src` into `work/<name>/` as build contexts and reads its files.
pub fn prepare(src: &Path, work: &Path) -> Result<Case, String> {
    let name = src.file_name().unwrap().to_string_lossy().into_owned();
    let at = |file: &str| format!("{}/{file}", src.display());
    let case_work = work.join(&name);
    fs::create_dir_all(&case_work).map_err(|e| e.to_string())?;

    let args: Vec<String> = read_optional(&src.join("args"))?
        .map(|t| lines(&t).map(|(_, l)| l.to_string()).collect())
        .unwrap_or_default();
    let expected = match read_optional(&src.join("expected-differences"))? {
        Some(text) => parse_expected(&text, &at("expected-differences"))?,
        None => Vec::new(),
    };
    let steps = match read_optional(&src.join("setup"))? {
        Some(text) => parse_steps(&text, &at("setup"))?,
        None => Vec::new(),
    };
    let mut excluded: Vec<String> = META.iter().map(|s| s.to_string()).collect();
    for step in &steps {
        if let Step::Archive { source, .. } = step {
            excluded.push(source.clone());
        }
    }

    let mut builds = Vec::new();
    if let Some(text) = read_optional(&src.join("prebuild"))? {
        for (number, line) in lines(&text) {
            let (tag, dir) = line
                .split_once(char::is_whitespace)
                .map(|(t, d)| (t, d.trim()))
                .ok_or_else(|| format!("{}:{number}: want `TAG DIR`", at("prebuild")))?;
            if !tag.starts_with("strata-diff-") {
                return Err(format!(
                    "{}:{number}: tag `{tag}` must start with `strata-diff-` (docker's store is shared)",
                    at("prebuild")
                ));
            }
            let context = case_work.join(format!("prebuild-{}", builds.len()));
            copy_tree(&src.join(dir), &context, &[])?;
            builds.push(Build {
                tag: tag.to_string(),
                dockerfile: context.join("Dockerfile"),
                docker_dockerfile: context.join("Dockerfile"),
                context,
                args: Vec::new(),
            });
            excluded.push(dir.to_string());
        }
    }

    let context = case_work.join("context");
    copy_tree(src, &context, &excluded)?;
    for step in &steps {
        step.run(src, &context, &case_work)
            .map_err(|e| format!("{}: {step:?}: {e}", at("setup")))?;
    }
    let (docker_dockerfile, reference) = match read_optional(&src.join("Dockerfile.docker"))? {
        Some(text) => {
            let reason = text
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("# reference:"))
                .map(|r| r.trim().to_string())
                .filter(|r| !r.is_empty())
                .ok_or_else(|| {
                    format!(
                        "{}: the first line must be `# reference: WHY docker needs its own file`",
                        at("Dockerfile.docker")
                    )
                })?;
            (src.join("Dockerfile.docker"), Some(reason))
        }
        None => (context.join("Dockerfile"), None),
    };
    builds.push(Build {
        tag: format!("strata-diff/{name}:latest"),
        dockerfile: context.join("Dockerfile"),
        docker_dockerfile,
        context,
        args,
    });
    let expect_failure = read_optional(&src.join("expect-failure"))?.map(|t| parse_failure(&t));
    if let Some(Failure {
        docker: None,
        strata: None,
        ..
    }) = expect_failure
    {
        return Err(format!("{}: says no reason", at("expect-failure")));
    }
    if expect_failure.is_some() && !expected.is_empty() {
        return Err(format!(
            "{}: a case that must fail has no image to compare: drop expected-differences",
            src.display()
        ));
    }
    Ok(Case {
        name,
        builds,
        reference,
        expected,
        expect_failure,
    })
}

/// Copies a tree keeping symlinks as they are. Modes are normalized to what a checkout gives
/// under umask 022 (0755 for dirs and executables, 0644 otherwise), so contexts do not depend
/// on the umask of whoever cloned the repository; `setup` sets any other mode.
fn copy_tree(src: &Path, dst: &Path, excluded: &[String]) -> Result<(), String> {
    let err = |p: &Path, e: std::io::Error| format!("`{}`: {e}", p.display());
    if dst.exists() {
        fs::remove_dir_all(dst).map_err(|e| err(dst, e))?;
    }
    fs::create_dir_all(dst).map_err(|e| err(dst, e))?;
    fs::set_permissions(dst, fs::Permissions::from_mode(0o755)).map_err(|e| err(dst, e))?;
    let mut entries: Vec<_> = fs::read_dir(src)
        .map_err(|e| err(src, e))?
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        if excluded.contains(&name) {
            continue;
        }
        let (from, to) = (entry.path(), dst.join(&name));
        let meta = fs::symlink_metadata(&from).map_err(|e| err(&from, e))?;
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&from).map_err(|e| err(&from, e))?;
            symlink(target, &to).map_err(|e| err(&to, e))?;
        } else if meta.is_dir() {
            copy_tree(&from, &to, &[])?;
        } else {
            fs::copy(&from, &to).map_err(|e| err(&from, e))?;
            let mode = if meta.permissions().mode() & 0o111 != 0 {
                0o755
            } else {
                0o644
            };
            fs::set_permissions(&to, fs::Permissions::from_mode(mode)).map_err(|e| err(&to, e))?;
        }
    }
    Ok(())
}

/// One line of a case's `setup`.
#[derive(Debug, Clone)]
pub enum Step {
    /// `chmod MODE PATH`: set an octal mode on a context path.
    Chmod { mode: u32, path: String },
    /// `archive NAME FORMAT SOURCE UID:GID`: tar the case folder SOURCE (kept out of the
    /// context) into context file NAME, FORMAT one of tar, tar.gz, tar.bz2, tar.xz; every
    /// entry is owned by UID:GID.
    Archive {
        name: String,
        format: String,
        source: String,
        owner: (u64, u64),
    },
    /// `gzip NAME SOURCE`: gzip one file of the case folder (not a tar; it stays in the
    /// context) into NAME.
    Gzip { name: String, source: String },
    /// `symlink TARGET PATH`: make a symlink in the context.
    Symlink { target: String, path: String },
    /// `outside NAME TEXT`: a file beside the context (not in it), for escape tests.
    Outside { name: String, text: String },
    /// `bigfile PATH SIZE`: a file of SIZE bytes of a fixed pattern.
    Bigfile { path: String, size: u64 },
    /// `mkdir PATH`: an empty folder (git keeps none).
    Mkdir { path: String },
}

fn parse_steps(text: &str, file: &str) -> Result<Vec<Step>, String> {
    let mut out = Vec::new();
    for (number, line) in lines(text) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let bad = || format!("{file}:{number}: cannot read `{line}`");
        let step = match words.as_slice() {
            ["chmod", mode, path] => Step::Chmod {
                mode: u32::from_str_radix(mode, 8).map_err(|_| bad())?,
                path: path.to_string(),
            },
            ["archive", name, format, source, owner] => {
                let (uid, gid) = owner.split_once(':').ok_or_else(bad)?;
                Step::Archive {
                    name: name.to_string(),
                    format: format.to_string(),
                    source: source.to_string(),
                    owner: (
                        uid.parse().map_err(|_| bad())?,
                        gid.parse().map_err(|_| bad())?,
                    ),
                }
            }
            ["gzip", name, source] => Step::Gzip {
                name: name.to_string(),
                source: source.to_string(),
            },
            ["symlink", target, path] => Step::Symlink {
                target: target.to_string(),
                path: path.to_string(),
            },
            ["outside", name, rest @ ..] => Step::Outside {
                name: name.to_string(),
                text: rest.join(" ") + "\n",
            },
            ["bigfile", path, size] => Step::Bigfile {
                path: path.to_string(),
                size: size.parse().map_err(|_| bad())?,
            },
            ["mkdir", path] => Step::Mkdir {
                path: path.to_string(),
            },
            _ => return Err(bad()),
        };
        out.push(step);
    }
    Ok(out)
}

impl Step {
    fn run(&self, case: &Path, context: &Path, case_work: &Path) -> std::io::Result<()> {
        let in_context = |p: &str| {
            let path = context.join(p);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)?;
            }
            Ok::<_, std::io::Error>(path)
        };
        match self {
            Step::Chmod { mode, path } => {
                fs::set_permissions(context.join(path), fs::Permissions::from_mode(*mode))
            }
            Step::Archive {
                name,
                format,
                source,
                owner,
            } => {
                let tar = tar_of(&case.join(source), *owner)?;
                let out = fs::File::create(in_context(name)?)?;
                compress(format, &tar, out)
            }
            Step::Gzip { name, source } => {
                let data = fs::read(case.join(source))?;
                compress("tar.gz", &data, fs::File::create(in_context(name)?)?)
            }
            Step::Symlink { target, path } => symlink(target, in_context(path)?),
            Step::Outside { name, text } => fs::write(case_work.join(name), text),
            Step::Bigfile { path, size } => {
                let data: Vec<u8> = (0..*size).map(|i| (i % 251) as u8).collect();
                fs::write(in_context(path)?, data)
            }
            Step::Mkdir { path } => {
                fs::create_dir_all(context.join(path))?;
                fs::set_permissions(context.join(path), fs::Permissions::from_mode(0o755))
            }
        }
    }
}

/// A deterministic tar of a folder (sorted, fixed times, the given owner, modes normalized
/// as in [`copy_tree`], symlinks kept).
fn tar_of(dir: &Path, (uid, gid): (u64, u64)) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((path, rel)) = stack.pop() {
        let mut entries: Vec<_> = fs::read_dir(&path)?.filter_map(Result::ok).collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in &entries {
            let name = format!("{rel}{}", entry.file_name().to_string_lossy());
            let meta = fs::symlink_metadata(entry.path())?;
            let mut header = tar::Header::new_gnu();
            header.set_uid(uid);
            header.set_gid(gid);
            header.set_mtime(1_700_000_000);
            if meta.file_type().is_symlink() {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                builder.append_link(&mut header, &name, fs::read_link(entry.path())?)?;
            } else if meta.is_dir() {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                builder.append_data(&mut header, format!("{name}/"), std::io::empty())?;
            } else {
                let data = fs::read(entry.path())?;
                header.set_entry_type(tar::EntryType::Regular);
                let exec = meta.permissions().mode() & 0o111 != 0;
                header.set_mode(if exec { 0o755 } else { 0o644 });
                header.set_size(data.len() as u64);
                builder.append_data(&mut header, &name, data.as_slice())?;
            }
        }
        // A folder's entries are written before what is under them.
        for entry in entries.iter().rev() {
            if fs::symlink_metadata(entry.path())?.is_dir() {
                let name = format!("{rel}{}/", entry.file_name().to_string_lossy());
                stack.push((entry.path(), name));
            }
        }
    }
    builder.into_inner()
}

fn compress(format: &str, data: &[u8], out: fs::File) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(out);
    match format {
        "tar" => out.write_all(data)?,
        "tar.gz" => {
            let mut gz = flate2::write::GzEncoder::new(&mut out, flate2::Compression::default());
            gz.write_all(data)?;
            gz.finish()?;
        }
        "tar.bz2" => {
            let mut bz = bzip2::write::BzEncoder::new(&mut out, bzip2::Compression::default());
            bz.write_all(data)?;
            bz.finish()?;
        }
        "tar.xz" => {
            let mut xz = xz2::write::XzEncoder::new(&mut out, 6);
            xz.write_all(data)?;
            xz.finish()?;
        }
        other => {
            return Err(std::io::Error::other(format!(
                "unknown archive format `{other}` (tar, tar.gz, tar.bz2, tar.xz)"
            )))
        }
    }
    out.flush()
}
