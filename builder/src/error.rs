//! The builder's error type. Every variant names what it is about: a path, a source, a step.
//! Modules add their own variants here; keep messages lower-case without a final period.

use std::path::PathBuf;

use crate::context::PatternError;

/// Everything that can go wrong in the builder.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A filesystem operation failed on a path.
    #[error("`{path}`: {source}")]
    Io {
        /// The path the operation was on.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A `.dockerignore` file has a pattern that does not compile.
    #[error("`{path}`: {source}")]
    IgnoreFile {
        /// The ignore file.
        path: PathBuf,
        /// The bad pattern.
        #[source]
        source: PatternError,
    },
    /// A COPY/ADD source that names nothing in the context.
    #[error("{}", source_not_found_message(.source_path, .ignored_by.as_deref()))]
    SourceNotFound {
        /// The source as written in the Dockerfile.
        source_path: String,
        /// The ignore file that hides it, when it exists but is excluded.
        ignored_by: Option<PathBuf>,
    },
    /// A COPY/ADD `--from` source that names nothing in the stage's or image's filesystem.
    #[error("source `{source_path}` not found in {place}")]
    SourceNotFoundIn {
        /// The source as written in the Dockerfile.
        source_path: String,
        /// Where it was looked for: ``stage `build` `` or ``image `alpine:3` ``.
        place: String,
    },
    /// A COPY/ADD source whose symlinks lead to a path that does not exist (docker names the
    /// missing target too: `"/missing" not found`).
    #[error("source `{source_path}` not found in {place}: it leads through a symlink to `{missing}`, which does not exist")]
    DanglingSource {
        /// The source as written in the Dockerfile.
        source_path: String,
        /// Where it was looked for: `the build context`, ``stage `build` ``…
        place: String,
        /// The path the symlinks lead to, absolute in that filesystem.
        missing: String,
    },
    /// A COPY/ADD source that cannot be used as written.
    #[error("source `{source_path}`: {reason}")]
    BadSource {
        /// The source as written.
        source_path: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// `ADD <url>` could not download or verify the file.
    #[error("ADD `{url}`: {reason}")]
    Fetch {
        /// The URL as written.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// A user or group name that the image does not define.
    #[error("unable to find {what} in the image's {file}")]
    UnknownIdentity {
        /// `user \`name\`` or `group \`name\``.
        what: String,
        /// The file searched (`/etc/passwd` or `/etc/group`).
        file: String,
    },
    /// A COPY/ADD destination that cannot receive the sources.
    #[error("destination `{dest}`: {reason}")]
    CopyDestination {
        /// The destination as written.
        dest: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// A layer tar that is malformed or hostile.
    #[error("invalid layer: {reason}")]
    BadLayer {
        /// What is wrong with it.
        reason: String,
    },
    /// A RUN command exited with a non-zero status or was killed by a signal.
    #[error("process {argv:?} did not complete successfully: exit code: {code}{}", signal_text(*.signal))]
    CommandFailed {
        /// The command vector.
        argv: Vec<String>,
        /// Its exit code (128+N for a signal, as shells and docker report it).
        code: i32,
        /// The signal that killed it, if one did.
        signal: Option<i32>,
    },
    /// A container cannot be made as asked (`strata run`'s options against the image).
    #[error("{reason}")]
    Container {
        /// What is wrong.
        reason: String,
    },
    /// The command could not be executed (docker's 127 for a missing one, 126 otherwise).
    #[error("exec: `{program}`: {}", exec_reason(program, .source))]
    Exec {
        /// The command as given.
        program: String,
        /// What execve said.
        #[source]
        source: std::io::Error,
    },
    /// Setting up or running the sandbox failed.
    #[error("sandbox: {what}: {source}")]
    Sandbox {
        /// What was being done.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An isolation mode this environment cannot give (see `sandbox::isolation`).
    #[error("isolation `{isolation}` is not available here: {}", .reasons.join("; "))]
    IsolationUnavailable {
        /// The mode asked for (`auto` when none was).
        isolation: String,
        /// Each thing that stops it, with its fix.
        reasons: Vec<String>,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] strata_cache::Error),
    /// An image in the store that cannot be used.
    #[error("image: {reason}")]
    Image {
        /// What is wrong.
        reason: String,
    },
    /// A build step failed; names the step and its Dockerfile lines.
    #[error("{step} (Dockerfile line {}): {source}", lines_text(*.lines))]
    Step {
        /// The step's progress name (`[build 2/5] RUN make`).
        step: String,
        /// Its Dockerfile lines.
        lines: (usize, usize),
        /// What went wrong.
        #[source]
        source: Box<Error>,
    },
    /// A RUN asks for what the build did not allow (`--allow`).
    #[error("granting entitlement {wanted} is not allowed: build with `--allow {wanted}` if this Dockerfile is trusted")]
    Entitlement {
        /// The entitlement (`network.host`, `security.insecure`).
        wanted: &'static str,
    },
    /// A step not started because another step of the build had failed.
    #[error("cancelled: another step failed")]
    Cancelled,
    /// A feature that parses but does not run yet.
    #[error("{what}")]
    Unsupported {
        /// What is not supported.
        what: String,
    },
    /// Too many symlinks while resolving a path inside a root.
    #[error("`{path}`: too many levels of symbolic links")]
    SymlinkLoop {
        /// Where the loop was detected.
        path: PathBuf,
    },
    /// An image tarball that is malformed, inconsistent or hostile (`strata load`).
    #[error("invalid image archive: {reason}")]
    Archive {
        /// What is wrong with it.
        reason: String,
    },
    /// A `--cache-to` / `--cache-from` value that cannot be used.
    #[error("invalid {flag} `{value}`: {reason}")]
    CacheSpec {
        /// The flag.
        flag: String,
        /// The value as given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading or writing an exported build cache failed.
    #[error("{location}: {reason}")]
    Cache {
        /// The cache (`local cache \`DIR\``, `registry cache \`REF\``).
        location: String,
        /// What went wrong.
        reason: String,
    },
    /// Talking to a registry failed; the message names the registry (and callers add the
    /// reference: `pulling 127.0.0.1:5000/app:1: manifest unknown`).
    #[error("{reason}")]
    Registry {
        /// What kind of failure.
        kind: crate::registry::ErrorKind,
        /// What went wrong.
        reason: String,
    },
    /// A `--change` instruction that cannot be applied (`strata import`).
    #[error("--change `{change}`: {reason}")]
    Change {
        /// The instruction as given.
        change: String,
        /// Why it cannot be applied.
        reason: String,
    },
    /// A COPY/ADD source whose symlinks lead to a path `.dockerignore` excludes: BuildKit
    /// resolves sources in the context it was sent, where that path is not.
    #[error("source `{source_path}` not found in the build context\nhint: it leads to `{excluded}`, which is excluded by `{}`", .ignored_by.display())]
    SourceExcluded {
        /// The source as written in the Dockerfile.
        source_path: String,
        /// The excluded context path the source leads to.
        excluded: String,
        /// The ignore file that excludes it.
        ignored_by: PathBuf,
    },
    /// A directory tree nested deeper than [`crate::layer::MAX_DEPTH`] levels (a context, a
    /// stage's files, a layer being written or read).
    #[error(
        "`{}`: more than {max} directory levels deep; strata refuses deeper trees",
        abbreviate(path)
    )]
    TooDeep {
        /// The first path found below the limit.
        path: String,
        /// The limit.
        max: usize,
    },
    /// A file that would be written into a layer under a name starting with `.wh.`: in a layer
    /// that name is a whiteout, so the file would delete another one where it is unpacked.
    #[error("`{path}`: file names starting with `.wh.` are reserved for whiteouts in image layers (unpacked, it would delete `{}` instead); rename it", whiteout_victim(path))]
    WhiteoutName {
        /// The path in the layer.
        path: String,
    },
}

/// A path cut to its first and last parts when it is too long to read in a message.
fn abbreviate(path: &str) -> String {
    const HEAD: usize = 80;
    const TAIL: usize = 40;
    if path.len() <= HEAD + TAIL + 10 {
        return path.to_string();
    }
    let head_end = (0..=HEAD)
        .rev()
        .find(|&i| path.is_char_boundary(i))
        .unwrap_or(0);
    let tail_start = (path.len() - TAIL..path.len())
        .find(|&i| path.is_char_boundary(i))
        .unwrap_or(path.len());
    format!(
        "{}…({} bytes)…{}",
        &path[..head_end],
        tail_start - head_end,
        &path[tail_start..]
    )
}

/// What a `.wh.NAME` entry deletes: `NAME` in the same directory.
fn whiteout_victim(path: &str) -> String {
    let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
    let victim = name.strip_prefix(".wh.").unwrap_or(name);
    if dir.is_empty() {
        victim.to_string()
    } else {
        format!("{dir}/{victim}")
    }
}

fn signal_text(signal: Option<i32>) -> String {
    const NAMES: [(i32, &str); 12] = [
        (libc::SIGHUP, "SIGHUP"),
        (libc::SIGINT, "SIGINT"),
        (libc::SIGQUIT, "SIGQUIT"),
        (libc::SIGILL, "SIGILL"),
        (libc::SIGABRT, "SIGABRT"),
        (libc::SIGBUS, "SIGBUS"),
        (libc::SIGFPE, "SIGFPE"),
        (libc::SIGKILL, "SIGKILL"),
        (libc::SIGSEGV, "SIGSEGV"),
        (libc::SIGPIPE, "SIGPIPE"),
        (libc::SIGALRM, "SIGALRM"),
        (libc::SIGTERM, "SIGTERM"),
    ];
    match signal {
        None => String::new(),
        Some(signal) => match NAMES.iter().find(|(n, _)| *n == signal) {
            Some((_, name)) => format!(" (killed by signal {signal}, {name})"),
            None => format!(" (killed by signal {signal})"),
        },
    }
}

fn lines_text(lines: (usize, usize)) -> String {
    if lines.1 > lines.0 {
        format!("{}-{}", lines.0, lines.1)
    } else {
        lines.0.to_string()
    }
}

fn source_not_found_message(source: &str, ignored_by: Option<&std::path::Path>) -> String {
    match ignored_by {
        Some(file) => format!(
            "source `{source}` not found in the build context\nhint: it exists but is excluded by `{}`",
            file.display()
        ),
        None => format!("source `{source}` not found in the build context"),
    }
}

/// The builder's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// execve's error as runc words it (a name is looked up in `$PATH`, a path is not).
fn exec_reason(program: &str, source: &std::io::Error) -> String {
    match source.raw_os_error() {
        Some(libc::ENOENT) if !program.contains('/') => "executable file not found in $PATH".into(),
        Some(libc::ENOENT) => "no such file or directory".into(),
        Some(libc::EACCES) => "permission denied".into(),
        _ => source.to_string(),
    }
}
