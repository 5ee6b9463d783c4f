//! One behaviour suite for every [`Index`] implementation (as BuildKit's
//! `cachestorage_testsuite.go`): each case is a function over `&dyn Index`, and `suite!`
//! instantiates every case for one implementation from a constructor expression that yields
//! `(guard, index)` (the guard keeps a temp dir alive). A new implementation adds one `suite!`
//! line; a new behaviour adds one function and one line in the macro.

use std::collections::BTreeMap;

use super::*;

fn d(n: u8) -> Digest {
    Digest::from_bytes([n; 32])
}

/// A file-hash entry whose fields are plain small numbers and whose digest is `d(n)`.
fn file_entry(n: u8) -> FileHashEntry {
    FileHashEntry {
        dev: 1,
        ino: n.into(),
        size: 2,
        mtime_ns: 3,
        ctime_ns: 4,
        digest: d(n),
    }
}

fn steps_roundtrip_and_remove(index: &dyn Index) {
    assert_eq!(index.step(&d(1)).unwrap(), None);
    let record = StepRecord {
        diff_id: Some(d(9)),
        created: 10,
        last_used: 20,
    };
    index.put_step(&d(1), &record).unwrap();
    index
        .put_step(
            &d(2),
            &StepRecord {
                diff_id: None,
                created: 1,
                last_used: 1,
            },
        )
        .unwrap();
    assert_eq!(index.step(&d(1)).unwrap(), Some(record));
    assert_eq!(index.steps().unwrap().len(), 2);
    index.remove_step(&d(1)).unwrap();
    assert_eq!(index.step(&d(1)).unwrap(), None);
    assert_eq!(index.steps().unwrap().len(), 1);
}

fn layers_keep_their_compressed_forms(index: &dyn Index) {
    let mut record = LayerRecord {
        diff_id: d(3),
        size: 1024,
        blobs: BTreeMap::new(),
        created: 5,
        source_date_epoch: None,
    };
    index.put_layer(&record).unwrap();
    record.blobs.insert(
        "gzip".into(),
        BlobRef {
            digest: d(4),
            size: 100,
        },
    );
    index.put_layer(&record).unwrap();
    assert_eq!(index.layer(&d(3)).unwrap(), Some(record.clone()));
    assert_eq!(index.layers().unwrap(), vec![record]);
    index.remove_layer(&d(3)).unwrap();
    assert!(index.layers().unwrap().is_empty());
}

fn tags_point_at_manifests(index: &dyn Index) {
    index.put_tag("b:latest", &d(1)).unwrap();
    index.put_tag("a:1", &d(2)).unwrap();
    index.put_tag("a:1", &d(3)).unwrap();
    assert_eq!(index.tag("a:1").unwrap(), Some(d(3)));
    let names: Vec<String> = index.tags().unwrap().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["a:1", "b:latest"]);
    assert!(index.remove_tag("a:1").unwrap());
    assert!(!index.remove_tag("a:1").unwrap());
    assert_eq!(index.tag("a:1").unwrap(), None);
}

fn file_hashes_remember_stats(index: &dyn Index) {
    let entry = FileHashEntry {
        dev: 1,
        ino: 2,
        size: 3,
        mtime_ns: -4,
        ctime_ns: 5,
        digest: d(6),
    };
    index.put_file_hash(b"/ctx/a", &entry).unwrap();
    assert_eq!(index.file_hash(b"/ctx/a").unwrap(), Some(entry));
    assert_eq!(index.file_hash(b"/ctx/b").unwrap(), None);
    assert_eq!(index.file_hash_count().unwrap(), 1);
    index.clear_file_hashes().unwrap();
    assert_eq!(index.file_hash_count().unwrap(), 0);
    index.flush().unwrap();
}

fn overwriting_replaces_and_listing_pairs_keys_with_records(index: &dyn Index) {
    assert!(index.steps().unwrap().is_empty());
    assert!(index.layers().unwrap().is_empty());
    assert!(index.tags().unwrap().is_empty());
    for n in 1..=3u8 {
        let record = StepRecord {
            diff_id: Some(d(n + 10)),
            created: n.into(),
            last_used: n.into(),
        };
        index.put_step(&d(n), &record).unwrap();
    }
    // The builder touches `last_used` on every hit by writing the record again.
    let touched = StepRecord {
        diff_id: Some(d(12)),
        created: 2,
        last_used: 99,
    };
    index.put_step(&d(2), &touched).unwrap();
    let mut steps = index.steps().unwrap();
    steps.sort_by_key(|(k, _)| *k);
    assert_eq!(steps.len(), 3);
    for (key, record) in &steps {
        assert_eq!(
            record.diff_id,
            Some(Digest::from_bytes([key.bytes()[0] + 10; 32]))
        );
    }
    assert_eq!(steps[1], (d(2), touched));
    // Removing what is not there is fine.
    index.remove_step(&d(42)).unwrap();
    index.remove_layer(&d(42)).unwrap();
    assert_eq!(index.layer(&d(42)).unwrap(), None);
}

