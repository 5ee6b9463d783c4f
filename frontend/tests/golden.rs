//! The project's own golden parser cases (`testdata/parser/<case>/`): each Dockerfile must dump
//! to `result` (BuildKit's format) and list its heredocs as in `heredocs`; every case under
//! `testdata/negative/<case>/` must fail with the message in `error`. Covers what BuildKit's
//! public cases do not: heredocs, all flags, directives, CRLF and BOM, error messages.
//! `STRATA_BLESS=1` rewrites the expected files (review the diff before committing).

use std::fs;
use std::path::{Path, PathBuf};

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

fn heredocs_of(text: &str) -> String {
    let ast = parse(text).unwrap();
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
    assert!(all.len() >= 10);
    for case in all {
        let text = fs::read_to_string(case.join("Dockerfile")).unwrap();
        let ast = parse(&text).unwrap_or_else(|e| panic!("{}: {e}", case.display()));
        check(&case.join("result"), &ast.dump(), &mut failures);
        check(&case.join("heredocs"), &heredocs_of(&text), &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn negative_cases_fail_with_their_message() {
    for case in cases("negative") {
        let text = fs::read_to_string(case.join("Dockerfile")).unwrap();
        let expected = fs::read_to_string(case.join("error")).unwrap();
        let err = parse(&text)
            .map(|ast| strata_frontend::instructions::parse_all(&ast.nodes).map(|_| ()))
            .and_then(|r| r)
            .expect_err(&format!("{} must fail", case.display()));
        assert!(
            err.to_string().contains(expected.trim_end()),
            "{}: {err} does not contain {expected:?}",
            case.display()
        );
    }
}
