//! A context root's remembered file digests as one flat table: sorted records, a version, and a
//! checksum, read with one `read` and searched by bisection.
//!
//! A no-op rebuild of a big context looks up every file's digest. As per-path database records
//! that is one B-tree scan decoding tens of thousands of pages; as one file per context root it
//! is one read and one checksum, and it is written (whole, aside, then renamed) only when a
//! digest was added or changed. A table that fails its checksum or does not decode reads as
//! empty: the files are rehashed and the table rewritten.

use super::FileHashEntry;
use crate::Digest;

/// `STRATAFH` then the format version, little endian.
const MAGIC: &[u8; 8] = b"STRATAFH";
const VERSION: u32 = 1;
const HEADER: usize = 8 + 4 + 8;
/// dev, ino, size, mtime, ctime (8 bytes each) and the sha256.
const ENTRY: usize = 72;

/// Remembered digests of the files below one context root, keyed by path relative to it.
/// Paths sit back to back in one buffer: decoding a table of tens of thousands of files makes
/// three allocations, not one per file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileHashTable {
    /// Every path, concatenated in record order.
    paths: Vec<u8>,
    /// Where each record's path ends in `paths` (it starts where the previous one ends).
    ends: Vec<usize>,
    /// Each record's entry. Records are sorted by path bytes, without duplicates.
    entries: Vec<FileHashEntry>,
}

impl FileHashTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of remembered files.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn path(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.paths[start..self.ends[i]]
    }

    /// The entry for `rel`, by bisection.
    pub fn get(&self, rel: &[u8]) -> Option<&FileHashEntry> {
        self.get_near(rel, usize::MAX).map(|(_, entry)| entry)
    }

    /// The entry for `rel` and its position. Tried first at `hint` and the record after it
    /// (lookups in walk order mostly ask for the next record), then by bisection.
    pub fn get_near(&self, rel: &[u8], hint: usize) -> Option<(usize, &FileHashEntry)> {
        for i in [hint, hint.wrapping_add(1)] {
            if i < self.len() && self.path(i) == rel {
                return Some((i, &self.entries[i]));
            }
        }
        let (mut low, mut high) = (0, self.len());
        while low < high {
            let mid = low + (high - low) / 2;
            match self.path(mid).cmp(rel) {
                std::cmp::Ordering::Less => low = mid + 1,
                std::cmp::Ordering::Greater => high = mid,
                std::cmp::Ordering::Equal => return Some((mid, &self.entries[mid])),
            }
        }
        None
    }

    /// Every entry, sorted by path.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &FileHashEntry)> {
        (0..self.len()).map(|i| (self.path(i), &self.entries[i]))
    }

    fn push(&mut self, path: &[u8], entry: FileHashEntry) {
        self.paths.extend_from_slice(path);
        self.ends.push(self.paths.len());
        self.entries.push(entry);
    }

    /// This table with `updates` added, replacing entries of the same path.
    pub fn merged(&self, mut updates: Vec<(Vec<u8>, FileHashEntry)>) -> FileHashTable {
        // A stable sort keeps a path's updates in order; the last one wins.
        updates.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out = FileHashTable {
            paths: Vec::with_capacity(self.paths.len()),
            ends: Vec::with_capacity(self.len() + updates.len()),
            entries: Vec::with_capacity(self.len() + updates.len()),
        };
        let mut old = self.iter().peekable();
        let mut updates = updates.into_iter().peekable();
        while let Some((path, entry)) = updates.next() {
            if updates.peek().is_some_and(|(next, _)| *next == path) {
                continue;
            }
            while let Some((p, e)) = old.next_if(|(p, _)| *p < path.as_slice()) {
                out.push(p, *e);
            }
            old.next_if(|(p, _)| *p == path.as_slice());
            out.push(&path, entry);
        }
        for (p, e) in old {
            out.push(p, *e);
        }
        out
    }

    /// The stored form: header, records (`u32` path length, path, entry), sha256 of it all.
    pub fn encode_checked(&self) -> Vec<u8> {
        let size = self.paths.len() + self.len() * (4 + ENTRY);
        let mut out = Vec::with_capacity(HEADER + size + 32);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(self.len() as u64).to_le_bytes());
        for (path, entry) in self.iter() {
            out.extend_from_slice(&(path.len() as u32).to_le_bytes());
            out.extend_from_slice(path);
            out.extend_from_slice(&encode_entry(entry));
        }
        let sum = Digest::of(&out);
        out.extend_from_slice(sum.bytes());
        out
    }

    /// Reads [`FileHashTable::encode_checked`]'s form; `None` if the checksum, the version or
    /// the order does not hold (the caller then starts from an empty table).
    pub fn decode_checked(bytes: &[u8]) -> Option<FileHashTable> {
        let body = bytes.get(..bytes.len().checked_sub(32)?)?;
        if Digest::of(body).bytes() != &bytes[body.len()..] {
            return None;
        }
        if body.get(..8)? != MAGIC
            || u32::from_le_bytes(body.get(8..12)?.try_into().ok()?) != VERSION
        {
            return None;
        }
        let count = u64::from_le_bytes(body.get(12..HEADER)?.try_into().ok()?);
        let mut rest = &body[HEADER..];
        // Each record takes at least `4 + ENTRY` bytes: a bad count cannot over-allocate.
        let capacity = (count as usize).min(rest.len() / (4 + ENTRY));
        let mut table = FileHashTable {
            paths: Vec::with_capacity(rest.len().saturating_sub(capacity * (4 + ENTRY))),
            ends: Vec::with_capacity(capacity),
            entries: Vec::with_capacity(capacity),
        };
        let mut previous: Option<&[u8]> = None;
        while !rest.is_empty() {
            let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
            let path = rest.get(4..4 + len)?;
            let entry = decode_entry(rest.get(4 + len..4 + len + ENTRY)?)?;
            if previous.is_some_and(|previous| previous >= path) {
                return None;
            }
            previous = Some(path);
            table.push(path, entry);
            rest = &rest[4 + len + ENTRY..];
        }
        (table.len() as u64 == count).then_some(table)
    }
}