fn tag_names_are_kept_exactly(index: &dyn Index) {
    let names = [
        "localhost:5000/team/app:v1.2.3",
        "docker.io/library/busybox:latest",
        "app:ünïcode",
        "a",
    ];
    for (i, name) in names.iter().enumerate() {
        index.put_tag(name, &d(i as u8)).unwrap();
    }
    for (i, name) in names.iter().enumerate() {
        assert_eq!(index.tag(name).unwrap(), Some(d(i as u8)), "{name}");
    }
    let listed: Vec<String> = index.tags().unwrap().into_iter().map(|(n, _)| n).collect();
    let mut sorted: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    sorted.sort();
    assert_eq!(listed, sorted);
    assert_eq!(index.tag("app").unwrap(), None, "no prefix matching");
}

fn file_hash_keys_are_bytes_and_entries_replace(index: &dyn Index) {
    let entry = |n: u8| FileHashEntry {
        dev: u64::MAX,
        ino: n.into(),
        size: 0,
        mtime_ns: i64::MIN,
        ctime_ns: i64::MAX,
        digest: d(n),
    };
    let odd_path: &[u8] = b"/ctx/\xff\xfe not utf-8";
    index.put_file_hash(odd_path, &entry(1)).unwrap();
    index.put_file_hash(b"/ctx/a", &entry(2)).unwrap();
    index.put_file_hash(b"/ctx/a", &entry(3)).unwrap();
    assert_eq!(index.file_hash(odd_path).unwrap(), Some(entry(1)));
    assert_eq!(index.file_hash(b"/ctx/a").unwrap(), Some(entry(3)));
    assert_eq!(index.file_hash(b"/ctx/").unwrap(), None);
    assert_eq!(index.file_hash_count().unwrap(), 2);
}

fn threads_write_at_once_and_nothing_is_lost(index: &dyn Index) {
    std::thread::scope(|scope| {
        for t in 0..4u8 {
            scope.spawn(move || {
                for i in 0..50u8 {
                    let key = Digest::from_bytes([t * 64 + i; 32]);
                    let record = StepRecord {
                        diff_id: None,
                        created: t.into(),
                        last_used: i.into(),
                    };
                    index.put_step(&key, &record).unwrap();
                    assert_eq!(index.step(&key).unwrap(), Some(record));
                }
            });
        }
    });
    assert_eq!(index.steps().unwrap().len(), 200);
}

fn file_hash_tables_are_per_root_counted_and_cleared(index: &dyn Index) {
    assert!(index.file_hash_table(b"/ctx").unwrap().is_empty());
    let table = FileHashTable::new().merged(vec![
        (b"a".to_vec(), file_entry(1)),
        (b"b/c".to_vec(), file_entry(2)),
    ]);
    index.put_file_hash_table(b"/ctx", &table).unwrap();
    index.put_file_hash(b"/other/x", &file_entry(3)).unwrap();
    assert_eq!(index.file_hash_table(b"/ctx").unwrap(), table);
    assert!(index.file_hash_table(b"/ctx2").unwrap().is_empty());
    assert_eq!(index.file_hash_count().unwrap(), 3);
    let replaced = table.merged(vec![(b"a".to_vec(), file_entry(4))]);
    index.put_file_hash_table(b"/ctx", &replaced).unwrap();
    assert_eq!(
        index.file_hash_table(b"/ctx").unwrap().get(b"a"),
        Some(file_entry(4))
    );
    index.clear_file_hashes().unwrap();
    assert!(index.file_hash_table(b"/ctx").unwrap().is_empty());
    assert_eq!(index.file_hash_count().unwrap(), 0);
}

