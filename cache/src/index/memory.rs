//! An in-memory [`Index`]: for tests of code above the store, and the reference the sled
//! implementation is tested against.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{CopyRecord, FileHashEntry, FileHashTable, Index, LayerRecord, StepRecord};
use crate::digest::Digest;
use crate::error::Result;

/// An index that lives and dies with the process.
#[derive(Debug, Default)]
pub struct MemoryIndex {
    inner: Mutex<Maps>,
}

#[derive(Debug, Default)]
struct Maps {
    steps: BTreeMap<Digest, StepRecord>,
    layers: BTreeMap<Digest, LayerRecord>,
    tags: BTreeMap<String, Digest>,
    files: BTreeMap<Vec<u8>, FileHashEntry>,
    file_tables: BTreeMap<Vec<u8>, FileHashTable>,
    copies: BTreeMap<Digest, CopyRecord>,
}

impl MemoryIndex {
    /// An empty index.
    pub fn new() -> Self {
        MemoryIndex::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Maps) -> T) -> Result<T> {
        let mut maps = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        Ok(f(&mut maps))
    }
}

impl Index for MemoryIndex {
    fn step(&self, key: &Digest) -> Result<Option<StepRecord>> {
        self.with(|m| m.steps.get(key).cloned())
    }
    fn put_step(&self, key: &Digest, record: &StepRecord) -> Result<()> {
        self.with(|m| {
            m.steps.insert(*key, record.clone());
        })
    }
    fn remove_step(&self, key: &Digest) -> Result<()> {
        self.with(|m| {
            m.steps.remove(key);
        })
    }
    fn steps(&self) -> Result<Vec<(Digest, StepRecord)>> {
        self.with(|m| m.steps.iter().map(|(k, v)| (*k, v.clone())).collect())
    }
    fn layer(&self, diff_id: &Digest) -> Result<Option<LayerRecord>> {
        self.with(|m| m.layers.get(diff_id).cloned())
    }
    fn put_layer(&self, record: &LayerRecord) -> Result<()> {
        self.with(|m| {
            m.layers.insert(record.diff_id, record.clone());
        })
    }
    fn remove_layer(&self, diff_id: &Digest) -> Result<()> {
        self.with(|m| {
            m.layers.remove(diff_id);
        })
    }
    fn layers(&self) -> Result<Vec<LayerRecord>> {
        self.with(|m| m.layers.values().cloned().collect())
    }
    fn tag(&self, name: &str) -> Result<Option<Digest>> {
        self.with(|m| m.tags.get(name).copied())
    }
    fn put_tag(&self, name: &str, manifest: &Digest) -> Result<()> {
        self.with(|m| {
            m.tags.insert(name.to_string(), *manifest);
        })
    }
    fn remove_tag(&self, name: &str) -> Result<bool> {
        self.with(|m| m.tags.remove(name).is_some())
    }
    fn tags(&self) -> Result<Vec<(String, Digest)>> {
        self.with(|m| m.tags.iter().map(|(k, v)| (k.clone(), *v)).collect())
    }
    fn file_hash(&self, path: &[u8]) -> Result<Option<FileHashEntry>> {
        self.with(|m| m.files.get(path).copied())
    }
    fn put_file_hash(&self, path: &[u8], entry: &FileHashEntry) -> Result<()> {
        self.with(|m| {
            m.files.insert(path.to_vec(), *entry);
        })
    }
    fn file_hash_table(&self, root: &[u8]) -> Result<FileHashTable> {
        self.with(|m| m.file_tables.get(root).cloned().unwrap_or_default())
    }
    fn put_file_hash_table(&self, root: &[u8], table: &FileHashTable) -> Result<()> {
        self.with(|m| {
            m.file_tables.insert(root.to_vec(), table.clone());
        })
    }
    fn file_hash_count(&self) -> Result<usize> {
        self.with(|m| {
            m.files.len()
                + m.file_tables
                    .values()
                    .map(FileHashTable::len)
                    .sum::<usize>()
        })
    }
    fn clear_file_hashes(&self) -> Result<()> {
        self.with(|m| {
            m.files.clear();
            m.file_tables.clear();
        })
    }
    fn copy_record(&self, lineage: &Digest) -> Result<Option<CopyRecord>> {
        self.with(|m| m.copies.get(lineage).cloned())
    }
    fn put_copy_record(&self, lineage: &Digest, record: &CopyRecord) -> Result<()> {
        self.with(|m| {
            m.copies.insert(*lineage, record.clone());
        })
    }
    fn clear_copy_records(&self) -> Result<()> {
        self.with(|m| m.copies.clear())
    }
    fn flush(&self) -> Result<()> {
        Ok(())
    }
}
