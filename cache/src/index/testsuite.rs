//! One behaviour suite for every [`Index`] implementation (as BuildKit's
//! `cachestorage_testsuite.go`): each test takes a fresh index from a constructor.

use std::collections::BTreeMap;

use super::*;

fn d(n: u8) -> Digest {
    Digest::from_bytes([n; 32])
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