fn copy_records_roundtrip_and_clear(index: &dyn Index) {
    assert_eq!(index.copy_record(&d(1)).unwrap(), None);
    let record = CopyRecord {
        diff_id: d(2),
        files: vec![(b"src/a".to_vec(), d(3)), (b"\xff/b".to_vec(), d(4))],
    };
    index.put_copy_record(&d(1), &record).unwrap();
    assert_eq!(index.copy_record(&d(1)).unwrap(), Some(record));
    let empty = CopyRecord {
        diff_id: d(5),
        files: Vec::new(),
    };
    index.put_copy_record(&d(1), &empty).unwrap();
    assert_eq!(index.copy_record(&d(1)).unwrap(), Some(empty));
    index.clear_copy_records().unwrap();
    assert_eq!(index.copy_record(&d(1)).unwrap(), None);
}

macro_rules! suite {
    ($module:ident, $make:expr) => {
        mod $module {
            use super::*;
            #[test]
            fn steps() {
                let (_guard, index) = $make;
                steps_roundtrip_and_remove(&index);
            }
            #[test]
            fn layers() {
                let (_guard, index) = $make;
                layers_keep_their_compressed_forms(&index);
            }
            #[test]
            fn tags() {
                let (_guard, index) = $make;
                tags_point_at_manifests(&index);
            }
            #[test]
            fn file_hashes() {
                let (_guard, index) = $make;
                file_hashes_remember_stats(&index);
            }
            #[test]
            fn overwrites_and_listings() {
                let (_guard, index) = $make;
                overwriting_replaces_and_listing_pairs_keys_with_records(&index);
            }
            #[test]
            fn tag_names() {
                let (_guard, index) = $make;
                tag_names_are_kept_exactly(&index);
            }
            #[test]
            fn file_hash_keys() {
                let (_guard, index) = $make;
                file_hash_keys_are_bytes_and_entries_replace(&index);
            }
            #[test]
            fn file_hash_tables() {
                let (_guard, index) = $make;
                file_hash_tables_are_per_root_counted_and_cleared(&index);
            }
            #[test]
            fn copy_records() {
                let (_guard, index) = $make;
                copy_records_roundtrip_and_clear(&index);
            }
            #[test]
            fn concurrent_writers() {
                let (_guard, index) = $make;
                threads_write_at_once_and_nothing_is_lost(&index);
            }
        }
    };
}

suite!(memory, ((), MemoryIndex::new()));
suite!(sled, {
    let dir = tempfile::tempdir().unwrap();
    let index = SledIndex::open(&dir.path().join("index")).unwrap();
    (dir, index)
});

#[test]
fn copy_records_refuse_truncated_bytes() {
    let record = CopyRecord {
        diff_id: d(2),
        files: vec![(b"a/b".to_vec(), d(3))],
    };
    let bytes = record.encode();
    assert_eq!(CopyRecord::decode(&bytes), Some(record.clone()));
    for cut in [0, 31, 33, 38, bytes.len() - 1] {
        assert_eq!(CopyRecord::decode(&bytes[..cut]), None, "cut at {cut}");
    }
    let checked = record.encode_checked();
    assert_eq!(CopyRecord::decode_checked(&checked), Some(record));
    // Truncated at an entry boundary the body still decodes: the checksum refuses it.
    assert_eq!(
        CopyRecord::decode_checked(&checked[..checked.len() - 1]),
        None
    );
    let mut flipped = checked.clone();
    flipped[40] ^= 1;
    assert_eq!(CopyRecord::decode_checked(&flipped), None);
    assert_eq!(CopyRecord::decode_checked(&[]), None);
}

#[test]
fn sled_copy_records_are_files_beside_the_database_and_a_damaged_one_reads_as_absent() {
    let dir = tempfile::tempdir().unwrap();
    let index = SledIndex::open(&dir.path().join("index")).unwrap();
    let record = CopyRecord {
        diff_id: d(2),
        files: vec![(b"a".to_vec(), d(3))],
    };
    index.put_copy_record(&d(1), &record).unwrap();
    let file = dir.path().join("copies-v1").join(d(1).hex());
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[33] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();
    assert_eq!(index.copy_record(&d(1)).unwrap(), None);
    index.clear_copy_records().unwrap();
    assert!(!dir.path().join("copies-v1").exists());
    index.clear_copy_records().unwrap();
}

#[test]
fn sled_records_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let index = SledIndex::open(&dir.path().join("index")).unwrap();
        index.put_tag("x:1", &d(7)).unwrap();
        index.flush().unwrap();
    }
    let index = SledIndex::open(&dir.path().join("index")).unwrap();
    assert_eq!(index.tag("x:1").unwrap(), Some(d(7)));
}
