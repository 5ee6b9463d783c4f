//! The instruction layer: AST nodes → typed, validated instructions (BuildKit's
//! `instructions/parse.go`). Flags are checked against what each instruction takes, arguments
//! against what it needs. Words stay as written (quotes and `$VARS` intact): the stage resolver
//! expands them with the shell lexer where BuildKit does, so that each instruction sees the
//! environment of its own position in the stage.

mod flags;
mod mount;
mod suggest;

use crate::ast::{Args, Heredoc, Node};
use crate::error::{Error, Result};

pub use flags::parse_duration;
pub use mount::{Mount, MountKind};
pub use suggest::{nearest_keyword, KEYWORDS};

use flags::{FlagKind, Flags};

/// A validated instruction with its place in the Dockerfile.
#[derive(Debug, Clone, PartialEq)]
pub struct Instruction {
    /// What it is.
    pub kind: Kind,
    /// First line (1-based).
    pub start_line: usize,
    /// Last line (1-based, inclusive).
    pub end_line: usize,
    /// The instruction as written (continuations joined): used in history and step names.
    pub original: String,
}

/// Either form of CMD, ENTRYPOINT, RUN and HEALTHCHECK CMD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandLine {
    /// JSON array: run as given.
    Exec(Vec<String>),
    /// A string for the stage's SHELL.
    Shell(String),
}

/// A `KEY=value` of ENV or LABEL, both still as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key as written.
    pub key: String,
    /// The value as written (quotes and variables not yet processed).
    pub value: String,
}

/// One name of an `ARG` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    /// The name.
    pub name: String,
    /// The default as written, if any.
    pub default: Option<String>,
}

/// COPY or ADD.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopyArgs {
    /// ADD rather than COPY (archives unpack, URLs download).
    pub add: bool,
    /// Sources as written (`<<EOF` names a heredoc in `heredocs`).
    pub sources: Vec<String>,
    /// Destination as written.
    pub dest: String,
    /// `--from`: a stage name or index, or an image.
    pub from: Option<String>,
    /// `--chown`.
    pub chown: Option<String>,
    /// `--chmod`.
    pub chmod: Option<String>,
    /// `--link`.
    pub link: bool,
    /// `--exclude` patterns.
    pub exclude: Vec<String>,
    /// `--parents`.
    pub parents: bool,
    /// `--checksum` (ADD of a URL).
    pub checksum: Option<String>,
    /// `--keep-git-dir` (ADD of a git URL).
    pub keep_git_dir: bool,
    /// Inline sources.
    pub heredocs: Vec<Heredoc>,
}

/// HEALTHCHECK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// `HEALTHCHECK NONE`: disable the inherited check.
    None,
    /// `HEALTHCHECK [options] CMD …`.
    Check {
        /// The test command.
        command: CommandLine,
        /// `--interval` in nanoseconds (0 = inherit the default).
        interval: u64,
        /// `--timeout` in nanoseconds.
        timeout: u64,
        /// `--start-period` in nanoseconds.
        start_period: u64,
        /// `--start-interval` in nanoseconds.
        start_interval: u64,
        /// `--retries` (0 = default).
        retries: u32,
    },
}

/// RUN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunArgs {
    /// The command.
    pub command: CommandLine,
    /// `--mount` specs.
    pub mounts: Vec<Mount>,
    /// `--network=default|none|host`.
    pub network: Option<String>,
    /// `--security=sandbox|insecure`.
    pub security: Option<String>,
    /// Heredocs the command reads.
    pub heredocs: Vec<Heredoc>,
}

