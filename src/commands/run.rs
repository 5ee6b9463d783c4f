//! `strata run`: run a command in a new container of an image, with docker run's flags and
//! meanings, in the sandbox RUN steps use. There is no daemon: the container lives as long
//! as this process, which holds the store's lock only while it sets the container up.
//!
//! Exit codes are docker's: the command's own, 125 when strata fails, 126 when the command
//! cannot be executed, 127 when it is not found.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};

use anyhow::Context as _;
use rustix::io::Errno;
use strata_builder::container::{self, expand_env, parse_env_file, RunOptions};
use strata_builder::sandbox::{ExtraMount, MountFrom, Network, RunRequest, Security, Session};
use strata_cache::ContainerRecord;
use strata_oci::image;

use super::run_tty::{self, Pty, RawMode};
use crate::Global;

/// Exit code for strata's own failures (docker's).
pub const RUN_ERROR: u8 = 125;

/// Arguments of `strata run` (docker run's).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Remove the container (its writable layer) when it exits.
    #[arg(long)]
    pub rm: bool,
    /// Keep stdin open: the command reads strata's stdin through a pipe.
    #[arg(short, long)]
    pub interactive: bool,
    /// Give the command a pseudo-terminal (with -i: an interactive shell).
    #[arg(short, long)]
    pub tty: bool,
    /// Not supported: strata has no daemon to keep a container running in the background.
    #[arg(short, long)]
    pub detach: bool,
    /// Set an environment variable: `K=V`, or `K` to pass the host's value.
    #[arg(short, long = "env", value_name = "K[=V]")]
    pub env: Vec<String>,
    /// Read environment variables from a file (docker's format: `K=V` lines, `#` comments).
    #[arg(long, value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Bind a host path: `HOST:CONTAINER[:ro|rw]` (HOST absolute; made if missing).
    #[arg(short, long, value_name = "HOST:CTR[:ro|rw]")]
    pub volume: Vec<String>,
    /// Attach a filesystem: `type=bind,source=HOST,target=CTR[,readonly]` or
    /// `type=tmpfs,target=CTR[,tmpfs-size=SIZE]`.
    #[arg(long, value_name = "SPEC")]
    pub mount: Vec<String>,
    /// Working directory inside the container (absolute).
    #[arg(short, long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// User: `name`, `uid`, `name:group` or `uid:gid`.
    #[arg(short, long, value_name = "USER[:GROUP]")]
    pub user: Option<String>,
    /// Override the image's entrypoint (`""` clears it).
    #[arg(long, value_name = "CMD")]
    pub entrypoint: Option<String>,
    /// Network: `default` (its own, with outbound access), `host` or `none`.
    #[arg(long, value_name = "MODE", default_value = "default")]
    pub network: String,
    /// The container's hostname (default: the first 12 characters of its ID).
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
    /// A name for the container (for `ps`, `rm`, `commit`).
    #[arg(long)]
    pub name: Option<String>,
    /// Mount the container's root filesystem read-only.
    #[arg(long)]
    pub read_only: bool,
    /// The image to run.
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// The command and its arguments (default: the image's entrypoint and cmd).
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<String>,
}

/// Runs `strata run`; the process's exit code is the command's.
pub fn run(global: &Global, args: Args) -> anyhow::Result<ExitCode> {
    // Before any thread starts: a ^C while the container starts is held, then forwarded.
    strata_builder::sandbox::hold_forwarded_signals();
    match run_container(global, &args) {
        Ok(code) => Ok(ExitCode::from(code as u8)),
        Err(err) => {
            let code = err
                .chain()
                .find_map(
                    |cause| match cause.downcast_ref::<strata_builder::Error>() {
                        Some(strata_builder::Error::Exec { source, .. }) => {
                            Some(if Errno::from_io_error(source) == Some(Errno::NOENT) {
                                127
                            } else {
                                126
                            })
                        }
                        _ => None,
                    },
                )
                .unwrap_or(RUN_ERROR);
            Ok(crate::exit::print_error(&err, code))
        }
    }
}

