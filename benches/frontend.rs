//! Frontend throughput: parse + instruction validation + graph compilation over the 152
//! official-image Dockerfiles in `../shared/conformance/docker-library` (skipped when absent).

use std::fs;
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use strata_frontend::{compile, instructions, parser, BuildOptions, UnknownBaseImages};

fn dockerfiles() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/docker-library");
    let mut pending = vec![root];
    let mut found: Vec<PathBuf> = Vec::new();
    while let Some(dir) = pending.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.file_name().is_some_and(|n| n == "Dockerfile") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
        .iter()
        .map(|p| fs::read_to_string(p).unwrap())
        .collect()
}

fn frontend(c: &mut Criterion) {
    let files = dockerfiles();
    if files.is_empty() {
        eprintln!("skipping: ../shared/conformance/docker-library not found");
        return;
    }
    let mut group = c.benchmark_group("frontend");
    group.throughput(Throughput::Elements(files.len() as u64));
    group.bench_function("parse", |b| {
        b.iter(|| {
            for text in &files {
                std::hint::black_box(parser::parse(text).unwrap());
            }
        })
    });
    group.bench_function("parse+instructions", |b| {
        b.iter(|| {
            for text in &files {
                let ast = parser::parse(text).unwrap();
                std::hint::black_box(instructions::parse_all(&ast.nodes).unwrap());
            }
        })
    });
    let options = BuildOptions::default();
    group.bench_function("parse+graph", |b| {
        b.iter(|| {
            for text in &files {
                let ast = parser::parse(text).unwrap();
                std::hint::black_box(compile(&ast, &options, &UnknownBaseImages).unwrap());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, frontend);
criterion_main!(benches);
