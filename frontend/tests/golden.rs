//! The project's own golden parser cases, in BuildKit's style (`parser/testfiles` and
//! `testfiles-negative`), covering what BuildKit's public cases do not: heredocs, every flag,
//! directives, continuations, CRLF and BOM, JSON fallback, positions, every error message.
//!
//! `testdata/parser/<case>/Dockerfile` must give:
//! - `result`: the dump (BuildKit's `debug dump` format);
//! - `heredocs`: each heredoc with its flags and body;
//! - `lines`: each node's first and last line and keyword column;
//! - `instructions`: what the instruction layer makes of each node (or its error).
//!
//! `testdata/negative/<case>/Dockerfile` must fail (parser or instruction layer) with an
//! error whose rendering (message, caret lines, hint) contains the text of `error`.
//!
//! `STRATA_BLESS=1` rewrites the expected files of the positive cases; review the diff
//! against BuildKit's rules before committing it.

use std::fs;
use std::path::{Path, PathBuf};

use strata_frontend::instructions::parse_node;
use strata_frontend::parser::parse;

fn cases(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(kind);
    let mut cases: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    cases
}

fn heredocs_of(ast: &strata_frontend::ast::Ast) -> String {
    let mut out = String::new();
    for node in &ast.nodes {
        for doc in &node.heredocs {
            out.push_str(&format!(
                "line {}: name={} expand={} chomp={} fd={} content={:?}\n",
                node.start_line, doc.name, doc.expand, doc.chomp, doc.fd, doc.content
            ));
        }
    }
    out
}

fn lines_of(ast: &strata_frontend::ast::Ast) -> String {
    let mut out = String::new();
    for node in &ast.nodes {
        out.push_str(&format!(
            "{}-{}:{} {}\n",
            node.start_line, node.end_line, node.column, node.keyword
        ));
    }
    if !ast.warnings.is_empty() || !ast.directives.is_empty() {
        out.push_str(&format!("directives: {:?}\n", ast.directives));
        for (line, warning) in &ast.warnings {
            out.push_str(&format!("warning at {line}: {warning}\n"));
        }
    }
    out
}

fn instructions_of(ast: &strata_frontend::ast::Ast, text: &str) -> String {
    let mut out = String::new();
    for node in &ast.nodes {
        match parse_node(node) {
            Ok(instruction) => out.push_str(&format!(
                "{}: {:?}\n",
                instruction.start_line, instruction.kind
            )),
            Err(err) => out.push_str(&format!(
                "{}: error: {}\n",
                node.start_line,
                err.in_file("Dockerfile", text)
            )),
        }
    }
    out
}

fn check(path: &Path, actual: &str, failures: &mut Vec<String>) {
    if std::env::var_os("STRATA_BLESS").is_some() {
        fs::write(path, actual).unwrap();
        return;
    }
    let expected = fs::read_to_string(path).unwrap_or_default();
    if expected != actual {
        failures.push(format!(
            "{}:\n--- expected\n{expected}--- got\n{actual}",
            path.display()
        ));
    }
}

#[test]
fn golden_cases_dump_as_recorded() {
    let mut failures = Vec::new();
    let all = cases("parser");
    assert!(all.len() >= 25, "only {} golden cases", all.len());
    for case in all {
        let text = fs::read_to_string(case.join("Dockerfile")).unwrap();
        let ast = parse(&text).unwrap_or_else(|e| panic!("{}: {e}", case.display()));
        check(&case.join("result"), &ast.dump(), &mut failures);
        check(&case.join("heredocs"), &heredocs_of(&ast), &mut failures);
        check(&case.join("lines"), &lines_of(&ast), &mut failures);
        check(
            &case.join("instructions"),
            &instructions_of(&ast, &text),
            &mut failures,
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn negative_cases_fail_with_their_message() {
    let all = cases("negative");
    assert!(all.len() >= 50, "only {} negative cases", all.len());
    let mut failures = Vec::new();
    for case in all {
        let text = fs::read_to_string(case.join("Dockerfile")).unwrap();
        let expected = fs::read_to_string(case.join("error")).unwrap();
        let result = parse(&text)
            .and_then(|ast| strata_frontend::instructions::parse_all(&ast.nodes).map(|_| ()));
        match result {
            Ok(()) => failures.push(format!("{}: must fail", case.display())),
            Err(err) => {
                let shown = err.in_file("Dockerfile", &text).to_string();
                if !shown.contains(expected.trim_end_matches('\n')) {
                    failures.push(format!(
                        "{}:\n--- expected to contain\n{expected}--- got\n{shown}\n",
                        case.display()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
