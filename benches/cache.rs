//! Store throughput: putting and reading a 64 MiB blob against plain SHA-256 of the same bytes
//! (goal: put ≥ 70% of SHA-256's speed), index lookups, and file-hash lookups over 50k entries
//! one by one (the per-path index) and from a context root's table (what a build does).
//! The store lives under `target/` (a real disk), not on a tmpfs.

use std::io::{Read, Write};
use std::path::Path;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sha2::{Digest as _, Sha256};
use strata_cache::{Digest, FileHashEntry, FileHashTable, OpenOptions, StepRecord, Store};

fn temp_store() -> (tempfile::TempDir, Store) {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-tmp");
    std::fs::create_dir_all(&base).unwrap();
    let dir = tempfile::tempdir_in(base).unwrap();
    let store = Store::open(dir.path(), &OpenOptions::default()).unwrap();
    (dir, store)
}

fn blobs(c: &mut Criterion) {
    let size = 64 << 20;
    let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
    let (_dir, store) = temp_store();
    let mut group = c.benchmark_group("blob-64MiB");
    group.throughput(Throughput::Bytes(size as u64));
    group.sample_size(10);
    // The reference: SHA-256 of the same bytes, fed in the same 1 MiB chunks.
    group.bench_function("sha256-only", |b| {
        b.iter(|| {
            let mut hasher = Sha256::new();
            for chunk in data.chunks(1 << 20) {
                hasher.update(chunk);
            }
            hasher.finalize()
        })
    });
    // Whole 1 MiB writes (a copy from a file), then 32 KiB writes (what a gzip or zstd encoder
    // hands over), which the writer gathers into 1 MiB before hashing and writing.
    for (name, write_size) in [("put", 1 << 20), ("put-32KiB-writes", 32 << 10)] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    // A new blob each time (a stored one would be skipped): change a byte.
                    let mut variant = data.clone();
                    variant[0] = variant[0].wrapping_add(1);
                    variant
                },
                |bytes| {
                    let mut writer = store.blobs().writer().unwrap();
                    for chunk in bytes.chunks(write_size) {
                        writer.write_all(chunk).unwrap();
                    }
                    let (digest, _) = writer.commit(None).unwrap();
                    store.blobs().remove(&digest).unwrap();
                },
                BatchSize::PerIteration,
            )
        });
    }
    let digest = store.blobs().put(&data).unwrap();
    group.bench_function("get-verified", |b| {
        b.iter(|| {
            // The verifying reader fails at the end if the bytes do not match.
            let mut reader = store.blobs().reader(&digest).unwrap();
            let mut buf = vec![0u8; 1 << 20];
            while reader.read(&mut buf).unwrap() > 0 {}
        })
    });
    group.finish();
}

fn index(c: &mut Criterion) {
    let (_dir, store) = temp_store();
    let keys: Vec<Digest> = (0..10_000u32)
        .map(|i| Digest::of(&i.to_le_bytes()))
        .collect();
    for key in &keys {
        let record = StepRecord {
            diff_id: Some(*key),
            created: 1,
            last_used: 1,
        };
        store.index().put_step(key, &record).unwrap();
    }
    let mut group = c.benchmark_group("index");
    group.throughput(Throughput::Elements(keys.len() as u64));
    group.bench_function("step-lookups-10k", |b| {
        b.iter(|| {
            for key in &keys {
                assert!(store.index().step(key).unwrap().is_some());
            }
        })
    });
    let paths: Vec<Vec<u8>> = (0..50_000u32)
        .map(|i| format!("/ctx/src/module{}/file{}.rs", i / 100, i).into_bytes())
        .collect();
    for (i, path) in paths.iter().enumerate() {
        let entry = FileHashEntry {
            dev: 1,
            ino: i as u64,
            size: 100,
            mtime_ns: 1,
            ctime_ns: 1,
            digest: Digest::of(path),
        };
        store.index().put_file_hash(path, &entry).unwrap();
    }
    group.throughput(Throughput::Elements(paths.len() as u64));
    group.bench_function("file-hash-lookups-50k", |b| {
        b.iter(|| {
            for path in &paths {
                assert!(store.index().file_hash(path).unwrap().is_some());
            }
        })
    });
    // What a build does now: the context root's table in one read (checksum, decode), then a
    // bisection per file.
    let table = FileHashTable::new().merged(
        paths
            .iter()
            .map(|p| {
                (
                    p[b"/ctx/".len()..].to_vec(),
                    store.index().file_hash(p).unwrap().unwrap(),
                )
            })
            .collect(),
    );
    store.index().put_file_hash_table(b"/ctx", &table).unwrap();
    let rel: Vec<&[u8]> = paths.iter().map(|p| &p[b"/ctx/".len()..]).collect();
    group.bench_function("file-hash-table-read-and-bisect-50k", |b| {
        b.iter(|| {
            let table = store.index().file_hash_table(b"/ctx").unwrap();
            for path in &rel {
                assert!(table.get(path).is_some());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, blobs, index);
criterion_main!(benches);
