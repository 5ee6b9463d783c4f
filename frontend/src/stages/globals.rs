//! The global scope: ARGs before the first FROM (BuildKit's meta args). Their values come from
//! `--build-arg`, else their default expanded with the args before them; the automatic
//! platform args are in scope from the start. Only FROM lines (image, `--platform`) and
//! in-stage `ARG NAME` redeclarations see them.

use std::collections::BTreeSet;

use super::args::predefined_args;
use super::{error_at, BuildOptions};
use crate::error::{Error, Result};
use crate::instructions::{Instruction, Kind};
use crate::shell::Lexer;

/// The resolved global scope.
pub(super) struct Globals {
    /// Index of the first FROM in the instruction list.
    pub first_from: usize,
    /// Name → value, in declaration order (later ones replace earlier ones): the automatic
    /// args, then the global ARGs that got a value.
    pub vars: Vec<(String, String)>,
    /// Every global ARG name, with or without a value (a `--build-arg` for one is consumed).
    pub declared: BTreeSet<String>,
}

impl Globals {
    /// The value of a global (or automatic) arg.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Resolves the ARGs before the first FROM.
pub(super) fn resolve(
    instructions: &[Instruction],
    lexer: &Lexer,
    options: &BuildOptions,
) -> Result<Globals> {
    let first_from = instructions
        .iter()
        .position(|i| matches!(i.kind, Kind::From { .. }))
        .ok_or_else(|| {
            let line = instructions.first().map_or(0, |i| i.start_line);
            Error::at(
                "dockerfile contains no stages to build: a stage starts with FROM",
                line,
                instructions.last().map_or(0, |i| i.end_line),
            )
        })?;
    let target = target_name(&instructions[first_from..], options);
    let mut vars = predefined_args(&options.platform, &target, &options.build_args);
    let mut declared = BTreeSet::new();
    for instruction in &instructions[..first_from] {
        let Kind::Arg(decls) = &instruction.kind else {
            return Err(error_at(
                "no build stage in current context: only ARG may come before the first FROM",
                instruction,
            ));
        };
        for decl in decls {
            declared.insert(decl.name.clone());
            let value = match (options.build_args.get(&decl.name), &decl.default) {
                (Some(given), _) => Some(given.clone()),
                // BuildKit reports no undefined variables here (only FROM lines are linted).
                (None, Some(default)) => Some(
                    lexer
                        .expand(default, &vars)
                        .map_err(|e| error_at(e.to_string(), instruction))?,
                ),
                (None, None) => None,
            };
            if let Some(value) = value {
                vars.retain(|(k, _)| *k != decl.name);
                vars.push((decl.name.clone(), value));
            }
        }
    }
    Ok(Globals {
        first_from,
        vars,
        declared,
    })
}

/// `TARGETSTAGE`: the target's name, or the last stage's name (empty when unnamed).
fn target_name(stages: &[Instruction], options: &BuildOptions) -> String {
    if let Some(target) = &options.target {
        return target.to_lowercase();
    }
    stages
        .iter()
        .rev()
        .find_map(|i| match &i.kind {
            Kind::From { name, .. } => Some(name.clone().unwrap_or_default()),
            _ => None,
        })
        .unwrap_or_default()
}
