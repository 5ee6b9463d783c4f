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
    /// ADD could not unpack a local archive (the source is the tar reader's error).
    #[error("source `{}`: {}{source}", .archive.display(), doing_prefix(.doing))]
    Unpack {
        /// The archive on the host.
        archive: PathBuf,
        /// What was being done (`unpacking \`etc/passwd\``), empty for reading the archive.
        doing: String,
        /// What the tar reader or the filesystem said.
        #[source]
        source: std::io::Error,
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
    /// Reading, writing or moving an image failed (layers, archives, registries, caches).
    #[error(transparent)]
    Oci(#[from] strata_oci::Error),
    /// An image in the store that cannot be used.
    #[error("image: {reason}")]
    Image {
        /// What is wrong.
        reason: String,
    },
    /// A build step failed: names the step and where it is in the Dockerfile (the file as
    /// the user named it, its lines), and shows its first line with carets under it.
    #[error("{}", .place.render(&format!("{step}: {source}")))]
    Step {
        /// The step's progress name (`[build 2/5] RUN make`).
        step: String,
        /// Where it is: file, lines and the text of its first line.
        place: Box<strata_frontend::error::Location>,
        /// What went wrong.
        #[source]
        source: Box<Error>,
    },
    /// An error that several waiters share: every step that needs a failed step fails with
    /// that step's error, kept whole (the solver memoizes errors without turning them into
    /// text).
    #[error(transparent)]
    Shared(#[from] std::sync::Arc<Error>),
    /// An image the store does not have.
    #[error("image `{reference}` is not in the local store\nhint: load it with `strata load -i image.tar` (e.g. from `docker save {reference}`), or build it first")]
    ImageNotFound {
        /// The reference as written.
        reference: String,
    },
    /// An image in the store whose layer snapshot is gone.
    #[error("image `{reference}` is missing the snapshot of layer {diff_id}; load it again")]
    ImageIncomplete {
        /// The reference as written.
        reference: String,
        /// The layer whose snapshot is missing.
        diff_id: strata_cache::Digest,
    },
    /// A layer a build needs whose snapshot is neither in the store nor in an imported cache.
    #[error("the snapshot of layer {diff_id} is missing from the store")]
    SnapshotMissing {
        /// The layer.
        diff_id: strata_cache::Digest,
    },
    /// A layer of a built image that the index has no record of.
    #[error("layer {diff_id} has no record in the store")]
    LayerRecordMissing {
        /// The layer.
        diff_id: strata_cache::Digest,
    },
    /// Pulling a base image failed (`FROM` of an image the store lacks, or `build --pull`).
    #[error("{}", base_pull_message(.reference, *.had_local, .source))]
    BasePull {
        /// The reference as written.
        reference: String,
        /// The store had the image (`--pull` asked for a newer one).
        had_local: bool,
        /// Why the pull failed.
        #[source]
        source: strata_oci::Error,
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

fn doing_prefix(doing: &str) -> String {
    if doing.is_empty() {
        String::new()
    } else {
        format!("{doing}: ")
    }
}

fn base_pull_message(reference: &str, had_local: bool, source: &strata_oci::Error) -> String {
    if had_local {
        format!("checking for a newer `{reference}` (--pull): {source}")
    } else {
        format!("image `{reference}` is not in the local store, and pulling it failed: {source}\nhint: check the name and the registry, log in with `strata login`, or load it with `strata load -i image.tar`")
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
