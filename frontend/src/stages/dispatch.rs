//! Compiling one stage: its base, its base image's ONBUILD triggers, then each instruction in
//! turn — expanding words with the ARGs and ENV in effect, updating the image config, and adding
//! a vertex for each step that touches the filesystem.

use super::args::{expose_ports, is_platform_arg, platform_args};
use super::{expand, Compiler};
use crate::config::{HealthConfig, HistoryEntry, ImageConfig};
use crate::error::{Error, Result};
use crate::graph::{CopyFrom, CopyOp, CopySource, ExecOp, Op, Stage, VertexId};
use crate::instructions::{parse_node, CommandLine, CopyArgs, Health, Instruction, Kind, RunArgs};

/// PATH for RUN when the image sets none (BuildKit's `system.DefaultPathEnv` on Linux).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The mutable state of a stage while its instructions are dispatched.
struct StageState {
    config: ImageConfig,
    /// ARGs declared in this stage, with values (unset ones are absent).
    args: Vec<(String, String)>,
    /// Whether CMD was set in this stage (a later ENTRYPOINT then keeps it).
    cmd_set: bool,
    last: VertexId,
    history: Vec<(HistoryEntry, Option<VertexId>)>,
    step: usize,
    steps: usize,
    prefix: String,
}

impl StageState {
    /// Variables for expanding words: ARGs, overridden by ENV of the same name.
    fn scope(&self) -> Vec<(String, String)> {
        self.args.iter().chain(&self.config.env).cloned().collect()
    }

    fn next_name(&mut self, text: &str) -> String {
        self.step += 1;
        format!("[{}{}/{}] {}", self.prefix, self.step, self.steps, text)
    }
}

pub(super) fn compile_stage(compiler: &mut Compiler<'_>, index: usize) -> Result<usize> {
    let raw = &compiler.raw[index];
    let (mut config, base_vertex, base_image) = base_of(compiler, index)?;
    let triggers: Vec<Instruction> = std::mem::take(&mut config.onbuild)
        .iter()
        .map(|text| trigger(text, raw.from))
        .collect::<Result<_>>()?;
    let counted =
        |i: &Instruction| matches!(i.kind, Kind::Run(_) | Kind::Copy(_) | Kind::Workdir(_));
    let steps = 1
        + triggers.iter().filter(|i| counted(i)).count()
        + raw.body.iter().filter(|i| counted(i)).count();
    let prefix = match (&raw.name, compiler.raw.len()) {
        (Some(name), _) => format!("{name} "),
        (None, 1) => String::new(),
        (None, _) => format!("stage-{index} "),
    };
    let from_name = format!("[{prefix}1/{steps}] FROM {}", raw.base);
    if let Some(vertex) = compiler.graph.vertices.get_mut(base_vertex) {
        if vertex.name.is_empty() {
            vertex.name = from_name;
        }
    }
    let mut state = StageState {
        config,
        args: Vec::new(),
        cmd_set: false,
        last: base_vertex,
        history: Vec::new(),
        step: 1,
        steps,
        prefix,
    };
    for instruction in triggers.iter().chain(raw.body.iter()) {
        dispatch(compiler, &mut state, index, instruction)?;
    }
    let slot = compiler.graph.stages.len();
    compiler.graph.stages.push(Stage {
        index,
        name: raw.name.clone(),
        base: base_vertex,
        last: state.last,
        config: state.config,
        history: state.history,
        base_image,
    });
    Ok(slot)
}

/// The stage's starting config and vertex.
fn base_of(
    compiler: &mut Compiler<'_>,
    index: usize,
) -> Result<(ImageConfig, VertexId, Option<String>)> {
    let raw = &compiler.raw[index];
    let lines = (raw.from.start_line, raw.from.end_line);
    if let Some(other) = compiler
        .find_stage(&raw.base)
        .filter(|_| raw.base.parse::<usize>().is_err())
    {
        let slot = compiler.compile_stage(other)?;
        let stage = &compiler.graph.stages[slot];
        return Ok((stage.config.clone(), stage.last, None));
    }
    if raw.base.eq_ignore_ascii_case("scratch") {
        let vertex = compiler.add_vertex(Op::Scratch, Vec::new(), String::new(), lines);
        let mut config = ImageConfig::default();
        config.set_env("PATH", DEFAULT_PATH);
        return Ok((config, vertex, None));
    }
    let config = compiler
        .images
        .config(&raw.base, &raw.platform)
        .map_err(|message| Error::at(message, lines.0, lines.1))?
        .unwrap_or_default();
    let op = Op::Image {
        reference: raw.base.clone(),
        platform: raw.platform.clone(),
    };
    let vertex = compiler.add_vertex(op, Vec::new(), String::new(), lines);
    Ok((config, vertex, Some(raw.base.clone())))
}

