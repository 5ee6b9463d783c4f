//! COPY and ADD: where they read (the context, an earlier stage, an image), their expanded
//! sources, destination and flags, and their history line
//! (`COPY --chown=app a.txt /dst # buildkit`).

use super::dispatch::{clean_path, normalize_reference, word};
use super::history::uppercase_keyword;
use super::plan::Source;
use super::run::stage_label;
use super::state::StageState;
use super::{error_at, named, Compiler};
use crate::error::Result;
use crate::graph::{CopyFrom, CopyOp, CopySource, Op};
use crate::instructions::{CopyArgs, Instruction};
use crate::shell::Lexer;

pub(super) fn dispatch_copy(
    c: &mut Compiler<'_>,
    state: &mut StageState,
    stage: usize,
    instruction: &Instruction,
    copy: &CopyArgs,
) -> Result<()> {
    let lines = (instruction.start_line, instruction.end_line);
    let keyword = if copy.add { "ADD" } else { "COPY" };
    let (from, source_vertex) = match &copy.from {
        None => (CopyFrom::Context, c.context_vertex()),
        Some(reference) => {
            let plans = c.plan;
            let source = match plans.copy_source(reference, &c.lexer, instruction)? {
                Source::Image(name) => named::source(c.options, name),
                other => other,
            };
            match source {
                Source::Stage(dep) if dep >= stage => {
                    return Err(error_at(
                        format!(
                            "cannot copy from stage {reference:?}, it needs to be defined before current stage {:?}",
                            stage_label(c, stage)
                        ),
                        instruction,
                    ))
                }
                Source::Stage(dep) => {
                    let slot = c.slots[&dep];
                    (CopyFrom::Stage(slot), c.graph.stages[slot].last)
                }
                Source::Image(image) => {
                    let name = format!("FROM {}", normalize_reference(&image));
                    let platform = plans.stages[stage].platform.clone();
                    let vertex = c.source_image_vertex(&image, &platform, name, instruction)?;
                    (CopyFrom::Image(image), vertex)
                }
                Source::Local(key) => {
                    let vertex = named::context_vertex(c, &key);
                    (CopyFrom::NamedContext(key), vertex)
                }
                Source::Context | Source::Scratch | Source::Nothing => {
                    unreachable!("--from names a stage or an image")
                }
            }
        }
    };
    // Every word is expanded before anything else happens, as BuildKit's `Expand`.
    // `--chown=${UNSET}` expands to nothing: no chown at all, as BuildKit's `parseUser("")`.
    let chown = match &copy.chown {
        Some(chown) => Some(word(c, state, chown, instruction)?).filter(|c| !c.is_empty()),
        None => None,
    };
    let chmod_text = match &copy.chmod {
        Some(chmod) => Some(word(c, state, chmod, instruction)?),
        None => None,
    };
    let mut exclude = Vec::new();
    for pattern in &copy.exclude {
        exclude.push(word(c, state, pattern, instruction)?);
    }
    let checksum = match &copy.checksum {
        Some(checksum) => Some(word(c, state, checksum, instruction)?),
        None => None,
    };
    let mut paths = Vec::new();
    let mut inline = Vec::new();
    // Heredoc bodies are expanded without quote processing, with `\` as escape.
    let body_lexer = Lexer::new('\\').skip_quotes(true);
    for source in &copy.sources {
        match copy.heredoc_for(source) {
            Some(doc) => {
                let content = if doc.expand {
                    body_lexer
                        .expand(&doc.content, &state.env)
                        .map_err(|e| error_at(e.to_string(), instruction))?
                } else {
                    doc.content.clone()
                };
                inline.push(CopySource::Inline {
                    name: doc.name.clone(),
                    content,
                });
            }
            None => paths.push(word(c, state, source, instruction)?),
        }
    }
    let dest = word(c, state, &copy.dest, instruction)?;
    let (chmod, chmod_symbolic) = match &chmod_text {
        Some(text) => parse_chmod(text).map_err(|e| error_at(e, instruction))?,
        None => (None, None),
    };
    check_sources(copy.add, &paths, checksum.as_deref()).map_err(|e| error_at(e, instruction))?;
    if from == CopyFrom::Context {
        for path in &paths {
            if !is_remote(path, copy.add) {
                c.context_paths.insert(clean_path(&format!("/{path}")));
            }
        }
    }
    let mut text = keyword.to_string();
    if copy.parents {
        text.push_str(" --parents");
    }
    if let Some(chown) = &chown {
        text.push_str(&format!(" --chown={chown}"));
    }
    if let Some(chmod) = &chmod_text {
        text.push_str(&format!(" --chmod={chmod}"));
    }
    for path in &paths {
        text.push_str(&format!(" {path}"));
    }
    for source in &inline {
        if let CopySource::Inline { name, .. } = source {
            text.push_str(&format!(" <<{name}"));
        }
    }
    text.push_str(&format!(" {dest} # buildkit"));
    let mut sources: Vec<CopySource> = paths.into_iter().map(CopySource::Path).collect();
    sources.extend(inline);
    let op = Op::Copy(CopyOp {
        add: copy.add,
        sources,
        dest,
        workdir: state.config.workdir_or_root(),
        from,
        chown,
        chmod,
        chmod_symbolic,
        exclude,
        parents: copy.parents,
        link: copy.link,
        checksum,
        keep_git_dir: copy.keep_git_dir,
    });
    let shown = c
        .lexer
        .expand(&instruction.original, &state.env)
        .unwrap_or_else(|_| instruction.original.clone());
    let name = state.step_name(&uppercase_keyword(shown.trim()));
    let vertex = c.add_vertex(op, vec![state.last, source_vertex], name, lines);
    state.last = vertex;
    state.record(text, Some(vertex));
    Ok(())
}

