//! Compiling one stage: its base, its inherited ONBUILD triggers, then each instruction in
//! turn. This module handles the stage's start and the config-only instructions; RUN and
//! COPY/ADD have their own modules.
//!
//! Where BuildKit expands variables, so does this: ENV and LABEL keys and values, USER,
//! WORKDIR, VOLUME, EXPOSE, STOPSIGNAL, ARG defaults, COPY/ADD sources, destination and
//! flags, RUN mount values. CMD, ENTRYPOINT, SHELL, HEALTHCHECK, ONBUILD, MAINTAINER and the
//! text of RUN are kept as written: the shell in the container sees variables at run time.
//! An instruction's words are all expanded before it takes effect (`ENV A=1 B=$A` gives B the
//! A from before the line, as in docker), except ARG's, which apply one by one.

use super::history::{healthcheck, plain, quoted, uppercase_keyword};
use super::plan::Base;
use super::ports::expose_ports;
use super::state::{Inherited, StageState};
use super::{copy, error_at, named, run, suggest, Compiler};
use crate::config::{HealthConfig, ImageConfig};
use crate::error::Result;
use crate::graph::{Op, Stage};
use crate::instructions::{CommandLine, Health, Instruction, Kind};

/// PATH for stages whose image sets none (BuildKit's `system.DefaultPathEnv` on Linux).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// BuildKit does not put these args in the environment (they steer SBOM scanning).
const NON_ENV_ARGS: [&str; 2] = ["BUILDKIT_SBOM_SCAN_CONTEXT", "BUILDKIT_SBOM_SCAN_STAGE"];

/// Compiles one needed stage (its dependencies are compiled already); returns its slot in
/// `graph.stages`.
pub(super) fn compile_stage(c: &mut Compiler<'_>, index: usize) -> Result<usize> {
    let plans = c.plan;
    let plan = &plans.stages[index];
    let lines = (plan.from.start_line, plan.from.end_line);
    let mut state = StageState {
        config: ImageConfig::default(),
        env: Vec::new(),
        build_args: Vec::new(),
        cmd_set: false,
        last: 0,
        history: Vec::new(),
        display: plan.display.clone(),
        step: 0,
        total: plan.total_steps(),
        in_trigger: false,
    };
    let mut base_image = None;
    match &plan.base {
        Base::Stage(base) => {
            let inherited = c.results[base].clone();
            state.config = inherited.config;
            state.env = inherited.env;
            state.build_args = inherited.build_args;
            state.last = inherited.last;
        }
        Base::Scratch => {
            state.last = c.add_vertex(Op::Scratch, Vec::new(), String::new(), lines);
            // BuildKit's empty image has WorkingDir "/" (docker shows it in the config).
            state.config.workdir = "/".into();
        }
        Base::Local(key) => {
            state.config.workdir = "/".into();
            state.last = named::local_base(c, &mut state, key, lines);
        }
        Base::Image(reference) => {
            state.config = plan.base_config.clone();
            let name = state.step_name(&format!("FROM {}", normalize_reference(reference)));
            state.last = c.image_vertex(reference, &plan.platform, name, lines);
            base_image = Some(reference.clone());
        }
    }
    let base_vertex = state.last;
    // Triggers run once, in the stage that inherits them.
    state.config.onbuild.clear();
    if !state.config.env.iter().any(|(k, _)| k == "PATH") {
        state.config.set_env("PATH", DEFAULT_PATH);
    }
    for (key, value) in state.config.env.clone() {
        state.set_env(&key, &value);
    }
    if !state.config.workdir.is_empty() {
        state.config.workdir = normalize_workdir("", &state.config.workdir);
    }
    state.in_trigger = true;
    for trigger in &plan.triggers {
        dispatch(c, &mut state, index, trigger)?;
    }
    state.in_trigger = false;
    for instruction in plan.body {
        dispatch(c, &mut state, index, instruction)?;
    }
    let slot = c.graph.stages.len();
    c.results.insert(
        index,
        Inherited {
            config: state.config.clone(),
            env: state.env.clone(),
            build_args: state.build_args.clone(),
            last: state.last,
        },
    );
    c.graph.stages.push(Stage {
        index,
        name: plan.name.clone(),
        base: base_vertex,
        last: state.last,
        config: state.config,
        history: state.history,
        base_image,
        platform: plan.platform.clone(),
    });
    Ok(slot)
}

