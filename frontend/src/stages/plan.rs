//! Planning: what each stage starts from, which stages it reads, and which stages the target
//! needs — before anything is compiled (BuildKit's dispatch states, dependency graph and
//! reachability, including the ONBUILD triggers that may add dependencies).

use std::collections::BTreeSet;

use super::args::normalize_platform;
use super::globals::Globals;
use super::{error_at, named, suggest, BaseImages, BuildOptions};
use crate::config::ImageConfig;
use crate::error::{Error, Result};
use crate::graph::Warning;
use crate::instructions::{parse_node, Instruction, Kind, MountKind};
use crate::shell::Lexer;

/// What a stage starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Base {
    /// `FROM scratch`.
    Scratch,
    /// An image reference (after expansion).
    Image(String),
    /// An earlier stage (Dockerfile index).
    Stage(usize),
    /// A directory context (`--build-context NAME=DIR`), by key.
    Local(String),
}

/// Where a `COPY --from` or a mount reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Source {
    /// The build context.
    Context,
    /// An empty directory.
    Scratch,
    /// A stage (Dockerfile index).
    Stage(usize),
    /// An image.
    Image(String),
    /// A directory context, by key.
    Local(String),
    /// Nothing (tmpfs, secret, ssh mounts).
    Nothing,
}

/// One stage, planned.
pub(super) struct StagePlan<'a> {
    /// `AS name`, lower-case.
    pub name: Option<String>,
    /// The name in progress lines (`build`, `stage-2`), empty for a Dockerfile's lone stage.
    pub display: String,
    pub base: Base,
    /// The platform it builds for.
    pub platform: String,
    pub from: &'a Instruction,
    pub body: &'a [Instruction],
    /// The base image's config (image bases of needed stages; empty when unknown).
    pub base_config: ImageConfig,
    /// ONBUILD triggers inherited from the base image or base stage, run before the body.
    pub triggers: Vec<Instruction>,
    /// Stages read by `--from`/mounts of the body and triggers, with the reading instruction's
    /// lines.
    pub deps: Vec<(usize, (usize, usize))>,
    triggers_done: bool,
}

impl StagePlan<'_> {
    /// BuildKit's step count: the FROM of an image, every RUN, COPY, ADD and WORKDIR, and every
    /// trigger.
    pub fn total_steps(&self) -> usize {
        let from = usize::from(matches!(self.base, Base::Image(_) | Base::Local(_)));
        let counted = self
            .body
            .iter()
            .filter(|i| matches!(i.kind, Kind::Run(_) | Kind::Copy(_) | Kind::Workdir(_)))
            .count();
        from + counted + self.triggers.len()
    }
}

/// Every stage, the target and the stages it needs.
pub(super) struct Plan<'a> {
    pub stages: Vec<StagePlan<'a>>,
    /// Dockerfile index of the target stage.
    pub target: usize,
    /// Dockerfile indexes of the stages the target needs (itself included), ascending.
    pub needed: Vec<usize>,
}

impl Plan<'_> {
    /// What `COPY --from=<reference>` reads.
    pub fn copy_source(&self, reference: &str, lexer: &Lexer, at: &Instruction) -> Result<Source> {
        copy_source(&self.stages, reference, lexer, at)
    }
}