/// The instructions .
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// `FROM [--platform=p] image [AS name]`.
    From {
        /// The image reference, stage name or `scratch`, as written.
        image: String,
        /// `AS name`, lower-cased as BuildKit does.
        name: Option<String>,
        /// `--platform`.
        platform: Option<String>,
    },
    /// RUN.
    Run(RunArgs),
    /// CMD.
    Cmd(CommandLine),
    /// ENTRYPOINT.
    Entrypoint(CommandLine),
    /// SHELL (JSON form only).
    Shell(Vec<String>),
    /// ENV pairs.
    Env(Vec<KeyValue>),
    /// LABEL pairs.
    Label(Vec<KeyValue>),
    /// MAINTAINER (deprecated; becomes the `author` field).
    Maintainer(String),
    /// EXPOSE ports as written.
    Expose(Vec<String>),
    /// COPY or ADD.
    Copy(CopyArgs),
    /// VOLUME paths as written.
    Volume(Vec<String>),
    /// USER as written.
    User(String),
    /// WORKDIR as written.
    Workdir(String),
    /// ARG names.
    Arg(Vec<ArgDecl>),
    /// ONBUILD: the trigger, validated, and its text (what the image config records).
    Onbuild {
        /// The trigger instruction.
        trigger: Box<Instruction>,
        /// The trigger's text as written (`RUN echo hi`).
        text: String,
    },
    /// STOPSIGNAL as written.
    StopSignal(String),
    /// HEALTHCHECK.
    Healthcheck(Health),
}

/// Validates every node of an AST.
pub fn parse_all(nodes: &[Node]) -> Result<Vec<Instruction>> {
    nodes.iter().map(parse_node).collect()
}

/// Validates one node.
pub fn parse_node(node: &Node) -> Result<Instruction> {
    let keyword = node.keyword.to_uppercase();
    let fail = |message: String| Error::at(message, node.start_line, node.end_line);
    let kind = parse_kind(node, &keyword).map_err(fail)?;
    Ok(Instruction {
        kind,
        start_line: node.start_line,
        end_line: node.end_line,
        original: node.original.clone(),
    })
}