/// `--chmod`: an octal mode up to 07777, or a symbolic one (`u+x,go-w`) as BuildKit accepts.
fn parse_chmod(text: &str) -> std::result::Result<(Option<u32>, Option<String>), String> {
    let invalid = || {
        format!(
            "invalid chmod parameter: '{text}'. it should be octal string and between 0 and 07777"
        )
    };
    if let Ok(mode) = u32::from_str_radix(text, 8) {
        return if mode > 0o7777 {
            Err(invalid())
        } else {
            Ok((Some(mode), None))
        };
    }
    if is_symbolic_mode(text) {
        Ok((None, Some(text.to_string())))
    } else {
        Err(invalid())
    }
}

/// chmod(1)'s symbolic modes: comma-separated `[ugoa]*([-+=]([rwxXst]*|[ugo]))+`.
fn is_symbolic_mode(text: &str) -> bool {
    !text.is_empty()
        && text.split(',').all(|clause| {
            let actions = clause.trim_start_matches(['u', 'g', 'o', 'a']);
            if actions.is_empty() {
                return false;
            }
            let mut chars = actions.chars().peekable();
            while let Some(op) = chars.next() {
                if !matches!(op, '+' | '-' | '=') {
                    return false;
                }
                if chars.peek().is_some_and(|c| matches!(c, 'u' | 'g' | 'o')) {
                    chars.next();
                    continue;
                }
                while chars
                    .peek()
                    .is_some_and(|c| matches!(c, 'r' | 'w' | 'x' | 'X' | 's' | 't'))
                {
                    chars.next();
                }
            }
            true
        })
}

/// What COPY may not read and what `--checksum` needs.
fn check_sources(
    add: bool,
    paths: &[String],
    checksum: Option<&str>,
) -> std::result::Result<(), String> {
    if !add {
        if let Some(path) = paths.iter().find(|p| is_remote(p, false)) {
            return Err(if is_git(path, false) {
                format!("source can't be a git ref for COPY: {path}")
            } else {
                format!("source can't be a URL for COPY: {path}")
            });
        }
        if checksum.is_some() {
            return Err("checksum can't be specified for COPY".into());
        }
        return Ok(());
    }
    if checksum.is_some() {
        if paths.len() != 1 {
            return Err("checksum can't be specified for multiple sources".into());
        }
        if !is_remote(&paths[0], true) {
            return Err("checksum requires HTTP(S) or Git sources".into());
        }
    }
    Ok(())
}

/// A URL or git source (never read from the context).
pub fn is_remote(path: &str, add: bool) -> bool {
    path.starts_with("http://") || path.starts_with("https://") || is_git(path, add)
}

/// A git source as BuildKit tells them apart from paths: `git://`, `ssh://`, an HTTP(S) URL
/// of a `.git` repository, and for ADD `git@host:…` (which COPY reads as a local path).
pub fn is_git(path: &str, add: bool) -> bool {
    if path.starts_with("git://") || path.starts_with("ssh://") {
        return true;
    }
    if path.starts_with("git@") {
        return add;
    }
    if path.starts_with("http://") || path.starts_with("https://") {
        let end = path.find(['#', '?']).unwrap_or(path.len());
        return path[..end].ends_with(".git");
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chmod_is_octal_or_symbolic() {
        assert_eq!(parse_chmod("0755").unwrap(), (Some(0o755), None));
        assert_eq!(parse_chmod("4755").unwrap(), (Some(0o4755), None));
        assert_eq!(
            parse_chmod("u+x,go-w").unwrap(),
            (None, Some("u+x,go-w".into()))
        );
        assert_eq!(parse_chmod("a=rX").unwrap().1.as_deref(), Some("a=rX"));
        assert_eq!(parse_chmod("g=u").unwrap().1.as_deref(), Some("g=u"));
        for bad in ["17777", "9", "u", "u+q", "", "rwx"] {
            assert!(parse_chmod(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn remote_sources() {
        assert!(is_remote("https://example.com/a.tgz", false));
        assert!(!is_git("https://example.com/a.tgz", true));
        assert!(is_git("https://github.com/o/r.git#main", false));
        assert!(is_git("git@github.com:o/r.git", true) && !is_git("git@github.com:o/r.git", false));
        assert!(!is_remote("src/app.git", true));
        assert!(check_sources(false, &["https://x/y".into()], None)
            .unwrap_err()
            .contains("URL for COPY"));
        assert!(check_sources(false, &["git://x/y".into()], None)
            .unwrap_err()
            .contains("git ref for COPY"));
        assert!(check_sources(true, &["a".into(), "b".into()], Some("sha256:x")).is_err());
        assert!(check_sources(true, &["a".into()], Some("sha256:x")).is_err());
        assert!(check_sources(true, &["https://x/y".into()], Some("sha256:x")).is_ok());
    }
}