fn find_name(stages: &[StagePlan<'_>], name: &str) -> Option<usize> {
    let lower = name.to_lowercase();
    stages
        .iter()
        .rposition(|s| s.name.as_deref() == Some(lower.as_str()))
}

/// Plans every stage of `instructions` (which start at the first FROM).
pub(super) fn plan<'a>(
    instructions: &'a [Instruction],
    globals: &Globals,
    lexer: &Lexer,
    options: &BuildOptions,
    images: &dyn BaseImages,
    warnings: &mut Vec<Warning>,
) -> Result<Plan<'a>> {
    let mut stages = split(instructions, globals, lexer, options, warnings)?;
    name_stages(&mut stages);
    for index in 0..stages.len() {
        let deps = command_deps(&stages, stages[index].body, lexer)?;
        stages[index].deps = deps;
    }
    check_cycles(&stages)?;
    let target = match &options.target {
        Some(name) => find_name(&stages, name).ok_or_else(|| {
            let names: Vec<&str> = stages.iter().filter_map(|s| s.name.as_deref()).collect();
            let hint = suggest(name, names.iter().copied())
                .map(|n| format!(" (did you mean {n}?)"))
                .unwrap_or_default();
            Error::Request {
                message: format!("target stage {name:?} could not be found{hint}"),
            }
        })?,
        None => stages.len() - 1,
    };
    // Triggers can add dependencies, which can add stages with triggers: repeat until stable.
    loop {
        let needed = reachable(&stages, target);
        let mut added = false;
        for &index in &needed {
            if !stages[index].triggers_done {
                load_triggers(&mut stages, index, images, lexer)?;
                added = true;
            }
        }
        if !added {
            check_cycles(&stages)?;
            return Ok(Plan {
                stages,
                target,
                needed: needed.into_iter().collect(),
            });
        }
    }
}

/// One plan per FROM, with the FROM line expanded in the global scope.
fn split<'a>(
    instructions: &'a [Instruction],
    globals: &Globals,
    lexer: &Lexer,
    options: &BuildOptions,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<StagePlan<'a>>> {
    let mut stages: Vec<StagePlan<'a>> = Vec::new();
    let starts: Vec<usize> = instructions
        .iter()
        .enumerate()
        .filter(|(_, i)| matches!(i.kind, Kind::From { .. }))
        .map(|(n, _)| n)
        .collect();
    for (n, &start) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(instructions.len());
        let from = &instructions[start];
        let Kind::From {
            image,
            name,
            platform,
        } = &from.kind
        else {
            unreachable!("stages start at FROM");
        };
        let base_text = from_word(image, globals, lexer, from, warnings)?;
        if base_text.is_empty() {
            return Err(error_at(
                format!("base name ({image}) should not be blank"),
                from,
            ));
        }
        let platform = match platform {
            Some(text) => {
                let value = from_word(text, globals, lexer, from, warnings).map_err(|e| {
                    error_at(
                        format!(
                            "failed to process arguments for platform {text}: {}",
                            e.message()
                        ),
                        from,
                    )
                })?;
                if value.is_empty() {
                    return Err(error_at(
                        format!("empty platform value from expression {text}"),
                        from,
                    ));
                }
                normalize_platform(&value).map_err(|e| error_at(e, from))?
            }
            None => options.platform.clone(),
        };
        if let Some(name) = name {
            if stages
                .iter()
                .any(|s| s.name.as_deref() == Some(name.as_str()))
            {
                warnings.push(Warning {
                    rule: "DuplicateStageName",
                    message: format!("Duplicate stage name {name:?}, stage names should be unique"),
                    lines: (from.start_line, from.end_line),
                });
            }
        }
        // A FROM can only build on a stage defined before it; otherwise the name is a named
        // context or an image (so `FROM alpine AS alpine` is the image, as in BuildKit). A
        // stage whose name has a context is that context, its instructions unused.
        let replaced = name.as_deref().and_then(|n| named::base(options, n));
        let base = match (replaced.clone(), find_name(&stages, &base_text)) {
            (Some(context), _) => context,
            (None, Some(earlier)) => Base::Stage(earlier),
            (None, None) if base_text.eq_ignore_ascii_case("scratch") => Base::Scratch,
            (None, None) => named::base(options, &base_text).unwrap_or(Base::Image(base_text)),
        };
        let body = match replaced {
            Some(_) => &instructions[end..end],
            None => &instructions[start + 1..end],
        };
        stages.push(StagePlan {
            name: name.clone(),
            display: String::new(),
            base,
            platform,
            from,
            body,
            base_config: ImageConfig::default(),
            triggers: Vec::new(),
            deps: Vec::new(),
            triggers_done: false,
        });
    }
    Ok(stages)
}

