//! Hostile input for the parser and the instruction layer: thousands of generated and mutated
//! Dockerfiles must never panic, and what parses must keep the tree's invariants (line ranges
//! inside the file, one dump line per instruction, errors that render with their snippet).
//! Deterministic (a fixed-seed generator), so a failure reproduces.

use std::fs;
use std::path::{Path, PathBuf};

use strata_frontend::instructions::parse_all;
use strata_frontend::parser::parse;

/// xorshift64*: small, deterministic, good enough to pick fragments.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const FRAGMENTS: &[&str] = &[
    "FROM ",
    "RUN ",
    "COPY ",
    "ADD ",
    "ENV ",
    "LABEL ",
    "ARG ",
    "ONBUILD ",
    "HEALTHCHECK ",
    "CMD ",
    "ENTRYPOINT ",
    "SHELL ",
    "VOLUME ",
    "EXPOSE ",
    "USER ",
    "WORKDIR ",
    "STOPSIGNAL ",
    "MAINTAINER ",
    "NONE ",
    "CMD",
    "--from=x ",
    "--mount=type=cache,target=/c ",
    "--link ",
    "--chmod=",
    "--",
    "-",
    "<<EOF",
    "<<-EOF",
    "<<'EOF'",
    "<<\"EOF\"",
    "3<<",
    "<<",
    "EOF",
    "\tEOF",
    "\\",
    "`",
    "\\\\",
    " ",
    "\t",
    "\n",
    "\r\n",
    "\n\n",
    "#",
    "# escape=`\n",
    "# syntax=x\n",
    "[",
    "]",
    "\"",
    "'",
    ",",
    "=",
    "a=b ",
    "k v",
    "$X",
    "${X:-y}",
    "${",
    "é",
    "☃",
    "\u{feff}",
    "\u{0}",
    "\u{a0}",
    "[\"a\", \"b\"]",
    "[1]",
    "[[]]",
    "AS ",
    "name",
    "/path",
    ".",
    "&&",
    "|",
    ";",
    "}",
    "{",
];

fn check(text: &str) {
    let lines = text.split('\n').count();
    let Ok(ast) = parse(text) else {
        // Errors must render (with or without a snippet) without panicking.
        let err = parse(text).unwrap_err();
        let _ = err.in_file("Dockerfile", text).to_string();
        return;
    };
    let dump = ast.dump();
    assert_eq!(dump.lines().count(), ast.nodes.len(), "{text:?}");
    for node in &ast.nodes {
        assert!(
            node.start_line >= 1 && node.start_line <= node.end_line,
            "{text:?}"
        );
        assert!(node.end_line <= lines, "{text:?}");
        for offset in 0..=node.original.len() {
            let (line, column) = node.position(offset);
            assert!(line >= node.start_line && line <= node.end_line && column >= 1);
        }
    }
    match parse_all(&ast.nodes) {
        Ok(instructions) => assert_eq!(instructions.len(), ast.nodes.len()),
        Err(err) => {
            let shown = err.in_file("Dockerfile", text).to_string();
            assert!(shown.starts_with("Dockerfile:"), "{shown}");
        }
    }
}

#[test]
fn generated_dockerfiles_never_panic() {
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    for _ in 0..20_000 {
        let pieces = 1 + rng.below(24);
        let text: String = (0..pieces).map(|_| rng.pick(FRAGMENTS)).collect();
        check(&text);
    }
}

fn corpus() -> Vec<PathBuf> {
    let base = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut roots = vec![base.join("testdata")];
    let shared = base.join("../../shared/conformance");
    if shared.is_dir() {
        roots.push(shared);
    } else {
        eprintln!(
            "note: {} not found, mutating only testdata",
            shared.display()
        );
    }
    let mut found = Vec::new();
    while let Some(dir) = roots.pop() {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                roots.push(path);
            } else if path.file_name().is_some_and(|n| n == "Dockerfile") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

#[test]
fn mutated_real_dockerfiles_never_panic() {
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    let files = corpus();
    assert!(!files.is_empty());
    for file in files {
        let Ok(text) = fs::read_to_string(&file) else {
            continue;
        };
        let chars: Vec<char> = text.chars().collect();
        for _ in 0..8 {
            let mut mutated = chars.clone();
            for _ in 0..1 + rng.below(6) {
                let at = rng.below(mutated.len() + 1);
                match rng.below(3) {
                    0 if at < mutated.len() => {
                        mutated.remove(at);
                    }
                    _ => {
                        let fragment = rng.pick(FRAGMENTS);
                        for (i, c) in fragment.chars().enumerate() {
                            mutated.insert(at + i, c);
                        }
                    }
                }
            }
            check(&mutated.into_iter().collect::<String>());
        }
    }
}