/// Parses an inherited ONBUILD trigger; errors point at the FROM that inherited it.
fn trigger(text: &str, from: &Instruction) -> Result<Instruction> {
    let fail = |message: String| {
        Error::at(
            format!("ONBUILD trigger {text:?} of the base image: {message}"),
            from.start_line,
            from.end_line,
        )
    };
    let ast = crate::parser::parse(text).map_err(|e| fail(e.message().to_string()))?;
    let mut node = ast
        .nodes
        .into_iter()
        .next()
        .ok_or_else(|| fail("empty".into()))?;
    node.start_line = from.start_line;
    node.end_line = from.end_line;
    parse_node(&node).map_err(|e| fail(e.message().to_string()))
}

fn dispatch(
    compiler: &mut Compiler<'_>,
    state: &mut StageState,
    stage_index: usize,
    instruction: &Instruction,
) -> Result<()> {
    let lines = (instruction.start_line, instruction.end_line);
    let lexer = compiler.lexer;
    let at = |message: String| Error::at(message, lines.0, lines.1);
    let x = |word: &str, state: &StageState| expand(&lexer, word, &state.scope(), instruction);
    let words = |word: &str, state: &StageState| {
        lexer
            .expand_words(word, &state.scope())
            .map_err(|err| at(err.to_string()))
    };
    match &instruction.kind {
        Kind::From { .. } => unreachable!("FROM starts a stage"),
        Kind::Env(pairs) => {
            let mut recorded = Vec::new();
            for pair in pairs {
                let key = x(&pair.key, state)?;
                let value = x(&pair.value, state)?;
                recorded.push(format!("{key}={value}"));
                state.config.set_env(&key, &value);
            }
            config_step(
                compiler,
                state,
                format!("ENV {}", recorded.join(" ")),
                lines,
            );
        }
        Kind::Label(pairs) => {
            let mut recorded = Vec::new();
            for pair in pairs {
                let key = x(&pair.key, state)?;
                let value = x(&pair.value, state)?;
                recorded.push(format!("{key}={value}"));
                state.config.labels.insert(key, value);
            }
            config_step(
                compiler,
                state,
                format!("LABEL {}", recorded.join(" ")),
                lines,
            );
        }
        Kind::Maintainer(name) => {
            state.config.author = Some(name.clone());
            config_step(compiler, state, format!("MAINTAINER {name}"), lines);
        }
        Kind::Expose(specs) => {
            let mut ports = Vec::new();
            for spec in specs {
                for word in words(spec, state)? {
                    ports.extend(expose_ports(&word).map_err(at)?);
                }
            }
            state.config.exposed_ports.extend(ports.iter().cloned());
            config_step(
                compiler,
                state,
                format!("EXPOSE {}", ports.join(" ")),
                lines,
            );
        }
        Kind::Volume(paths) => {
            let mut added = Vec::new();
            for path in paths {
                let value = x(path, state)?;
                if value.trim().is_empty() {
                    return Err(at("VOLUME specified can not be an empty string".into()));
                }
                added.push(value);
            }
            state.config.volumes.extend(added.iter().cloned());
            config_step(
                compiler,
                state,
                format!("VOLUME [{}]", added.join(" ")),
                lines,
            );
        }
        Kind::User(user) => {
            state.config.user = x(user, state)?;
            let text = format!("USER {}", state.config.user);
            config_step(compiler, state, text, lines);
        }
        Kind::Workdir(path) => {
            let path = x(path, state)?;
            let joined = if path.starts_with('/') {
                path
            } else {
                format!("{}/{}", state.config.workdir_or_root(), path)
            };
            state.config.workdir = clean_path(&joined);
            let op = Op::Mkdir {
                path: state.config.workdir.clone(),
                user: state.config.user.clone(),
            };
            let text = format!("WORKDIR {}", state.config.workdir);
            let name = state.next_name(&text);
            let vertex = compiler.add_vertex(op, vec![state.last], name, lines);
            state.last = vertex;
            state.history.push((history(&text, false), Some(vertex)));
        }
        Kind::StopSignal(signal) => {
            let signal = x(signal, state)?;
            validate_signal(&signal).map_err(at)?;
            state.config.stop_signal = Some(signal.clone());
            config_step(compiler, state, format!("STOPSIGNAL {signal}"), lines);
        }
        Kind::Cmd(command) => {
            state.config.cmd = Some(argv_of(command, &state.config));
            state.cmd_set = true;
            let text = format!("CMD {:?}", state.config.cmd.as_deref().unwrap_or_default());
            config_step(compiler, state, text, lines);
        }
        Kind::Entrypoint(command) => {
            state.config.entrypoint = Some(argv_of(command, &state.config));
            if !state.cmd_set {
                // A new ENTRYPOINT makes an inherited CMD meaningless (docker resets it).
                state.config.cmd = None;
            }
            let text = format!(
                "ENTRYPOINT {:?}",
                state.config.entrypoint.as_deref().unwrap_or_default()
            );
            config_step(compiler, state, text, lines);
        }
        Kind::Shell(shell) => {
            state.config.shell = shell.clone();
            config_step(compiler, state, format!("SHELL {shell:?}"), lines);
        }
        Kind::Healthcheck(health) => {
            let config = match health {
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
            };
            let text = format!("HEALTHCHECK {:?}", config.test);
            state.config.healthcheck = Some(config);
            config_step(compiler, state, text, lines);
        }
        Kind::Onbuild { text, .. } => {
            state.config.onbuild.push(text.clone());
            config_step(compiler, state, format!("ONBUILD {text}"), lines);
        }
        Kind::Arg(decls) => {
            for decl in decls {
                compiler.consumed.insert(decl.name.clone());
                let value = match (compiler.options.build_args.get(&decl.name), &decl.default) {
                    (Some(value), _) => Some(value.clone()),
                    (None, Some(default)) => Some(x(default, state)?),
                    (None, None) => compiler
                        .global
                        .iter()
                        .rev()
                        .find(|(k, _)| *k == decl.name)
                        .map(|(_, v)| v.clone())
                        .or_else(|| {
                            is_platform_arg(&decl.name).then(|| {
                                platform_args(&compiler.options.platform)
                                    .into_iter()
                                    .find(|(k, _)| *k == decl.name)
                                    .map(|(_, v)| v)
                                    .unwrap_or_default()
                            })
                        }),
                };
                state.args.retain(|(k, _)| *k != decl.name);
                if let Some(value) = value {
                    state.args.push((decl.name.clone(), value));
                }
            }
        }
        Kind::Run(run) => run_step(compiler, state, instruction, run)?,
        Kind::Copy(copy) => copy_step(compiler, state, stage_index, instruction, copy)?,
    }
    Ok(())
}

