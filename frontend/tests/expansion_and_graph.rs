//! The shell lexer against BuildKit's own tables, and the stage resolver over the 152
//! official-image Dockerfiles, from `../shared/conformance` (skipped when it is absent).

use std::fs;
use std::path::{Path, PathBuf};

use strata_frontend::graph::Op;
use strata_frontend::shell::Lexer;
use strata_frontend::{compile, parser, BuildOptions, UnknownBaseImages};

fn conformance_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIP: {} not found (the shared conformance material)",
            dir.display()
        );
        None
    }
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `envVarTest`: `platform | input | expected`, W rows are Windows-only.
#[test]
fn every_unix_row_of_buildkits_env_var_table_passes() {
    let Some(dir) = conformance_dir() else { return };
    let text = fs::read_to_string(dir.join("buildkit-shell/envVarTest")).unwrap();
    let env = pairs(&[
        ("PWD", "/home"),
        ("SHELL", "bash"),
        ("KOREAN", "한국어"),
        ("NULL", ""),
    ]);
    let lexer = Lexer::new('\\');
    let (mut checked, mut skipped) = (0, 0);
    let mut failures = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('|').collect();
        assert_eq!(fields.len(), 3, "line {}: {line:?}", number + 1);
        let (platform, input, expected) = (fields[0].trim(), fields[1].trim(), fields[2].trim());
        assert!(["A", "U", "W"].contains(&platform), "line {}", number + 1);
        if platform == "W" {
            skipped += 1;
            continue;
        }
        checked += 1;
        let got = lexer.process(input, &env);
        let ok = match (&got, expected) {
            (Err(_), "error") => true,
            (Ok(found), expected) => found.result == expected,
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "line {}: {input:?} gave {got:?}, want {expected:?}",
                number + 1
            ));
        }
    }
    eprintln!("envVarTest: {checked} rows checked, {skipped} Windows rows skipped");
    assert!(checked > 200, "only {checked} rows read");
    assert!(
        failures.is_empty(),
        "{} rows fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// `wordsTest`: `input | word1,word2`, `ENV k=v` lines add to the environment for the rows
/// after them.
#[test]
fn every_row_of_buildkits_words_table_passes() {
    let Some(dir) = conformance_dir() else { return };
    let text = fs::read_to_string(dir.join("buildkit-shell/wordsTest")).unwrap();
    let lexer = Lexer::new('\\');
    let mut env: Vec<(String, String)> = Vec::new();
    let mut checked = 0;
    let mut failures = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.starts_with('#') {
            continue;
        }
        if let Some(assignment) = line.strip_prefix("ENV ") {
            let (k, v) = assignment.trim_start().split_once('=').unwrap();
            env.push((k.to_string(), v.to_string()));
            continue;
        }
        let (input, expected) = line.split_once('|').unwrap();
        let input = input.trim();
        let expected: Vec<&str> = expected.trim_start().split(',').collect();
        checked += 1;
        let got = match lexer.expand_words(input, &env) {
            Ok(words) => words,
            Err(_) => vec!["error".to_string()],
        };
        if got != expected {
            failures.push(format!(
                "line {}: {input:?} gave {got:?}, want {expected:?}",
                number + 1
            ));
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

fn dockerfiles(dir: &Path) -> Vec<PathBuf> {
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

/// Every official-image Dockerfile compiles to a graph for its last stage and for each named
/// stage, with inputs before users and one RUN/COPY/WORKDIR step per instruction BuildKit
/// would run.
#[test]
fn official_image_dockerfiles_compile_to_graphs() {
    let Some(dir) = conformance_dir() else { return };
    let files = dockerfiles(&dir.join("docker-library"));
    assert_eq!(files.len(), 152);
    let (mut vertices, mut runs, mut warnings) = (0, 0, 0);
    for file in &files {
        let text = fs::read_to_string(file).unwrap();
        let ast = parser::parse(&text).unwrap();
        let graph = compile(&ast, &BuildOptions::default(), &UnknownBaseImages)
            .unwrap_or_else(|e| panic!("{}: {}", file.display(), e.in_file("", &text)));
        for (id, vertex) in graph.vertices.iter().enumerate() {
            assert!(vertex.inputs.iter().all(|&i| i < id), "{}", file.display());
        }
        let again = compile(&ast, &BuildOptions::default(), &UnknownBaseImages).unwrap();
        let digests = |g: &strata_frontend::Graph| -> Vec<String> {
            g.vertices.iter().map(|v| v.digest.clone()).collect()
        };
        assert_eq!(
            digests(&graph),
            digests(&again),
            "{}: digests must be stable",
            file.display()
        );
        assert_eq!(graph.to_string(), again.to_string());
        vertices += graph.vertices.len();
        runs += graph
            .vertices
            .iter()
            .filter(|v| matches!(v.op, Op::Exec(_)))
            .count();
        warnings += graph.warnings.len();
        for stage in graph.stages.iter().filter_map(|s| s.name.clone()) {
            let options = BuildOptions {
                target: Some(stage.clone()),
                ..BuildOptions::default()
            };
            let sub = compile(&ast, &options, &UnknownBaseImages).unwrap();
            assert_eq!(sub.target_stage().name.as_deref(), Some(stage.as_str()));
        }
    }
    eprintln!("docker-library: {vertices} vertices, {runs} RUNs, {warnings} warnings");
    assert!(runs > 500, "only {runs} RUN vertices");
}
