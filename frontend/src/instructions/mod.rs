//! The instruction layer: AST nodes → typed, validated instructions (BuildKit's
//! `instructions/parse.go`). Every instruction declares the flags it takes; an unknown,
//! repeated or malformed flag, a missing or extra argument, an unknown instruction are errors
//! that point at the offending word — never silently ignored.
//!
//! Words stay as written (quotes and `$VARS` intact): the stage resolver expands them with the
//! shell lexer where BuildKit does, so that each instruction sees the variables of its own
//! position in the stage. `Instruction::original` and the JSON/shell distinction
//! ([`CommandLine`]) keep what the expansion needs.
//!
//! ```
//! use strata_frontend::instructions::{parse_all, Kind};
//! let ast = strata_frontend::parser::parse("FROM alpine AS build\nCOPY --link . /src\n").unwrap();
//! let instructions = parse_all(&ast.nodes).unwrap();
//! assert!(matches!(&instructions[1].kind, Kind::Copy(copy) if copy.link && copy.dest == "/src"));
//! ```

mod csv;
mod duration;
mod flags;
mod mount;
mod parse;
mod suggest;

use crate::ast::{Heredoc, Node};
use crate::error::{Error, ErrorKind, Result};

pub use csv::csv_record;
pub use duration::parse_duration;
pub use mount::{Expander, Mount, MountKind, Sharing};
pub use suggest::{nearest_keyword, KEYWORDS};

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

/// Either form of CMD, ENTRYPOINT, RUN and HEALTHCHECK CMD. The form decides whether the
/// stage's SHELL wraps the command, so it must survive until the image config is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandLine {
    /// JSON array: run as given, no variable expansion (as BuildKit).
    Exec(Vec<String>),
    /// A string for the stage's SHELL, as written (`""` for a bare `CMD`).
    Shell(String),
}

/// A `KEY=value` of ENV or LABEL, both still as written (quotes and variables unprocessed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key as written.
    pub key: String,
    /// The value as written.
    pub value: String,
}

/// One name of an `ARG` line (`ARG a b=c` declares two).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    /// The name.
    pub name: String,
    /// The default as written, if any (`ARG b=` has an empty one).
    pub default: Option<String>,
}

/// COPY or ADD: they share sources, destination and most flags.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopyArgs {
    /// ADD rather than COPY (archives unpack, URLs download).
    pub add: bool,
    /// Sources as written; a heredoc marker (`<<EOF`) names an inline source, see
    /// [`CopyArgs::heredoc_for`].
    pub sources: Vec<String>,
    /// Destination as written.
    pub dest: String,
    /// `--from` (COPY): a stage name or index, or an image.
    pub from: Option<String>,
    /// `--chown=user[:group]`.
    pub chown: Option<String>,
    /// `--chmod`: an octal mode, or a variable to expand first.
    pub chmod: Option<String>,
    /// `--link`.
    pub link: bool,
    /// `--exclude` patterns (repeatable).
    pub exclude: Vec<String>,
    /// `--parents` (COPY).
    pub parents: bool,
    /// `--checksum` (ADD of a URL or git source).
    pub checksum: Option<String>,
    /// `--keep-git-dir` (ADD of a git URL).
    pub keep_git_dir: bool,
    /// The bodies of the heredoc sources, in order.
    pub heredocs: Vec<Heredoc>,
}

/// HEALTHCHECK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// `HEALTHCHECK NONE`: disable the inherited check.
    None,
    /// `HEALTHCHECK [options] CMD …`.
    Check {
        /// The test command (shell form becomes docker's `CMD-SHELL`).
        command: CommandLine,
        /// `--interval` in nanoseconds (0 = the default).
        interval: u64,
        /// `--timeout` in nanoseconds (0 = the default).
        timeout: u64,
        /// `--start-period` in nanoseconds (0 = the default).
        start_period: u64,
        /// `--start-interval` in nanoseconds (0 = the default).
        start_interval: u64,
        /// `--retries` (0 = the default).
        retries: u32,
    },
}