fn dispatch(
    c: &mut Compiler<'_>,
    state: &mut StageState,
    stage: usize,
    instruction: &Instruction,
) -> Result<()> {
    match &instruction.kind {
        Kind::From { .. } => unreachable!("FROM starts a stage"),
        Kind::Run(run) => run::dispatch_run(c, state, stage, instruction, run),
        Kind::Copy(copy) => copy::dispatch_copy(c, state, stage, instruction, copy),
        Kind::Workdir(path) => workdir(c, state, instruction, path),
        Kind::Arg(decls) => {
            let mut recorded = Vec::new();
            for decl in decls {
                c.consumed.insert(decl.name.clone());
                let value = match (c.options.build_args.get(&decl.name), &decl.default) {
                    (Some(given), _) => Some(given.clone()),
                    (None, Some(default)) => Some(word(c, state, default, instruction)?),
                    (None, None) => c.globals.get(&decl.name).map(str::to_string),
                };
                if let Some(value) = &value {
                    if !NON_ENV_ARGS.contains(&decl.name.as_str()) {
                        state.set_env(&decl.name, value);
                    }
                }
                recorded.push(match &value {
                    Some(value) => format!("{}={value}", decl.name),
                    None => decl.name.clone(),
                });
                state.build_args.push((decl.name.clone(), value));
            }
            config_step(c, state, format!("ARG {}", recorded.join(" ")), instruction);
            Ok(())
        }
        Kind::Env(pairs) => {
            let mut expanded = Vec::new();
            for pair in pairs {
                let key = word(c, state, &pair.key, instruction)?;
                let value = word(c, state, &pair.value, instruction)?;
                expanded.push((key, value));
            }
            let mut recorded = Vec::new();
            for (key, value) in expanded {
                state.config.set_env(&key, &value);
                state.set_env(&key, &value);
                recorded.push(format!("{key}={value}"));
            }
            config_step(c, state, format!("ENV {}", recorded.join(" ")), instruction);
            Ok(())
        }
        Kind::Label(pairs) => {
            let mut expanded = Vec::new();
            for pair in pairs {
                let key = word(c, state, &pair.key, instruction)?;
                let value = word(c, state, &pair.value, instruction)?;
                expanded.push((key, value));
            }
            let mut recorded = Vec::new();
            for (key, value) in expanded {
                recorded.push(format!("{key}={value}"));
                state.config.labels.insert(key, value);
            }
            config_step(
                c,
                state,
                format!("LABEL {}", recorded.join(" ")),
                instruction,
            );
            Ok(())
        }
        Kind::Maintainer(name) => {
            state.config.author = Some(name.clone());
            config_step(c, state, format!("MAINTAINER {name}"), instruction);
            Ok(())
        }
        Kind::Expose(specs) => {
            let mut ports = Vec::new();
            for spec in specs {
                let words = c
                    .lexer
                    .expand_words(spec, &state.env)
                    .map_err(|e| error_at(e.to_string(), instruction))?;
                for word in words {
                    ports.extend(expose_ports(&word).map_err(|e| error_at(e, instruction))?);
                }
            }
            state.config.exposed_ports.extend(ports.iter().cloned());
            config_step(c, state, format!("EXPOSE {}", plain(&ports)), instruction);
            Ok(())
        }
        Kind::Volume(paths) => {
            let mut volumes = Vec::new();
            for path in paths {
                volumes.push(word(c, state, path, instruction)?);
            }
            if volumes.iter().any(String::is_empty) {
                return Err(error_at(
                    "VOLUME specified can not be an empty string",
                    instruction,
                ));
            }
            state.config.volumes.extend(volumes.iter().cloned());
            config_step(c, state, format!("VOLUME {}", plain(&volumes)), instruction);
            Ok(())
        }
        Kind::User(user) => {
            state.config.user = word(c, state, user, instruction)?;
            let text = format!("USER {}", state.config.user);
            config_step(c, state, text, instruction);
            Ok(())
        }
        Kind::StopSignal(signal) => {
            let signal = word(c, state, signal, instruction)?;
            validate_signal(&signal).map_err(|e| error_at(e, instruction))?;
            state.config.stop_signal = Some(signal.clone());
            config_step(c, state, format!("STOPSIGNAL {signal}"), instruction);
            Ok(())
        }
        Kind::Cmd(command) => {
            let argv = with_shell(command, &state.config);
            let text = format!("CMD {}", quoted(&argv));
            state.config.cmd = Some(argv);
            state.cmd_set = true;
            config_step(c, state, text, instruction);
            Ok(())
        }
        Kind::Entrypoint(command) => {
            let argv = with_shell(command, &state.config);
            let text = format!("ENTRYPOINT {}", quoted(&argv));
            state.config.entrypoint = Some(argv);
            if !state.cmd_set {
                // An inherited CMD was meant for the old entrypoint (docker drops it).
                state.config.cmd = None;
            }
            config_step(c, state, text, instruction);
            Ok(())
        }
        Kind::Shell(shell) => {
            state.config.shell = shell.clone();
            config_step(c, state, format!("SHELL {}", plain(shell)), instruction);
            Ok(())
        }
        Kind::Healthcheck(health) => {
            let config = health_config(health);
            let text = healthcheck(&config);
            state.config.healthcheck = Some(config);
            config_step(c, state, text, instruction);
            Ok(())
        }
        Kind::Onbuild { text, .. } => {
            // Recorded for images built on this one; BuildKit writes no history for it.
            state.config.onbuild.push(text.clone());
            Ok(())
        }
    }
}