fn run_container(global: &Global, args: &Args) -> anyhow::Result<i32> {
    if args.detach {
        anyhow::bail!("-d/--detach is not supported: strata has no daemon (the container runs as long as `strata run`)");
    }
    if !strata_builder::sandbox::sandbox_available() {
        anyhow::bail!(
            "strata run needs overlayfs and root, or a user namespace (rootless mode): see `strata info`"
        );
    }
    let stdin_tty = std::io::stdin().is_terminal();
    if args.tty && args.interactive && !stdin_tty {
        anyhow::bail!("the input device is not a TTY");
    }
    let network = match args.network.as_str() {
        "bridge" => Network::Sandbox,
        mode => Network::parse(mode).ok_or_else(|| {
            anyhow::anyhow!("unsupported --network `{mode}` (use default, host or none)")
        })?,
    };
    if let Some(name) = &args.name {
        validate_name(name)?;
    }
    let host_env = |key: &str| std::env::var(key).ok();
    let mut env = Vec::new();
    for file in &args.env_file {
        let text = std::fs::read(file)
            .with_context(|| format!("reading env file `{}`", file.display()))?;
        env.extend(parse_env_file(
            &file.display().to_string(),
            &text,
            host_env,
        )?);
    }
    env.extend(args.env.iter().map(|e| expand_env(e, host_env)));
    let mut mounts = Vec::new();
    for spec in &args.volume {
        mounts.push(parse_volume(spec)?);
    }
    for spec in &args.mount {
        mounts.push(parse_mount(spec)?);
    }

    let store = crate::store::open(global)?;
    let found = image::find(&store, &args.image)?.ok_or_else(|| {
        anyhow::anyhow!(
            "no such image: `{}` (strata run does not pull: `strata pull` it first)",
            args.image
        )
    })?;
    for diff_id in &found.diff_ids {
        if !store.snapshots().exists(diff_id) {
            anyhow::bail!(
                "image `{}`: the snapshot of layer {diff_id} is missing from the store",
                args.image
            );
        }
    }
    let id = random_id()?;
    let hostname = args
        .hostname
        .clone()
        .unwrap_or_else(|| id[..12].to_string());
    let options = RunOptions {
        entrypoint: args.entrypoint.as_deref(),
        command: &args.command,
        env,
        workdir: args.workdir.as_deref(),
        user: args.user.as_deref(),
        tty: args.tty,
        hostname: &hostname,
    };
    let resolved = container::resolve(&found.config, &options)?;
    let containers = store.containers().clone();
    let name = match &args.name {
        Some(name) => {
            if let Some(other) = containers.find(name)?.filter(|c| &c.name == name) {
                anyhow::bail!(
                    "the container name \"{name}\" is already in use by container \"{}\": remove it (`strata rm {name}`) or choose another name",
                    other.id
                );
            }
            name.clone()
        }
        None => format!("strata_{}", &id[..12]),
    };
    let mut record = ContainerRecord {
        id: id.clone(),
        name,
        image: args.image.clone(),
        image_id: found.id,
        image_config: container::container_config(&found.config, &resolved, &options),
        layers: found.diff_ids.clone(),
        command: resolved.argv.clone(),
        created: strata_cache::now(),
        finished: None,
        exit_code: None,
        auto_remove: args.rm,
    };
    let guard = containers.create(&record)?;
    let dir = containers.path(&id);
    let cleanup = |keep: bool| {
        let _ = strata_cache::remove_tree(&dir.join("run"));
        if !keep {
            let _ = containers.remove(&id);
        } else {
            let _ = std::fs::create_dir_all(dir.join("run"));
        }
    };
    let lowers: Vec<PathBuf> = found
        .diff_ids
        .iter()
        .rev()
        .map(|d| store.snapshots().path(d))
        .collect();
    let (upper, work) = (dir.join("upper"), dir.join("work"));
    let request = RunRequest {
        argv: &resolved.argv,
        env: &resolved.env,
        cwd: &resolved.cwd,
        user: &resolved.user,
        network,
        security: Security::Sandbox,
        lowers: &lowers,
        upper: &upper,
        work: &work,
        mounts: &mounts,
    };
    let sandbox = crate::isolation::sandbox(global, dir.join("run"))?
        .on_warning(|w| eprintln!("warning: {w}"));
    let out_tty = !args.tty && std::io::stdout().is_terminal();
    let err_tty = !args.tty && std::io::stderr().is_terminal();
    let stdio = if args.tty {
        [Stdio::null(), Stdio::null(), Stdio::null()]
    } else {
        let pipe_if = |tty: bool| {
            if tty {
                Stdio::piped()
            } else {
                Stdio::inherit()
            }
        };
        let stdin = if args.interactive {
            Stdio::piped()
        } else {
            Stdio::null()
        };
        [stdin, pipe_if(out_tty), pipe_if(err_tty)]
    };
    let session = Session {
        stdio,
        tty: args.tty,
        tty_size: run_tty::host_size(),
        hostname,
        read_only: args.read_only,
    };
    let mut started = match sandbox.start(&request, session) {
        Ok(started) => started,
        Err(e) => {
            cleanup(false);
            return Err(e.into());
        }
    };
    // The container runs: builds and other commands may use the store meanwhile (the
    // `running` lock keeps prune off this container's layers).
    drop(store);
    started.forward_signals();
    let code = match started.console.take().map(Pty::new) {
        Some(pty) => {
            let raw = (args.interactive && stdin_tty)
                .then(RawMode::enter)
                .transpose()?;
            let relay = pty.relay(args.interactive)?;
            let code = started.wait();
            relay.finish();
            drop(raw);
            code?
        }
        None => {
            let mut relays = Vec::new();
            if let Some(mut input) = started.child.stdin.take() {
                // Not joined: a read of a terminal blocks until the next line.
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut std::io::stdin().lock(), &mut input);
                });
            }
            if out_tty {
                let output = started.child.stdout.take().expect("piped");
                relays.push(std::thread::spawn(move || {
                    copy_out(output, std::io::stdout())
                }));
            }
            if err_tty {
                let output = started.child.stderr.take().expect("piped");
                relays.push(std::thread::spawn(move || {
                    copy_out(output, std::io::stderr())
                }));
            }
            let code = started.wait();
            for relay in relays {
                let _ = relay.join();
            }
            code?
        }
    };
    drop(sandbox);
    if args.rm {
        cleanup(false);
    } else {
        record.finished = Some(strata_cache::now());
        record.exit_code = Some(code);
        containers.update(&record)?;
        cleanup(true);
    }
    drop(guard);
    Ok(code)
}