/// RUN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunArgs {
    /// The command.
    pub command: CommandLine,
    /// `--mount` specs, parsed; see [`Mount`] for those that use variables.
    pub mounts: Vec<Mount>,
    /// `--network=default|none|host`.
    pub network: Option<String>,
    /// `--security=sandbox|insecure`.
    pub security: Option<String>,
    /// Heredocs the command reads (`RUN <<EOF`, `RUN python3 <<EOF`), in order.
    pub heredocs: Vec<Heredoc>,
}

/// The instructions, with their validated arguments.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// `FROM [--platform=p] image [AS name]`.
    From {
        /// The image reference, stage name or `scratch`, as written.
        image: String,
        /// `AS name`, lower-cased as BuildKit does.
        name: Option<String>,
        /// `--platform`, as written.
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
    /// EXPOSE ports as written (`80`, `53/udp`, `$PORT`).
    Expose(Vec<String>),
    /// COPY or ADD.
    Copy(CopyArgs),
    /// VOLUME paths as written (JSON or words), blanks trimmed.
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
        /// The trigger as BuildKit records it: the text after `ONBUILD`, then for each heredoc
        /// a newline, its body and its delimiter, so that it parses again in a child build.
        text: String,
    },
    /// STOPSIGNAL as written.
    StopSignal(String),
    /// HEALTHCHECK.
    Healthcheck(Health),
}

impl CopyArgs {
    /// The heredoc a source names (`<<EOF`, `<<-"EOF"`), matched by delimiter as BuildKit
    /// does; `None` for a path.
    pub fn heredoc_for(&self, source: &str) -> Option<&Heredoc> {
        let marker = crate::parser::parse_heredoc_word(source).ok()??;
        self.heredocs.iter().find(|doc| doc.name == marker.name)
    }
}

/// Validates every node of an AST, stopping at the first error.
pub fn parse_all(nodes: &[Node]) -> Result<Vec<Instruction>> {
    nodes.iter().map(parse_node).collect()
}

/// Validates one node.
pub fn parse_node(node: &Node) -> Result<Instruction> {
    let kind = parse::kind(node).map_err(|invalid| invalid.locate(node))?;
    Ok(Instruction {
        kind,
        start_line: node.start_line,
        end_line: node.end_line,
        original: node.original.clone(),
    })
}

/// An instruction-layer failure before it is placed in the file.
#[derive(Debug)]
pub(crate) struct Invalid {
    kind: ErrorKind,
    message: String,
    spot: Spot,
    hint: Option<String>,
    /// An exact position already known (from a nested instruction), overriding `spot`.
    position: Option<(usize, usize, usize)>,
}

/// Which text of the instruction the caret goes under.
#[derive(Debug)]
pub(crate) enum Spot {
    /// The whole instruction.
    Everywhere,
    /// The first occurrence of this text after the keyword (flags, mount fields).
    First(String),
    /// The last occurrence (arguments).
    Last(String),
}

impl Invalid {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>, spot: Spot) -> Self {
        Invalid {
            kind,
            message: message.into(),
            spot,
            hint: None,
            position: None,
        }
    }

    /// A wrong number or shape of arguments.
    pub(crate) fn argument(message: impl Into<String>, spot: Spot) -> Self {
        Invalid::new(ErrorKind::Argument, message, spot)
    }

    /// A bad flag; the caret goes under `--name`.
    pub(crate) fn flag(name: &str, message: impl Into<String>) -> Self {
        Invalid::new(ErrorKind::Flag, message, Spot::First(format!("--{name}")))
    }

    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    fn locate(self, node: &Node) -> Error {
        let position = match &self.spot {
            _ if self.position.is_some() => self.position,
            Spot::Everywhere => None,
            Spot::First(text) => node.find(text),
            Spot::Last(text) => node.rfind(text),
        };
        let error = Error::new(self.kind, self.message, node.start_line, node.end_line)
            .with_position(position);
        match self.hint {
            Some(hint) => error.with_hint(hint),
            None => error,
        }
    }
}

#[cfg(test)]
mod tests;