/// The 72-byte form of an entry (also the database tree's value format).
pub(crate) fn encode_entry(entry: &FileHashEntry) -> [u8; ENTRY] {
    let mut out = [0u8; ENTRY];
    out[0..8].copy_from_slice(&entry.dev.to_le_bytes());
    out[8..16].copy_from_slice(&entry.ino.to_le_bytes());
    out[16..24].copy_from_slice(&entry.size.to_le_bytes());
    out[24..32].copy_from_slice(&entry.mtime_ns.to_le_bytes());
    out[32..40].copy_from_slice(&entry.ctime_ns.to_le_bytes());
    out[40..72].copy_from_slice(entry.digest.bytes());
    out
}

/// Reads [`encode_entry`]'s form; `None` if it is not 72 bytes.
pub(crate) fn decode_entry(bytes: &[u8]) -> Option<FileHashEntry> {
    let bytes: &[u8; ENTRY] = bytes.try_into().ok()?;
    let u = |at: usize| {
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(word)
    };
    let mut digest = [0u8; 32];
    digest.copy_from_slice(&bytes[40..72]);
    Some(FileHashEntry {
        dev: u(0),
        ino: u(8),
        size: u(16),
        mtime_ns: u(24) as i64,
        ctime_ns: u(32) as i64,
        digest: Digest::from_bytes(digest),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u64) -> FileHashEntry {
        FileHashEntry {
            dev: 1,
            ino: n,
            size: n * 10,
            mtime_ns: n as i64,
            ctime_ns: -(n as i64),
            digest: Digest::of(&n.to_le_bytes()),
        }
    }

    fn table() -> FileHashTable {
        FileHashTable::new().merged(vec![
            (b"b/x".to_vec(), entry(2)),
            (b"a".to_vec(), entry(1)),
            (b"c".to_vec(), entry(3)),
        ])
    }

    #[test]
    fn round_trips_and_looks_up() {
        let table = table();
        let back = FileHashTable::decode_checked(&table.encode_checked()).unwrap();
        assert_eq!(back, table);
        assert_eq!(back.get(b"b/x"), Some(&entry(2)));
        assert_eq!(back.get(b"b"), None);
        assert_eq!(back.len(), 3);
        assert_eq!(back.get_near(b"c", 1), Some((2, &entry(3))));
        assert_eq!(back.get_near(b"a", 2), Some((0, &entry(1))));
        assert_eq!(back.get_near(b"z", 7), None);
        assert_eq!(FileHashTable::new().get_near(b"a", 0), None);
    }

    #[test]
    fn merging_replaces_and_keeps_order() {
        let merged = table().merged(vec![
            (b"b/x".to_vec(), entry(9)),
            (b"0".to_vec(), entry(4)),
            (b"d".to_vec(), entry(5)),
            (b"d".to_vec(), entry(6)),
        ]);
        let paths: Vec<&[u8]> = merged.iter().map(|(p, _)| p).collect();
        assert_eq!(paths, [&b"0"[..], b"a", b"b/x", b"c", b"d"]);
        assert_eq!(merged.get(b"b/x"), Some(&entry(9)));
        assert_eq!(merged.get(b"d"), Some(&entry(6)));
    }

    #[test]
    fn corruption_truncation_and_other_versions_read_as_nothing() {
        let bytes = table().encode_checked();
        let mut flipped = bytes.clone();
        flipped[HEADER + 5] ^= 1;
        assert_eq!(FileHashTable::decode_checked(&flipped), None);
        assert_eq!(
            FileHashTable::decode_checked(&bytes[..bytes.len() - 1]),
            None
        );
        assert_eq!(FileHashTable::decode_checked(&[]), None);
        let mut newer = bytes[..bytes.len() - 32].to_vec();
        newer[8] = 2;
        let sum = Digest::of(&newer);
        newer.extend_from_slice(sum.bytes());
        assert_eq!(FileHashTable::decode_checked(&newer), None);
    }
}