fn config_step(
    compiler: &mut Compiler<'_>,
    state: &mut StageState,
    text: String,
    lines: (usize, usize),
) {
    let op = Op::Config {
        created_by: text.clone(),
    };
    state.last = compiler.add_vertex(op, vec![state.last], String::new(), lines);
    state.history.push((history(&text, true), None));
}

fn history(created_by: &str, empty_layer: bool) -> HistoryEntry {
    HistoryEntry {
        created_by: created_by.to_string(),
        empty_layer,
    }
}

fn argv_of(command: &CommandLine, config: &ImageConfig) -> Vec<String> {
    match command {
        CommandLine::Exec(args) => args.clone(),
        CommandLine::Shell(text) => {
            let mut argv = config.shell_or_default();
            argv.push(text.clone());
            argv
        }
    }
}

fn run_step(
    compiler: &mut Compiler<'_>,
    state: &mut StageState,
    instruction: &Instruction,
    run: &RunArgs,
) -> Result<()> {
    let lines = (instruction.start_line, instruction.end_line);
    let argv = match &run.command {
        CommandLine::Exec(args) => args.clone(),
        CommandLine::Shell(text) => {
            let mut argv = state.config.shell_or_default();
            argv.push(shell_script(text, &run.heredocs));
            argv
        }
    };
    // RUN sees the stage's ENV and, where ENV does not set them, the ARGs in scope; proxy
    // build args are passed through without a declaration, as docker does.
    let mut env = state.config.env.clone();
    let mut used_args = Vec::new();
    for (name, value) in &state.args {
        if !env.iter().any(|(k, _)| k == name) {
            env.push((name.clone(), value.clone()));
            used_args.push(format!("{name}={value}"));
        }
    }
    for (name, value) in &compiler.options.build_args {
        if super::is_proxy_arg(name) && !env.iter().any(|(k, _)| k == name) {
            env.push((name.clone(), value.clone()));
        }
    }
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.push(("PATH".into(), DEFAULT_PATH.into()));
    }
    let network = match run.network.as_deref() {
        None | Some("default") => compiler.options.network.clone(),
        Some(mode) => mode.to_string(),
    };
    let op = Op::Exec(ExecOp {
        argv: argv.clone(),
        env,
        cwd: state.config.workdir_or_root(),
        user: state.config.user.clone(),
        network,
        security: run.security.clone().unwrap_or_else(|| "sandbox".into()),
        mounts: run.mounts.clone(),
    });
    let shown = instruction.original.trim();
    let name = state.next_name(shown);
    let vertex = compiler.add_vertex(op, vec![state.last], name, lines);
    state.last = vertex;
    let args_prefix = if used_args.is_empty() {
        String::new()
    } else {
        format!("|{} {} ", used_args.len(), used_args.join(" "))
    };
    let text = format!("RUN {args_prefix}{} # buildkit", argv.join(" "));
    state.history.push((history(&text, false), Some(vertex)));
    Ok(())
}