fn parse_kind(node: &Node, keyword: &str) -> Result<Kind, String> {
    let words = node.args.words();
    let no_flags = |node: &Node| Flags::parse(keyword, &node.flags, &[]).map(|_| ());
    let exactly_one = |words: &[String]| -> Result<String, String> {
        match words {
            [one] => Ok(one.clone()),
            _ => Err(format!("{keyword} requires exactly one argument")),
        }
    };
    let at_least_one = |words: &[String]| -> Result<(), String> {
        if words.is_empty() {
            Err(format!("{keyword} requires at least one argument"))
        } else {
            Ok(())
        }
    };
    Ok(match keyword {
        "FROM" => {
            let flags = Flags::parse(keyword, &node.flags, &[("platform", FlagKind::String)])?;
            let (image, name) = match words {
                [image] => (image.clone(), None),
                [image, as_word, name] if as_word.eq_ignore_ascii_case("as") => {
                    let name = name.to_lowercase();
                    if !valid_stage_name(&name) {
                        return Err(format!(
                            "invalid name for build stage: {name:?}, name can't start with a number or contain symbols"
                        ));
                    }
                    (image.clone(), Some(name))
                }
                _ => return Err("FROM requires either one or three arguments".into()),
            };
            Kind::From {
                image,
                name,
                platform: flags.string("platform"),
            }
        }
        "RUN" => {
            let flags = Flags::parse(
                keyword,
                &node.flags,
                &[
                    ("mount", FlagKind::List),
                    ("network", FlagKind::String),
                    ("security", FlagKind::String),
                ],
            )?;
            at_least_one(words)?;
            let mounts = flags
                .list("mount")
                .iter()
                .map(|spec| Mount::parse(spec))
                .collect::<Result<Vec<_>, _>>()?;
            let network = flags.string("network");
            if let Some(mode) = &network {
                if !matches!(mode.as_str(), "default" | "none" | "host") {
                    return Err(format!(
                        "unsupported network mode {mode:?} (use default, none or host)"
                    ));
                }
            }
            let security = flags.string("security");
            if let Some(mode) = &security {
                if !matches!(mode.as_str(), "sandbox" | "insecure") {
                    return Err(format!(
                        "unsupported security mode {mode:?} (use sandbox or insecure)"
                    ));
                }
            }
            Kind::Run(RunArgs {
                command: command_line(node),
                mounts,
                network,
                security,
                heredocs: node.heredocs.clone(),
            })
        }
        "CMD" => {
            no_flags(node)?;
            Kind::Cmd(command_line(node))
        }
        "ENTRYPOINT" => {
            no_flags(node)?;
            Kind::Entrypoint(command_line(node))
        }
        "SHELL" => {
            no_flags(node)?;
            if !node.json {
                return Err("SHELL requires the arguments to be in JSON form".into());
            }
            at_least_one(words)?;
            Kind::Shell(words.to_vec())
        }
        "ENV" | "LABEL" => {
            no_flags(node)?;
            at_least_one(words)?;
            let pairs: Vec<KeyValue> = words
                .chunks(3)
                .map(|triple| KeyValue {
                    key: triple[0].clone(),
                    value: triple.get(1).cloned().unwrap_or_default(),
                })
                .collect();
            if pairs.iter().any(|p| p.key.is_empty()) {
                return Err(format!("{keyword} names can not be blank"));
            }
            if keyword == "ENV" {
                Kind::Env(pairs)
            } else {
                Kind::Label(pairs)
            }
        }
        "MAINTAINER" => {
            no_flags(node)?;
            Kind::Maintainer(exactly_one(words)?)
        }
        "EXPOSE" => {
            no_flags(node)?;
            at_least_one(words)?;
            Kind::Expose(words.to_vec())
        }
        "COPY" | "ADD" => Kind::Copy(copy_args(node, keyword)?),
        "VOLUME" => {
            no_flags(node)?;
            at_least_one(words)?;
            if words.iter().any(|w| w.trim().is_empty()) {
                return Err("VOLUME specified can not be an empty string".into());
            }
            Kind::Volume(words.to_vec())
        }
        "USER" => {
            no_flags(node)?;
            Kind::User(exactly_one(words)?)
        }
        "WORKDIR" => {
            no_flags(node)?;
            Kind::Workdir(exactly_one(words)?)
        }
        "STOPSIGNAL" => {
            no_flags(node)?;
            Kind::StopSignal(exactly_one(words)?)
        }
        "ARG" => {
            no_flags(node)?;
            at_least_one(words)?;
            let decls = words
                .iter()
                .map(|word| {
                    let (name, default) = match word.split_once('=') {
                        Some((name, value)) => (name.to_string(), Some(value.to_string())),
                        None => (word.clone(), None),
                    };
                    if name.is_empty() {
                        return Err(format!("ARG names can not be blank: {word:?}"));
                    }
                    Ok(ArgDecl { name, default })
                })
                .collect::<Result<Vec<_>, String>>()?;
            Kind::Arg(decls)
        }
        "ONBUILD" => {
            no_flags(node)?;
            let Args::Nested(child) = &node.args else {
                return Err("ONBUILD requires at least one argument".into());
            };
            let trigger_keyword = child.keyword.to_uppercase();
            match trigger_keyword.as_str() {
                "ONBUILD" => {
                    return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into())
                }
                "FROM" | "MAINTAINER" => {
                    return Err(format!(
                        "{trigger_keyword} isn't allowed as an ONBUILD trigger"
                    ))
                }
                _ => {}
            }
            let mut located = (**child).clone();
            located.start_line = node.start_line;
            located.end_line = node.end_line;
            let trigger = parse_node(&located).map_err(|e| e.message().to_string())?;
            let text = node
                .original
                .trim_start()
                .get(node.keyword.len()..)
                .unwrap_or_default()
                .trim()
                .to_string();
            Kind::Onbuild {
                trigger: Box::new(trigger),
                text,
            }
        }
        "HEALTHCHECK" => Kind::Healthcheck(health(node)?),
        other => {
            let mut message = format!("unknown instruction: {other}");
            if let Some(near) = nearest_keyword(other) {
                message.push_str(&format!(" (did you mean {near}?)"));
            }
            return Err(message);
        }
    })
}

fn command_line(node: &Node) -> CommandLine {
    let words = node.args.words();
    if node.json {
        CommandLine::Exec(words.to_vec())
    } else {
        CommandLine::Shell(words.first().cloned().unwrap_or_default())
    }
}