/// WORKDIR: a relative path joins the current one; anything but `/` is created (owned by the
/// USER) in a layer of its own, as BuildKit's `mkdir -p` file op.
fn workdir(
    c: &mut Compiler<'_>,
    state: &mut StageState,
    instruction: &Instruction,
    path: &str,
) -> Result<()> {
    let path = word(c, state, path, instruction)?;
    if path.is_empty() {
        return Err(error_at(
            "normalizing workdir: cannot normalize empty path",
            instruction,
        ));
    }
    let recorded = normalize_workdir(&state.config.workdir, &path);
    state.config.workdir = recorded.clone();
    if recorded == "/" {
        state.record(format!("WORKDIR {recorded}"), None);
        return Ok(());
    }
    let shown = c
        .lexer
        .expand(&instruction.original, &state.env)
        .unwrap_or_else(|_| instruction.original.clone());
    let name = state.step_name(&uppercase_keyword(&shown));
    let op = Op::Mkdir {
        path: clean_path(&recorded),
        user: state.config.user.clone(),
    };
    let lines = (instruction.start_line, instruction.end_line);
    let vertex = c.add_vertex(op, vec![state.last], name, lines);
    state.last = vertex;
    state.record(format!("WORKDIR {recorded}"), Some(vertex));
    Ok(())
}

/// BuildKit's `NormalizeWorkdir`: a relative path joins onto the current one (and is cleaned
/// by the join); an absolute path is kept exactly as written, in the config and the history.
fn normalize_workdir(current: &str, requested: &str) -> String {
    if requested.starts_with('/') {
        requested.to_string()
    } else {
        clean_path(&format!("/{current}/{requested}"))
    }
}

/// Expands one word with the build environment; unset variables that are not declared ARGs
/// are reported (BuildKit's `UndefinedVar`).
pub(super) fn word(
    c: &mut Compiler<'_>,
    state: &StageState,
    text: &str,
    at: &Instruction,
) -> Result<String> {
    let found = c
        .lexer
        .process(text, &state.env)
        .map_err(|e| error_at(e.to_string(), at))?;
    for name in found.unmatched {
        if state.build_args.iter().any(|(k, _)| *k == name) {
            continue;
        }
        let hint = suggest(&name, state.env.iter().map(|(k, _)| k.as_str()))
            .map(|n| format!(" (did you mean ${n}?)"))
            .unwrap_or_default();
        c.warn(
            "UndefinedVar",
            format!("Usage of undefined variable '${name}'{hint}"),
            at,
        );
    }
    Ok(found.result)
}

/// A config-only step: a vertex that chains the config change, and an empty history entry.
fn config_step(c: &mut Compiler<'_>, state: &mut StageState, text: String, at: &Instruction) {
    let op = Op::Config {
        created_by: text.clone(),
    };
    let lines = (at.start_line, at.end_line);
    state.last = c.add_vertex(op, vec![state.last], String::new(), lines);
    state.record(text, None);
}

/// CMD/ENTRYPOINT argv: the exec form as is, the shell form inside the stage's SHELL.
pub(super) fn with_shell(command: &CommandLine, config: &ImageConfig) -> Vec<String> {
    match command {
        CommandLine::Exec(args) => args.clone(),
        CommandLine::Shell(text) => {
            let mut argv = config.shell_or_default();
            argv.push(text.clone());
            argv
        }
    }
}

