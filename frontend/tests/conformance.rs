//! BuildKit's public parser and shell-lexer material, run when `../shared/conformance` exists.

use std::fs;
use std::path::PathBuf;

use strata_frontend::parser::parse;

fn conformance_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "skipping: {} not found (the shared conformance material)",
            dir.display()
        );
        None
    }
}

fn cases(dir: PathBuf) -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    cases
}

#[test]
fn buildkit_parser_cases_dump_exactly_their_result() {
    let Some(dir) = conformance_dir() else { return };
    let mut failures = Vec::new();
    let all = cases(dir.join("buildkit-parser"));
    for case in &all {
        let text = fs::read_to_string(case.join("Dockerfile")).unwrap();
        let expected = fs::read_to_string(case.join("result")).unwrap();
        match parse(&text) {
            Ok(ast) if ast.dump() == expected => {}
            Ok(ast) => failures.push(format!(
                "{}:\n--- expected\n{expected}--- got\n{}",
                case.display(),
                ast.dump()
            )),
            Err(err) => failures.push(format!("{}: {err}", case.display())),
        }
    }
    assert_eq!(all.len(), 33, "expected BuildKit's 33 parser cases");
    assert!(
        failures.is_empty(),
        "{} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn buildkit_negative_cases_are_rejected() {
    let Some(dir) = conformance_dir() else { return };
    let all = cases(dir.join("buildkit-parser-negative"));
    assert_eq!(all.len(), 4);
    for case in all {
        let text = fs::read_to_string(case.join("Dockerfile")).unwrap();
        let err = parse(&text)
            .err()
            .unwrap_or_else(|| panic!("{} must be rejected", case.display()));
        // BuildKit's reasons, not just any failure.
        let name = case.file_name().unwrap().to_str().unwrap();
        let reason = match name {
            "empty_dockerfile" | "only_comments" => "file with no instructions",
            "env_no_value" => "ENV must have two arguments",
            "shykes-nested-json" => "arrays must be comprised of strings only",
            other => panic!("unexpected negative case {other}"),
        };
        assert!(err.message().contains(reason), "{name}: {err}");
    }
}

#[test]
fn buildkit_line_case_has_the_expected_line_ranges() {
    let Some(dir) = conformance_dir() else { return };
    let text = fs::read_to_string(dir.join("buildkit-parser-line/Dockerfile")).unwrap();
    let ast = parse(&text).unwrap();
    let ranges: Vec<(usize, usize)> = ast
        .nodes
        .iter()
        .map(|n| (n.start_line, n.end_line))
        .collect();
    assert_eq!(ranges, [(5, 5), (11, 12), (17, 31)]);
}

fn docker_library_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.file_name().is_some_and(|n| n == "Dockerfile") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

#[test]
fn docker_library_dockerfiles_parse_and_validate() {
    let Some(dir) = conformance_dir() else { return };
    let files = docker_library_files(&dir.join("docker-library"));
    assert_eq!(files.len(), 152);
    let mut instructions = 0;
    let mut heredocs = 0;
    for file in files {
        let text = fs::read_to_string(&file).unwrap();
        let ast = parse(&text).unwrap_or_else(|err| panic!("{}: {err}", file.display()));
        let parsed = strata_frontend::instructions::parse_all(&ast.nodes)
            .unwrap_or_else(|err| panic!("{}: {}", file.display(), err.in_file("", &text)));
        // Every node becomes an instruction at the node's lines, and the dump lists each once.
        assert_eq!(parsed.len(), ast.nodes.len());
        assert_eq!(ast.dump().lines().count(), ast.nodes.len());
        for (node, instruction) in ast.nodes.iter().zip(&parsed) {
            assert_eq!(
                (node.start_line, node.end_line),
                (instruction.start_line, instruction.end_line)
            );
        }
        instructions += parsed.len();
        heredocs += ast.nodes.iter().map(|n| n.heredocs.len()).sum::<usize>();
    }
    assert!(instructions > 2000, "only {instructions} instructions");
    eprintln!("docker-library: {instructions} instructions, {heredocs} heredocs");
}

mod shell {
    use super::*;
    use strata_frontend::shell::Lexer;

    fn base_env() -> Vec<(String, String)> {
        [
            ("PWD", "/home"),
            ("SHELL", "bash"),
            ("KOREAN", "한국어"),
            ("NULL", ""),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn env_var_table_rows_pass() {
        let Some(dir) = conformance_dir() else { return };
        let text = fs::read_to_string(dir.join("buildkit-shell/envVarTest")).unwrap();
        let env = base_env();
        let lexer = Lexer::default();
        let mut checked = 0;
        let mut failures = Vec::new();
        for line in text.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let parts: Vec<&str> = line.splitn(3, '|').collect();
            let (platform, input, expected) = (parts[0].trim(), parts[1].trim(), parts[2].trim());
            if platform == "W" {
                continue;
            }
            checked += 1;
            match (lexer.expand(input, &env), expected) {
                (Err(_), "error") => {}
                (Ok(got), expected) if got == expected => {}
                (got, expected) => {
                    failures.push(format!("{input:?}: got {got:?}, want {expected:?}"))
                }
            }
        }
        assert!(checked > 200, "only {checked} rows read");
        assert!(
            failures.is_empty(),
            "{} rows fail:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    #[test]
    fn words_table_rows_pass() {
        let Some(dir) = conformance_dir() else { return };
        let text = fs::read_to_string(dir.join("buildkit-shell/wordsTest")).unwrap();
        let mut env: Vec<(String, String)> = Vec::new();
        let lexer = Lexer::default();
        let mut failures = Vec::new();
        let mut checked = 0;
        for line in text.lines() {
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            if let Some(assignment) = line.strip_prefix("ENV ") {
                let (k, v) = assignment.split_once('=').unwrap();
                env.push((k.to_string(), v.to_string()));
                continue;
            }
            let (input, expected) = line.split_once('|').unwrap();
            let input = input.trim();
            let expected = expected.strip_prefix(' ').unwrap_or(expected);
            checked += 1;
            match (lexer.expand_words(input, &env), expected) {
                (Err(_), "error") => {}
                (Ok(words), expected) if words.join(",") == expected => {}
                (got, expected) => {
                    failures.push(format!("{input:?}: got {got:?}, want {expected:?}"))
                }
            }
        }
        assert!(checked >= 20, "only {checked} rows read");
        assert!(
            failures.is_empty(),
            "{} rows fail:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}
