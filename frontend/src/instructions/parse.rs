//! One parser per instruction: the flags it takes, the arguments it needs, BuildKit's checks
//! and messages.

use super::flags::{FlagKind, Flags};
use super::{
    nearest_keyword, parse_duration, parse_node, ArgDecl, CommandLine, CopyArgs, Health, Invalid,
    KeyValue, Kind, Mount, RunArgs, Spot,
};
use crate::ast::{Args, Node};
use crate::error::ErrorKind;

type Parsed<T> = Result<T, Invalid>;

/// The typed instruction of a node.
pub fn kind(node: &Node) -> Parsed<Kind> {
    let keyword = node.keyword.to_uppercase();
    let words = node.args.words();
    let no_flags = || Flags::parse(&keyword, &node.flags, &[]).map(|_| ());
    Ok(match keyword.as_str() {
        "FROM" => from(node, words)?,
        "RUN" => Kind::Run(run(node, words)?),
        "CMD" => {
            no_flags()?;
            Kind::Cmd(command_line(node, words))
        }
        "ENTRYPOINT" => {
            no_flags()?;
            Kind::Entrypoint(command_line(node, words))
        }
        "SHELL" => {
            no_flags()?;
            at_least_one(&keyword, words)?;
            if !node.json {
                return Err(Invalid::argument(
                    "SHELL requires the arguments to be in JSON form",
                    Spot::Everywhere,
                )
                .with_hint(r#"write it as a JSON array, e.g. SHELL ["/bin/bash", "-c"]"#));
            }
            Kind::Shell(words.to_vec())
        }
        "ENV" | "LABEL" => {
            no_flags()?;
            let pairs = key_values(&keyword, words)?;
            if keyword == "ENV" {
                Kind::Env(pairs)
            } else {
                Kind::Label(pairs)
            }
        }
        "MAINTAINER" => {
            no_flags()?;
            Kind::Maintainer(exactly_one(&keyword, words)?)
        }
        "EXPOSE" => {
            no_flags()?;
            at_least_one(&keyword, words)?;
            Kind::Expose(words.to_vec())
        }
        "COPY" | "ADD" => Kind::Copy(copy(node, &keyword, words)?),
        "VOLUME" => {
            no_flags()?;
            at_least_one(&keyword, words)?;
            let paths: Vec<String> = words.iter().map(|w| w.trim().to_string()).collect();
            if paths.iter().any(String::is_empty) {
                return Err(Invalid::argument(
                    "VOLUME specified can not be an empty string",
                    Spot::Everywhere,
                ));
            }
            Kind::Volume(paths)
        }
        "USER" => {
            no_flags()?;
            Kind::User(exactly_one(&keyword, words)?)
        }
        "WORKDIR" => {
            no_flags()?;
            Kind::Workdir(exactly_one(&keyword, words)?)
        }
        "STOPSIGNAL" => {
            no_flags()?;
            Kind::StopSignal(exactly_one(&keyword, words)?)
        }
        "ARG" => {
            no_flags()?;
            at_least_one(&keyword, words)?;
            Kind::Arg(words.iter().map(|w| arg(w)).collect::<Parsed<_>>()?)
        }
        "ONBUILD" => {
            no_flags()?;
            onbuild(node)?
        }
        "HEALTHCHECK" => Kind::Healthcheck(health(node, words)?),
        other => {
            let mut message = format!("unknown instruction: {other}");
            if let Some(near) = nearest_keyword(other) {
                message.push_str(&format!(" (did you mean {near}?)"));
            }
            return Err(Invalid::new(
                ErrorKind::UnknownInstruction,
                message,
                Spot::Everywhere,
            ));
        }
    })
}

fn at_least_one(keyword: &str, words: &[String]) -> Parsed<()> {
    if words.is_empty() {
        return Err(Invalid::argument(
            format!("{keyword} requires at least one argument"),
            Spot::Everywhere,
        ));
    }
    Ok(())
}

fn exactly_one(keyword: &str, words: &[String]) -> Parsed<String> {
    match words {
        [one] => Ok(one.clone()),
        _ => Err(Invalid::argument(
            format!("{keyword} requires exactly one argument"),
            Spot::Everywhere,
        )),
    }
}

fn command_line(node: &Node, words: &[String]) -> CommandLine {
    if node.json {
        CommandLine::Exec(words.to_vec())
    } else {
        CommandLine::Shell(words.join(" "))
    }
}

fn from(node: &Node, words: &[String]) -> Parsed<Kind> {
    let flags = Flags::parse("FROM", &node.flags, &[("platform", FlagKind::String)])?;
    let (image, name) = match words {
        [image] => (image.clone(), None),
        [image, as_word, name] if as_word.eq_ignore_ascii_case("as") => {
            let lower = name.to_lowercase();
            if !valid_stage_name(&lower) {
                return Err(Invalid::argument(
                    format!(
                        "invalid name for build stage: {name:?}, name can't start with a number or contain symbols"
                    ),
                    Spot::Last(name.clone()),
                ));
            }
            (image.clone(), Some(lower))
        }
        _ => {
            return Err(Invalid::argument(
                "FROM requires either one or three arguments",
                Spot::Everywhere,
            )
            .with_hint("FROM [--platform=<platform>] <image> [AS <name>]"))
        }
    };
    Ok(Kind::From {
        image,
        name,
        platform: flags.string("platform"),
    })
}

/// BuildKit's stage-name rule: `^[a-z][a-z0-9-_.]*$` (after lower-casing).
fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

fn run(node: &Node, words: &[String]) -> Parsed<RunArgs> {
    let flags = Flags::parse(
        "RUN",
        &node.flags,
        &[
            ("mount", FlagKind::List),
            ("network", FlagKind::String),
            ("security", FlagKind::String),
        ],
    )?;
    // A bare shell-form `RUN` (what is left after a line continuation at the end of the file,
    // say) runs `sh -c ""`, a no-op, as BuildKit does; an empty JSON array has no program.
    if node.json {
        at_least_one("RUN", words)?;
    }
    let mounts = flags
        .list("mount")
        .iter()
        .map(|spec| {
            Mount::parse(spec).map_err(|message| {
                Invalid::new(
                    ErrorKind::Flag,
                    format!("--mount={spec}: {message}"),
                    Spot::First(spec.clone()),
                )
            })
        })
        .collect::<Parsed<Vec<_>>>()?;
    let network = flags.string("network");
    if let Some(mode) = network.as_deref() {
        if !matches!(mode, "default" | "none" | "host") {
            return Err(Invalid::flag(
                "network",
                format!("unsupported network mode {mode:?} (use default, none or host)"),
            ));
        }
    }
    let security = flags.string("security");
    if let Some(mode) = security.as_deref() {
        if !matches!(mode, "sandbox" | "insecure") {
            return Err(Invalid::flag(
                "security",
                format!("unsupported security mode {mode:?} (use sandbox or insecure)"),
            ));
        }
    }
    Ok(RunArgs {
        command: command_line(node, words),
        mounts,
        network,
        security,
        heredocs: node.heredocs.clone(),
    })
}

fn key_values(keyword: &str, words: &[String]) -> Parsed<Vec<KeyValue>> {
    at_least_one(keyword, words)?;
    if !words.len().is_multiple_of(3) {
        return Err(Invalid::argument(
            format!("bad input to {keyword}, too many arguments"),
            Spot::Everywhere,
        ));
    }
    words
        .chunks(3)
        .map(|triple| {
            if triple[0].is_empty() {
                return Err(Invalid::argument(
                    format!("{keyword} names can not be blank"),
                    Spot::First(format!("={}", triple[1])),
                ));
            }
            Ok(KeyValue {
                key: triple[0].clone(),
                value: triple[1].clone(),
            })
        })
        .collect()
}

fn arg(word: &str) -> Parsed<ArgDecl> {
    let (name, default) = match word.split_once('=') {
        Some((name, value)) => (name, Some(value.to_string())),
        None => (word, None),
    };
    if name.is_empty() {
        return Err(Invalid::argument(
            "ARG names can not be blank",
            Spot::First(word.to_string()),
        ));
    }
    Ok(ArgDecl {
        name: name.to_string(),
        default,
    })
}

fn copy(node: &Node, keyword: &str, words: &[String]) -> Parsed<CopyArgs> {
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
    if words.len() < 2 {
        return Err(Invalid::argument(
            format!("{keyword} requires at least two arguments, but only one was provided: destination could not be determined"),
            Spot::Everywhere,
        ));
    }
    let flags = Flags::parse(keyword, &node.flags, allowed)?;
    let (dest, sources) = words.split_last().expect("two words at least");
    if crate::parser::parse_heredoc_word(dest)
        .ok()
        .flatten()
        .is_some()
    {
        return Err(Invalid::argument(
            format!("{keyword} cannot accept a heredoc as a destination"),
            Spot::Last(dest.clone()),
        ));
    }
    let chmod = flags.string("chmod");
    if let Some(mode) = chmod.as_deref().filter(|m| !m.contains('$')) {
        if u32::from_str_radix(mode, 8).map_or(true, |m| m > 0o7777) {
            return Err(Invalid::flag(
                "chmod",
                format!("invalid chmod parameter {mode:?}: use an octal mode such as 0755"),
            ));
        }
    }
    Ok(CopyArgs {
        add,
        sources: sources.to_vec(),
        dest: dest.clone(),
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

fn onbuild(node: &Node) -> Parsed<Kind> {
    let Args::Nested(child) = &node.args else {
        return Err(Invalid::argument(
            "ONBUILD requires at least one argument",
            Spot::Everywhere,
        ));
    };
    let trigger_keyword = child.keyword.to_uppercase();
    match trigger_keyword.as_str() {
        "ONBUILD" => {
            return Err(Invalid::argument(
                "chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
                Spot::Last(child.keyword.clone()),
            ))
        }
        "FROM" | "MAINTAINER" => {
            return Err(Invalid::argument(
                format!("{trigger_keyword} isn't allowed as an ONBUILD trigger"),
                Spot::First(child.original.clone()),
            ))
        }
        _ => {}
    }
    // The trigger is checked now rather than in the child build: a typo should fail here.
    let mut located = (**child).clone();
    located.heredocs = node.heredocs.clone();
    let trigger = parse_node(&located).map_err(|err| {
        let position = err
            .location()
            .filter(|l| l.column.is_some())
            .map(|l| (l.caret_line(), l.column.unwrap_or(1), l.width));
        let spot = match position {
            Some(_) => Spot::Everywhere,
            None => Spot::First(child.original.clone()),
        };
        let mut invalid = Invalid::new(
            err.kind().unwrap_or(ErrorKind::Argument),
            format!("ONBUILD {}: {}", trigger_keyword, err.message()),
            spot,
        );
        invalid.position = position;
        invalid
    })?;
    let mut text = onbuild_text(&node.original);
    for doc in &node.heredocs {
        text.push('\n');
        text.push_str(&doc.content);
        text.push_str(&doc.name);
    }
    Ok(Kind::Onbuild {
        trigger: Box::new(trigger),
        text,
    })
}

/// BuildKit's `(?i)^\s*ONBUILD\s*` removal.
fn onbuild_text(original: &str) -> String {
    let trimmed = original.trim_start();
    trimmed
        .get(..7)
        .filter(|k| k.eq_ignore_ascii_case("onbuild"))
        .map_or(trimmed, |_| &trimmed[7..])
        .trim_start()
        .to_string()
}

fn health(node: &Node, words: &[String]) -> Parsed<Health> {
    let Some(kind) = words.first() else {
        return Err(Invalid::argument(
            "HEALTHCHECK requires at least one argument",
            Spot::Everywhere,
        ));
    };
    let kind = kind.to_uppercase();
    if kind == "NONE" {
        Flags::parse("HEALTHCHECK NONE", &node.flags, &[])?;
        if words.len() > 1 {
            return Err(Invalid::argument(
                "HEALTHCHECK NONE takes no arguments",
                Spot::Last(words[1].clone()),
            ));
        }
        return Ok(Health::None);
    }
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
    if kind != "CMD" {
        return Err(Invalid::argument(
            format!("unknown type {kind:?} in HEALTHCHECK (try CMD)"),
            Spot::First(words[0].clone()),
        ));
    }
    if words.len() < 2 {
        return Err(Invalid::argument(
            "missing command after HEALTHCHECK CMD",
            Spot::Everywhere,
        ));
    }
    let command = if node.json {
        CommandLine::Exec(words[1..].to_vec())
    } else {
        CommandLine::Shell(words[1..].join(" "))
    };
    let duration = |name: &str| -> Parsed<u64> {
        let Some(text) = flags.string(name).filter(|t| !t.is_empty()) else {
            return Ok(0);
        };
        let nanos =
            parse_duration(&text).map_err(|e| Invalid::flag(name, format!("--{name}: {e}")))?;
        if nanos != 0 && nanos < 1_000_000 {
            return Err(Invalid::flag(
                name,
                format!("--{name} cannot be less than 1ms"),
            ));
        }
        Ok(nanos)
    };
    let retries = match flags.string("retries").filter(|t| !t.is_empty()) {
        None => 0,
        Some(text) => {
            let value: i64 = text.parse().map_err(|_| {
                Invalid::flag("retries", format!("--retries: invalid number {text:?}"))
            })?;
            if value < 0 {
                return Err(Invalid::flag(
                    "retries",
                    format!("--retries cannot be negative ({value})"),
                ));
            }
            u32::try_from(value).map_err(|_| {
                Invalid::flag("retries", format!("--retries: {value} is out of range"))
            })?
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