fn copy_out(mut from: impl Read, mut to: impl Write) {
    let mut buf = [0u8; 8192];
    loop {
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).and_then(|()| to.flush()).is_err() {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
}

fn random_id() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// docker's rule for container names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
fn validate_name(name: &str) -> anyhow::Result<()> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_ok || name.len() < 2 || !chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    {
        anyhow::bail!(
            "invalid container name \"{name}\", only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        );
    }
    Ok(())
}

/// `-v HOST:CTR[:ro|rw]`: HOST must be an absolute path (strata has no named volumes) and is
/// made as a directory when missing, as docker does for `-v`.
pub(super) fn parse_volume(spec: &str) -> anyhow::Result<ExtraMount> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (host, target, mode) = match parts.as_slice() {
        [host, target] => (*host, *target, ""),
        [host, target, mode] => (*host, *target, *mode),
        _ => anyhow::bail!("invalid volume specification `{spec}`: use HOST:CONTAINER[:ro|rw]"),
    };
    if !host.starts_with('/') {
        anyhow::bail!(
            "invalid volume specification `{spec}`: `{host}` is not an absolute path (strata has no named volumes)"
        );
    }
    if !target.starts_with('/') {
        anyhow::bail!(
            "invalid volume specification `{spec}`: the container path `{target}` must be absolute"
        );
    }
    let mut readonly = false;
    for option in mode.split(',').filter(|o| !o.is_empty()) {
        match option {
            "ro" => readonly = true,
            "rw" => readonly = false,
            // SELinux relabelling and copy modes mean nothing here.
            "z" | "Z" | "nocopy" => {}
            other => anyhow::bail!("invalid volume specification `{spec}`: unknown mode `{other}`"),
        }
    }
    let host = PathBuf::from(host);
    if !host.exists() {
        std::fs::create_dir_all(&host).with_context(|| {
            format!("creating the volume's host directory `{}`", host.display())
        })?;
    }
    Ok(ExtraMount {
        target: target.to_string(),
        source: MountFrom::Host(host),
        readonly,
    })
}

