//! RUN: the command (wrapped in the SHELL, heredocs as BuildKit runs them), the environment
//! it sees, its mounts, and its history line (`RUN |1 A=x /bin/sh -c make # buildkit`).
//!
//! The shell text is not expanded: the shell in the container does it, with the build
//! environment (ENV plus the ARGs in scope) passed to it. Proxy build args are passed without
//! a declaration and kept out of the digest and history, as BuildKit does.

use super::dispatch::{clean_path, normalize_reference, word};
use super::history::{run_command, summarize_heredoc, uppercase_keyword};
use super::plan::{mount_source, Source};
use super::state::StageState;
use super::{error_at, is_proxy_arg, named, Compiler, PROXY_ARGS};
use crate::ast::Heredoc;
use crate::error::Result;
use crate::graph::{ExecOp, InlineFile, MountSource, Op, RunMount};
use crate::instructions::{CommandLine, Instruction, Mount, MountKind, RunArgs};

pub(super) fn dispatch_run(
    c: &mut Compiler<'_>,
    state: &mut StageState,
    stage: usize,
    instruction: &Instruction,
    run: &RunArgs,
) -> Result<()> {
    let lines = (instruction.start_line, instruction.end_line);
    let mut shown = instruction.original.trim().to_string();
    let mut files = Vec::new();
    let argv = match &run.command {
        CommandLine::Exec(args) => args.clone(),
        CommandLine::Shell(text) => {
            let script = match single_heredoc(text, &run.heredocs) {
                // `RUN <<EOF`: the body is the script; with a `#!` line it runs as a file.
                Some(doc) => {
                    shown.push_str(&format!(" ({})", summarize_heredoc(&doc.content)));
                    if doc.content.starts_with("#!") {
                        let path = format!("/dev/pipes/{}", doc.name);
                        files.push(InlineFile {
                            path: path.clone(),
                            content: doc.content.clone(),
                            mode: 0o755,
                        });
                        path
                    } else {
                        doc.content.clone()
                    }
                }
                // `RUN cat <<A >a <<B`: the shell gets the line and the bodies and does the
                // redirections itself.
                None => {
                    let mut script = text.clone();
                    for doc in &run.heredocs {
                        script.push('\n');
                        script.push_str(&doc.content);
                        script.push_str(&doc.name);
                    }
                    script
                }
            };
            let mut argv = state.config.shell_or_default();
            argv.push(script);
            argv
        }
    };
    let mut inputs = vec![state.last];
    let mut mounts = Vec::new();
    for spec in &run.mounts {
        mounts.push(resolve_mount(
            c,
            state,
            stage,
            instruction,
            spec,
            &mut inputs,
        )?);
    }
    let mut env = state.env.clone();
    let mut proxy_env = Vec::new();
    for (key, value) in proxy_values(&c.options.build_args) {
        if !env.iter().any(|(k, _)| *k == key) {
            env.push((key.clone(), value));
            proxy_env.push(key);
        }
    }
    let network = match run.network.as_deref() {
        None | Some("default") => c.options.network.clone(),
        Some(mode) => mode.to_string(),
    };
    let op = Op::Exec(ExecOp {
        argv: argv.clone(),
        env,
        proxy_env,
        cwd: state.config.workdir_or_root(),
        user: state.config.user.clone(),
        network,
        security: run.security.clone().unwrap_or_else(|| "sandbox".into()),
        mounts,
        files,
    });
    // The progress name shows the variables the build knows, and leaves the rest (and the
    // quotes) for the shell, as BuildKit's does.
    let name_lexer = c.lexer.raw_quotes(true).skip_unset(true);
    let shown = name_lexer.expand(&shown, &state.env).unwrap_or(shown);
    let name = state.step_name(&uppercase_keyword(&shown));
    let vertex = c.add_vertex(op, inputs, name, lines);
    state.last = vertex;
    let text = format!(
        "RUN {} # buildkit",
        run_command(&argv, &state.build_args, &state.env)
    );
    state.record(text, Some(vertex));
    Ok(())
}

/// The heredoc when the whole command is one heredoc marker (`RUN <<EOF`).
fn single_heredoc<'h>(text: &str, heredocs: &'h [Heredoc]) -> Option<&'h Heredoc> {
    let marker = crate::parser::parse_heredoc_word(text.trim()).ok()??;
    heredocs.first().filter(|doc| doc.name == marker.name)
}