/// Expands a FROM word in the global scope; undeclared variables are a warning.
fn from_word(
    word: &str,
    globals: &Globals,
    lexer: &Lexer,
    from: &Instruction,
    warnings: &mut Vec<Warning>,
) -> Result<String> {
    let found = lexer
        .process(word, &globals.vars)
        .map_err(|e| error_at(e.to_string(), from))?;
    for name in &found.unmatched {
        if globals.declared.contains(name) {
            continue;
        }
        let known = globals.vars.iter().map(|(k, _)| k.as_str());
        let hint = suggest(name, known)
            .map(|n| format!(" (did you mean {n}?)"))
            .unwrap_or_default();
        warnings.push(Warning {
            rule: "UndefinedArgInFrom",
            message: format!("FROM argument '{name}' is not declared{hint}"),
            lines: (from.start_line, from.end_line),
        });
    }
    Ok(found.result)
}

/// Progress names: the stage name, `stage-N` when unnamed, nothing when the Dockerfile has a
/// single stage and no other source (BuildKit counts `--from` images as sources).
fn name_stages(stages: &mut [StagePlan<'_>]) {
    let image_sources: usize = stages
        .iter()
        .flat_map(|s| s.body.iter())
        .map(|i| match &i.kind {
            Kind::Copy(copy) => usize::from(
                copy.from
                    .as_deref()
                    .is_some_and(|f| f.parse::<i64>().is_err() && find_name(stages, f).is_none()),
            ),
            Kind::Run(run) => run
                .mounts
                .iter()
                .filter(|m| {
                    m.kind != MountKind::Tmpfs
                        && m.from
                            .as_deref()
                            .is_some_and(|f| find_name(stages, f).is_none())
                })
                .count(),
            _ => 0,
        })
        .sum();
    let lone = stages.len() + image_sources == 1;
    for (index, stage) in stages.iter_mut().enumerate() {
        stage.display = match (&stage.name, lone) {
            (_, true) => String::new(),
            (Some(name), false) => name.clone(),
            (None, false) => format!("stage-{index}"),
        };
    }
}

/// What `COPY --from=<reference>` reads: a stage by index or name, else an image. Variables
/// are refused, as BuildKit does.
fn copy_source(
    stages: &[StagePlan<'_>],
    reference: &str,
    lexer: &Lexer,
    at: &Instruction,
) -> Result<Source> {
    let unexpanded = lexer
        .expand(reference, &Vec::new())
        .map_err(|e| error_at(e.to_string(), at))?;
    if unexpanded != reference {
        return Err(error_at(
            "variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround",
            at,
        ));
    }
    if let Ok(index) = reference.parse::<i64>() {
        return match usize::try_from(index) {
            Ok(index) if index < stages.len() => Ok(Source::Stage(index)),
            _ => Err(error_at(format!("invalid stage index {index}"), at)),
        };
    }
    Ok(match find_name(stages, reference) {
        Some(index) => Source::Stage(index),
        None => Source::Image(reference.to_string()),
    })
}

/// Where a RUN mount reads from.
pub(super) fn mount_source(
    stages: &[StagePlan<'_>],
    kind: MountKind,
    from: Option<&str>,
) -> Source {
    match (kind, from) {
        (MountKind::Tmpfs | MountKind::Secret | MountKind::Ssh, _) => Source::Nothing,
        (MountKind::Cache, None) => Source::Scratch,
        (MountKind::Bind, None) => Source::Context,
        (_, Some(name)) => match find_name(stages, name) {
            Some(index) => Source::Stage(index),
            None if name.eq_ignore_ascii_case("scratch") => Source::Scratch,
            None => Source::Image(name.to_string()),
        },
    }
}

/// The stages `instructions` read through `--from` and mounts.
fn command_deps(
    stages: &[StagePlan<'_>],
    instructions: &[Instruction],
    lexer: &Lexer,
) -> Result<Vec<(usize, (usize, usize))>> {
    let mut deps = Vec::new();
    for instruction in instructions {
        let lines = (instruction.start_line, instruction.end_line);
        match &instruction.kind {
            Kind::Copy(copy) => {
                if let Some(from) = &copy.from {
                    if let Source::Stage(dep) = copy_source(stages, from, lexer, instruction)? {
                        deps.push((dep, lines));
                    }
                }
            }
            Kind::Run(run) => {
                for mount in &run.mounts {
                    if let Source::Stage(dep) =
                        mount_source(stages, mount.kind, mount.from.as_deref())
                    {
                        deps.push((dep, lines));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(deps)
}

/// A stage that reads itself, directly or through others, cannot be built.
fn check_cycles(stages: &[StagePlan<'_>]) -> Result<()> {
    fn visit(
        stages: &[StagePlan<'_>],
        index: usize,
        path: &mut Vec<usize>,
        done: &mut BTreeSet<usize>,
    ) -> Option<(usize, usize)> {
        if done.contains(&index) {
            return None;
        }
        path.push(index);
        for &(dep, lines) in &stages[index].deps {
            if path.contains(&dep) {
                return Some(lines);
            }
            if let Some(found) = visit(stages, dep, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(index);
        None
    }
    let mut done = BTreeSet::new();
    for index in 0..stages.len() {
        if let Some((start, end)) = visit(stages, index, &mut Vec::new(), &mut done) {
            let name = stages[index]
                .name
                .clone()
                .unwrap_or_else(|| format!("stage-{index}"));
            return Err(Error::at(
                format!("circular dependency detected on stage: {name}"),
                start,
                end,
            ));
        }
    }
    Ok(())
}

/// The stages `target` needs: itself, its base stages and every stage read, transitively.
fn reachable(stages: &[StagePlan<'_>], target: usize) -> BTreeSet<usize> {
    let mut seen = BTreeSet::new();
    let mut pending = vec![target];
    while let Some(index) = pending.pop() {
        if !seen.insert(index) {
            continue;
        }
        if let Base::Stage(base) = stages[index].base {
            pending.push(base);
        }
        pending.extend(stages[index].deps.iter().map(|(d, _)| *d));
    }
    seen
}

/// Looks up a needed stage's base image config and parses the ONBUILD triggers it inherits.
fn load_triggers(
    stages: &mut [StagePlan<'_>],
    index: usize,
    images: &dyn BaseImages,
    lexer: &Lexer,
) -> Result<()> {
    let from = stages[index].from;
    let texts: Vec<String> = match stages[index].base.clone() {
        Base::Scratch | Base::Local(_) => Vec::new(),
        Base::Image(reference) => {
            let config = images
                .config(&reference, &stages[index].platform)
                .map_err(|cause| error_at(cause.to_string(), from).with_cause(cause))?
                .unwrap_or_default();
            let texts = config.onbuild.clone();
            stages[index].base_config = config;
            texts
        }
        Base::Stage(base) => {
            let body = stages[base].body;
            let mut triggers = Vec::new();
            for instruction in body {
                if let Kind::Onbuild { trigger, .. } = &instruction.kind {
                    let mut trigger = (**trigger).clone();
                    trigger.start_line = from.start_line;
                    trigger.end_line = from.end_line;
                    triggers.push(trigger);
                }
            }
            stages[index].triggers = triggers;
            Vec::new()
        }
    };
    if !texts.is_empty() {
        stages[index].triggers = texts
            .iter()
            .map(|text| parse_trigger(text, from))
            .collect::<Result<_>>()?;
    }
    let triggers = std::mem::take(&mut stages[index].triggers);
    let deps = command_deps(stages, &triggers, lexer)?;
    stages[index].triggers = triggers;
    stages[index].deps.extend(deps);
    stages[index].triggers_done = true;
    Ok(())
}

/// Parses a trigger recorded in a base image; errors point at the FROM that inherited it.
fn parse_trigger(text: &str, from: &Instruction) -> Result<Instruction> {
    let fail = |message: &str| {
        error_at(
            format!("ONBUILD trigger {text:?} of the base image: {message}"),
            from,
        )
    };
    let ast = crate::parser::parse(text).map_err(|e| fail(e.message()))?;
    let [node] = ast.nodes.as_slice() else {
        return Err(fail("onbuild trigger should be a single expression"));
    };
    let mut node = node.clone();
    node.start_line = from.start_line;
    node.end_line = from.end_line;
    let trigger = parse_node(&node).map_err(|e| fail(e.message()))?;
    if matches!(trigger.kind, Kind::From { .. } | Kind::Onbuild { .. }) {
        return Err(fail("FROM and ONBUILD are not allowed as triggers"));
    }
    Ok(trigger)
}