/// `--mount type=bind|tmpfs,…` (docker's keys; `volume` is not supported).
pub(super) fn parse_mount(spec: &str) -> anyhow::Result<ExtraMount> {
    let bad = |reason: String| anyhow::anyhow!("invalid --mount `{spec}`: {reason}");
    let (mut kind, mut source, mut target, mut readonly, mut size) =
        ("volume", None, None, false, None);
    for field in spec.split(',') {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (field, None),
        };
        match (key, value) {
            ("type", Some(v)) => kind = v,
            ("source" | "src", Some(v)) => source = Some(v),
            ("target" | "destination" | "dst", Some(v)) => target = Some(v),
            ("readonly" | "ro", None) => readonly = true,
            ("readonly" | "ro", Some(v)) => {
                readonly = match v {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(bad(format!("invalid value for {key}: `{v}`"))),
                }
            }
            ("tmpfs-size", Some(v)) => size = Some(crate::store::parse_size(v)?),
            ("tmpfs-mode" | "bind-propagation" | "consistency", Some(_)) => {}
            _ => return Err(bad(format!("unknown or incomplete option `{field}`"))),
        }
    }
    let target = target.ok_or_else(|| bad("target is required".into()))?;
    if !target.starts_with('/') {
        return Err(bad(format!("the target `{target}` must be absolute")));
    }
    let source = match kind {
        "bind" => {
            let host = source.ok_or_else(|| bad("source is required for a bind mount".into()))?;
            let host = PathBuf::from(host);
            if !host.is_absolute() || !host.exists() {
                return Err(bad(format!(
                    "bind source path does not exist: {}",
                    host.display()
                )));
            }
            MountFrom::Host(host)
        }
        "tmpfs" => {
            if source.is_some() {
                return Err(bad("a tmpfs mount takes no source".into()));
            }
            MountFrom::Tmpfs { size }
        }
        other => {
            return Err(bad(format!(
                "type `{other}` is not supported (use bind or tmpfs)"
            )))
        }
    };
    Ok(ExtraMount {
        target: target.to_string(),
        source,
        readonly,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_and_mounts_parse_as_docker() {
        let dir = tempfile::tempdir().unwrap();
        let host = dir.path().join("made");
        let v = parse_volume(&format!("{}:/data:ro", host.display())).unwrap();
        assert!(v.readonly && host.is_dir(), "a missing -v source is made");
        assert_eq!(v.target, "/data");
        assert!(parse_volume("named:/data")
            .unwrap_err()
            .to_string()
            .contains("named volumes"));
        assert!(parse_volume("/x:rel").is_err());
        assert!(parse_volume("/x:/y:bogus").is_err());
        let m = parse_mount(&format!("type=bind,src={},dst=/d,readonly", host.display())).unwrap();
        assert!(m.readonly);
        let err = parse_mount("type=bind,source=/no/such/dir,target=/d")
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not exist"), "{err}");
        let t = parse_mount("type=tmpfs,target=/t,tmpfs-size=1m").unwrap();
        assert_eq!(
            t.source,
            MountFrom::Tmpfs {
                size: Some(1 << 20)
            }
        );
        assert!(parse_mount("type=volume,target=/v").is_err());
        assert!(validate_name("ok-name_1.x").is_ok());
        assert!(validate_name("-bad").is_err());
    }
}