/// Proxy values from the build args, under both spellings of each name (BuildKit's
/// `ProxyEnv`): `--build-arg http_proxy=x` gives `HTTP_PROXY=x` and `http_proxy=x`.
fn proxy_values(build_args: &std::collections::BTreeMap<String, String>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for name in PROXY_ARGS {
        // Sorted keys, the last match wins (upper-case sorts first).
        let value = build_args
            .iter()
            .filter(|(k, _)| is_proxy_arg(k) && k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
            .next_back();
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            out.push((name.to_string(), value.clone()));
            out.push((name.to_lowercase(), value.clone()));
        }
    }
    out
}

/// Expands a mount's values, makes its target absolute, and finds what it mounts.
fn resolve_mount(
    c: &mut Compiler<'_>,
    state: &StageState,
    stage: usize,
    instruction: &Instruction,
    spec: &Mount,
    inputs: &mut Vec<usize>,
) -> Result<RunMount> {
    let mut failure = None;
    let mut expand = |value: &str| match word(c, state, value, instruction) {
        Ok(expanded) => Ok(expanded),
        Err(e) => {
            let message = e.message().to_string();
            failure = Some(e);
            Err(message)
        }
    };
    let parsed = Mount::parse_expanded(&spec.spec, &mut expand);
    let mut mount = match (parsed, failure) {
        (Ok(mount), _) => mount,
        (Err(_), Some(error)) => return Err(error),
        (Err(message), None) => return Err(error_at(message, instruction)),
    };
    if matches!(
        mount.kind,
        MountKind::Bind | MountKind::Cache | MountKind::Tmpfs
    ) {
        if let Some(target) = &mount.target {
            let absolute = if target.starts_with('/') {
                target.clone()
            } else {
                clean_path(&format!("{}/{target}", state.config.workdir_or_root()))
            };
            if absolute == "/" {
                return Err(error_at(
                    format!("invalid mount target {absolute:?}"),
                    instruction,
                ));
            }
            mount.target = Some(absolute);
        }
    }
    let lines = (instruction.start_line, instruction.end_line);
    let plans = c.plan;
    let source = match mount_source(&plans.stages, mount.kind, mount.from.as_deref()) {
        Source::Image(name) => named::source(c.options, name),
        other => other,
    };
    let (source, vertex) = match source {
        Source::Nothing => (MountSource::None, None),
        Source::Context => {
            let path = clean_path(&format!("/{}", mount.source.as_deref().unwrap_or("")));
            c.context_paths.insert(path);
            (MountSource::Context, Some(c.context_vertex()))
        }
        Source::Scratch => (
            MountSource::Scratch,
            Some(c.add_vertex(Op::Scratch, Vec::new(), String::new(), lines)),
        ),
        Source::Stage(dep) if dep >= stage => {
            return Err(error_at(
                format!(
                "cannot mount from stage {:?}, it needs to be defined before current stage {:?}",
                mount.from.as_deref().unwrap_or_default(),
                stage_label(c, stage)
            ),
                instruction,
            ))
        }
        Source::Stage(dep) => {
            let slot = c.slots[&dep];
            (MountSource::Stage(slot), Some(c.graph.stages[slot].last))
        }
        Source::Image(reference) => {
            let name = format!("FROM {}", normalize_reference(&reference));
            let platform = plans.stages[stage].platform.clone();
            let vertex = c.source_image_vertex(&reference, &platform, name, instruction)?;
            (MountSource::Image(reference), Some(vertex))
        }
        Source::Local(key) => (
            MountSource::NamedContext(key.clone()),
            Some(named::context_vertex(c, &key)),
        ),
    };
    let input = vertex.map(|v| {
        inputs.push(v);
        inputs.len() - 1
    });
    Ok(RunMount {
        mount,
        source,
        input,
    })
}

/// A stage as BuildKit names it in messages: its name, or `stage-N`.
pub(super) fn stage_label(c: &Compiler<'_>, stage: usize) -> String {
    c.plan.stages[stage]
        .name
        .clone()
        .unwrap_or_else(|| format!("stage-{stage}"))
}