/// A shell-form RUN with heredocs: a lone `<<EOF` runs the body as the script; otherwise the
/// shell gets the line and the bodies together and does the redirection itself.
fn shell_script(line: &str, heredocs: &[crate::ast::Heredoc]) -> String {
    if heredocs.is_empty() {
        return line.to_string();
    }
    let words = crate::parser::heredoc_words(line);
    if words.len() == 1 && heredocs.len() == 1 {
        return heredocs[0].content.clone();
    }
    let mut script = line.to_string();
    for doc in heredocs {
        script.push('\n');
        script.push_str(&doc.content);
        script.push_str(&doc.name);
    }
    script
}

fn copy_step(
    compiler: &mut Compiler<'_>,
    state: &mut StageState,
    stage_index: usize,
    instruction: &Instruction,
    copy: &CopyArgs,
) -> Result<()> {
    let lines = (instruction.start_line, instruction.end_line);
    let lexer = compiler.lexer;
    let at = |message: String| Error::at(message, lines.0, lines.1);
    let x = |word: &str, state: &StageState| expand(&lexer, word, &state.scope(), instruction);
    let (from, source_vertex) = match &copy.from {
        None => {
            let vertex = compiler.add_vertex(Op::Context, Vec::new(), String::new(), (0, 0));
            (CopyFrom::Context, vertex)
        }
        Some(from) => {
            let from = x(from, state)?;
            match compiler.find_stage(&from) {
                Some(other) if other == stage_index => {
                    return Err(at(format!("COPY --from={from} refers to its own stage")))
                }
                Some(other) => {
                    let slot = compiler.compile_stage(other)?;
                    (CopyFrom::Stage(slot), compiler.graph.stages[slot].last)
                }
                None => {
                    let op = Op::Image {
                        reference: from.clone(),
                        platform: compiler.options.platform.clone(),
                    };
                    let vertex = compiler.add_vertex(op, Vec::new(), format!("FROM {from}"), lines);
                    (CopyFrom::Image(from), vertex)
                }
            }
        }
    };
    let mut sources = Vec::new();
    for source in &copy.sources {
        let heredoc = source
            .strip_prefix("<<")
            .map(|name| name.trim_start_matches('-').trim_matches(['"', '\'']))
            .and_then(|name| copy.heredocs.iter().find(|d| d.name == name));
        match heredoc {
            Some(doc) => sources.push(CopySource::Inline {
                name: doc.name.clone(),
                content: if doc.expand {
                    x(&doc.content, state)?
                } else {
                    doc.content.clone()
                },
            }),
            None => sources.push(CopySource::Path(x(source, state)?)),
        }
    }
    let chmod = match &copy.chmod {
        Some(mode) => Some(
            u32::from_str_radix(mode, 8)
                .map_err(|_| at(format!("invalid chmod parameter {mode:?}")))?,
        ),
        None => None,
    };
    let chown = copy.chown.as_deref().map(|c| x(c, state)).transpose()?;
    let exclude = copy
        .exclude
        .iter()
        .map(|p| x(p, state))
        .collect::<Result<Vec<_>>>()?;
    let op = Op::Copy(CopyOp {
        add: copy.add,
        sources,
        dest: x(&copy.dest, state)?,
        workdir: state.config.workdir_or_root(),
        from,
        chown,
        chmod,
        exclude,
        parents: copy.parents,
        link: copy.link,
        checksum: copy.checksum.clone(),
        keep_git_dir: copy.keep_git_dir,
    });
    let shown = instruction.original.trim();
    let name = state.next_name(shown);
    let vertex = compiler.add_vertex(op, vec![state.last, source_vertex], name, lines);
    state.last = vertex;
    let keyword = if copy.add { "ADD" } else { "COPY" };
    let text = format!(
        "{keyword} {} {} # buildkit",
        copy.sources.join(" "),
        copy.dest
    );
    state.history.push((history(&text, false), Some(vertex)));
    Ok(())
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

fn validate_signal(signal: &str) -> std::result::Result<(), String> {
    const NAMES: [&str; 31] = [
        "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
        "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
        "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
    ];
    if let Ok(number) = signal.parse::<u32>() {
        return if (1..=64).contains(&number) {
            Ok(())
        } else {
            Err(format!("invalid signal: {signal}"))
        };
    }
    let name = signal.to_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    if NAMES.contains(&name) || name.starts_with("RTMIN") || name.starts_with("RTMAX") {
        Ok(())
    } else {
        Err(format!("invalid signal: {signal}"))
    }
}