fn health_config(health: &Health) -> HealthConfig {
    match health {
        Health::None => HealthConfig {
            test: vec!["NONE".into()],
            ..HealthConfig::default()
        },
        Health::Check {
            command,
            interval,
            timeout,
            start_period,
            start_interval,
            retries,
        } => HealthConfig {
            test: match command {
                CommandLine::Exec(args) => std::iter::once("CMD".to_string())
                    .chain(args.iter().cloned())
                    .collect(),
                CommandLine::Shell(cmd) => vec!["CMD-SHELL".into(), cmd.clone()],
            },
            interval: *interval,
            timeout: *timeout,
            start_period: *start_period,
            start_interval: *start_interval,
            retries: *retries,
        },
    }
}

/// `path.Clean` for absolute paths.
pub fn clean_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

/// What BuildKit shows for `FROM x`: the fully qualified name, `:latest` when untagged
/// (`busybox` → `docker.io/library/busybox:latest`). An image ID (`sha256:…`, what a named
/// context loaded from an OCI layout is) is shown as it is.
pub fn normalize_reference(reference: &str) -> String {
    if is_image_id(reference) {
        return reference.to_string();
    }
    let (name, digest) = match reference.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (reference, None),
    };
    let last_part = name.rsplit('/').next().unwrap_or(name);
    let tagged = last_part.contains(':');
    let mut full = if crate::reference::split_domain(name).is_some() {
        name.to_string()
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    if !tagged && digest.is_none() {
        full.push_str(":latest");
    }
    if let Some(digest) = digest {
        full.push('@');
        full.push_str(digest);
    }
    full
}

/// `sha256:` and 64 hex digits.
fn is_image_id(reference: &str) -> bool {
    reference
        .strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// moby's `signal.ParseSignal`: a non-zero number, or a Linux signal name with or without
/// `SIG`.
fn validate_signal(signal: &str) -> std::result::Result<(), String> {
    const NAMES: [&str; 36] = [
        "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT",
        "KILL", "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM",
        "TRAP", "TSTP", "TTIN", "TTOU", "UNUSED", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU",
        "XFSZ", "RTMIN",
    ];
    let invalid = || Err(format!("invalid signal: {signal}"));
    if let Ok(number) = signal.parse::<i64>() {
        return if number == 0 { invalid() } else { Ok(()) };
    }
    let upper = signal.to_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let realtime = |prefix: &str, sign: char| {
        name.strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix(sign))
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| (1..=15).contains(&n) && !(sign == '-' && n == 15))
    };
    if NAMES.contains(&name) || name == "RTMAX" || realtime("RTMIN", '+') || realtime("RTMAX", '-')
    {
        Ok(())
    } else {
        invalid()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_shown_fully_qualified() {
        assert_eq!(
            normalize_reference("busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            normalize_reference("alpine:3.20"),
            "docker.io/library/alpine:3.20"
        );
        assert_eq!(normalize_reference("me/app"), "docker.io/me/app:latest");
        assert_eq!(
            normalize_reference("localhost:5000/app:1"),
            "localhost:5000/app:1"
        );
        assert_eq!(normalize_reference("ghcr.io/o/r"), "ghcr.io/o/r:latest");
        // docker's ParseNormalizedNamed reads an upper-case first component as a host, as
        // strata's registry client does (one rule: `reference::split_domain`).
        assert_eq!(normalize_reference("MyReg/app"), "MyReg/app:latest");
        assert_eq!(
            normalize_reference("alpine@sha256:abc"),
            "docker.io/library/alpine@sha256:abc"
        );
    }

    #[test]
    fn signals_as_moby_parses_them() {
        for ok in [
            "SIGTERM",
            "term",
            "9",
            "SIGRTMIN+3",
            "RTMAX-1",
            "RTMAX",
            "64",
        ] {
            assert!(validate_signal(ok).is_ok(), "{ok}");
        }
        for bad in ["0", "SIGNOPE", "RTMIN+16", "RTMAX-15", ""] {
            assert_eq!(
                validate_signal(bad).unwrap_err(),
                format!("invalid signal: {bad}")
            );
        }
    }

    #[test]
    fn paths_clean() {
        assert_eq!(clean_path("/a/./b/../c//"), "/a/c");
        assert_eq!(clean_path("/../x"), "/x");
        assert_eq!(clean_path("/"), "/");
    }
}