fn copy_args(node: &Node, keyword: &str) -> Result<CopyArgs, String> {
    let add = keyword == "ADD";
    let allowed: &[(&str, FlagKind)] = if add {
        &[
            ("chown", FlagKind::String),
            ("chmod", FlagKind::String),
            ("link", FlagKind::Bool),
            ("exclude", FlagKind::List),
            ("checksum", FlagKind::String),
            ("keep-git-dir", FlagKind::Bool),
        ]
    } else {
        &[
            ("from", FlagKind::String),
            ("chown", FlagKind::String),
            ("chmod", FlagKind::String),
            ("link", FlagKind::Bool),
            ("exclude", FlagKind::List),
            ("parents", FlagKind::Bool),
        ]
    };
    let flags = Flags::parse(keyword, &node.flags, allowed)?;
    let words = node.args.words();
    if words.len() < 2 {
        return Err(format!("{keyword} requires at least two arguments, but only one was provided. Destination could not be determined"));
    }
    let chmod = flags.string("chmod");
    if let Some(mode) = &chmod {
        if u32::from_str_radix(mode, 8).map_or(true, |m| m > 0o7777) {
            return Err(format!(
                "invalid chmod parameter {mode:?}: use an octal mode such as 0755"
            ));
        }
    }
    Ok(CopyArgs {
        add,
        sources: words[..words.len() - 1].to_vec(),
        dest: words[words.len() - 1].clone(),
        from: flags.string("from"),
        chown: flags.string("chown"),
        chmod,
        link: flags.bool("link"),
        exclude: flags.list("exclude"),
        parents: flags.bool("parents"),
        checksum: flags.string("checksum"),
        keep_git_dir: flags.bool("keep-git-dir"),
        heredocs: node.heredocs.clone(),
    })
}

fn health(node: &Node) -> Result<Health, String> {
    let flags = Flags::parse(
        "HEALTHCHECK",
        &node.flags,
        &[
            ("interval", FlagKind::String),
            ("timeout", FlagKind::String),
            ("start-period", FlagKind::String),
            ("start-interval", FlagKind::String),
            ("retries", FlagKind::String),
        ],
    )?;
    let words = node.args.words();
    let Some(kind) = words.first() else {
        return Err("HEALTHCHECK requires at least one argument".into());
    };
    match kind.to_uppercase().as_str() {
        "NONE" => {
            if words.len() > 1 {
                return Err("HEALTHCHECK NONE takes no arguments".into());
            }
            Ok(Health::None)
        }
        "CMD" => {
            if words.len() < 2 {
                return Err("Missing command after HEALTHCHECK CMD".into());
            }
            let command = if node.json {
                CommandLine::Exec(words[1..].to_vec())
            } else {
                CommandLine::Shell(words[1].clone())
            };
            let duration = |name: &str| -> Result<u64, String> {
                let Some(text) = flags.string(name) else {
                    return Ok(0);
                };
                let nanos = parse_duration(&text).map_err(|e| format!("--{name}: {e}"))?;
                if nanos != 0 && nanos < 1_000_000 {
                    return Err(format!("--{name} cannot be less than 1ms"));
                }
                Ok(nanos)
            };
            let retries = match flags.string("retries") {
                None => 0,
                Some(text) => {
                    let value: i64 = text
                        .parse()
                        .map_err(|_| format!("--retries: invalid number {text:?}"))?;
                    if value < 0 {
                        return Err("--retries cannot be negative".into());
                    }
                    value as u32
                }
            };
            Ok(Health::Check {
                command,
                interval: duration("interval")?,
                timeout: duration("timeout")?,
                start_period: duration("start-period")?,
                start_interval: duration("start-interval")?,
                retries,
            })
        }
        other => Err(format!("Unknown type {other:?} in HEALTHCHECK (try CMD)")),
    }
}

/// BuildKit's stage-name rule: `^[a-z][a-z0-9-_.]*$`.
fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

#[cfg(test)]
mod tests;
