//! A context root's remembered file digests as one flat table: sorted records, a version, and a
//! checksum, read with one `read` and searched by bisection in place.
//!
//! A no-op rebuild of a big context looks up every file's digest. As per-path database records
//! that is one B-tree scan decoding tens of thousands of pages; as one file per context root it
//! is one read, one checksum and one pass noting where each record starts, and it is written
//! (whole, aside, then renamed) only when a digest was added or changed. A table that fails its
//! checksum or does not decode reads as empty: the files are rehashed and the table rewritten.
//!
//! Version 2 ends with a CRC-32 (the table guards against torn or damaged files, not against
//! someone who can write the store anyway); version 1, still read, ended with a sha256, which
//! took longer to check than the rest of reading the table.

use super::FileHashEntry;
use crate::Digest;

/// `STRATAFH` then the format version, little endian.
const MAGIC: &[u8; 8] = b"STRATAFH";
/// The version written.
const VERSION: u32 = 2;
const HEADER: usize = 8 + 4 + 8;
/// Where the record count sits in the header.
const COUNT_AT: usize = 12;
/// dev, ino, size, mtime, ctime (8 bytes each) and the sha256.
const ENTRY: usize = 72;
/// The smallest record: a path length and an entry (paths are not empty, but need not be).
const MIN_RECORD: usize = 4 + ENTRY;

/// Remembered digests of the files below one context root, keyed by path relative to it.
/// The table is its stored form plus where each record starts: reading one of tens of
/// thousands of files allocates twice, and a lookup decodes only the entry it finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHashTable {
    /// Header, records (`u32` path length, path, entry) sorted by path without duplicates,
    /// checksum.
    stored: Vec<u8>,
    /// Where each record starts in `stored`, in path order.
    starts: Vec<usize>,
}

impl Default for FileHashTable {
    fn default() -> Self {
        Self::new()
    }
}

impl FileHashTable {
    /// An empty table.
    pub fn new() -> Self {
        TableWriter::new(0).finish()
    }

    /// Number of remembered files.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Record `i`'s path and entry bytes (in bounds: checked when the table was read or made).
    fn record(&self, i: usize) -> (&[u8], &[u8]) {
        let start = self.starts[i];
        let len = read_u32(&self.stored[start..]) as usize;
        let path = &self.stored[start + 4..start + 4 + len];
        (path, &self.stored[start + 4 + len..start + 4 + len + ENTRY])
    }

    fn path(&self, i: usize) -> &[u8] {
        self.record(i).0
    }

    fn entry(&self, i: usize) -> Option<FileHashEntry> {
        decode_entry(self.record(i).1)
    }

    /// The entry for `rel`, by bisection.
    pub fn get(&self, rel: &[u8]) -> Option<FileHashEntry> {
        self.get_near(rel, usize::MAX).map(|(_, entry)| entry)
    }

    /// The entry for `rel` and its position. Tried first at `hint` and the record after it
    /// (lookups in walk order mostly ask for the next record), then by bisection.
    pub fn get_near(&self, rel: &[u8], hint: usize) -> Option<(usize, FileHashEntry)> {
        for i in [hint, hint.wrapping_add(1)] {
            if i < self.len() && self.path(i) == rel {
                return Some((i, self.entry(i)?));
            }
        }
        let (mut low, mut high) = (0, self.len());
        while low < high {
            let mid = low + (high - low) / 2;
            match self.path(mid).cmp(rel) {
                std::cmp::Ordering::Less => low = mid + 1,
                std::cmp::Ordering::Greater => high = mid,
                std::cmp::Ordering::Equal => return Some((mid, self.entry(mid)?)),
            }
        }
        None
    }

    /// Every entry, sorted by path.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], FileHashEntry)> {
        (0..self.len()).filter_map(|i| Some((self.path(i), self.entry(i)?)))
    }

    /// This table with `updates` added, replacing entries of the same path.
    pub fn merged(&self, mut updates: Vec<(Vec<u8>, FileHashEntry)>) -> FileHashTable {
        // A stable sort keeps a path's updates in order; the last one wins.
        updates.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out = TableWriter::new(self.stored.len() + updates.len() * (MIN_RECORD + 32));
        let mut old = (0..self.len()).map(|i| self.record(i)).peekable();
        let mut updates = updates.into_iter().peekable();
        while let Some((path, entry)) = updates.next() {
            if updates.peek().is_some_and(|(next, _)| *next == path) {
                continue;
            }
            while let Some((p, e)) = old.next_if(|(p, _)| *p < path.as_slice()) {
                out.push(p, e);
            }
            old.next_if(|(p, _)| *p == path.as_slice());
            out.push(&path, &encode_entry(&entry));
        }
        for (p, e) in old {
            out.push(p, e);
        }
        out.finish()
    }

    /// Whether the table was read in an older format: worth rewriting even when unchanged,
    /// so later reads take the faster check.
    pub fn is_outdated(&self) -> bool {
        self.stored[8..12] != VERSION.to_le_bytes()
    }

    /// The stored form: header, records, checksum.
    pub fn stored(&self) -> &[u8] {
        &self.stored
    }

    /// Reads a stored form (version 2, or 1); `None` if the checksum, the version or the
    /// order does not hold (the caller then starts from an empty table).
    pub fn decode_checked(stored: Vec<u8>) -> Option<FileHashTable> {
        if stored.get(..8)? != MAGIC {
            return None;
        }
        let version = read_u32(stored.get(8..12)?);
        let checksum_len = match version {
            2 => 4,
            1 => 32,
            _ => return None,
        };
        let body_len = stored.len().checked_sub(checksum_len)?;
        let (body, checksum) = stored.split_at(body_len);
        let intact = match version {
            2 => crc32fast::hash(body).to_le_bytes() == checksum,
            _ => Digest::of(body).bytes() == checksum,
        };
        if !intact || body.len() < HEADER {
            return None;
        }
        let count = u64::from_le_bytes(body[COUNT_AT..HEADER].try_into().ok()?);
        // A bad count cannot over-allocate: each record takes at least `MIN_RECORD` bytes.
        let capacity = (count as usize).min((body.len() - HEADER) / MIN_RECORD);
        let mut starts = Vec::with_capacity(capacity);
        let mut at = HEADER;
        let mut previous: Option<&[u8]> = None;
        while at < body.len() {
            let len = read_u32(body.get(at..at + 4)?) as usize;
            let path = body.get(at + 4..at + 4 + len)?;
            body.get(at + 4 + len..at + 4 + len + ENTRY)?;
            if previous.is_some_and(|previous| previous >= path) {
                return None;
            }
            previous = Some(path);
            starts.push(at);
            at += 4 + len + ENTRY;
        }
        (starts.len() as u64 == count).then_some(FileHashTable { stored, starts })
    }
}

/// Writes a table's stored form record by record (in path order), then the count and checksum.
struct TableWriter {
    stored: Vec<u8>,
    starts: Vec<usize>,
}

impl TableWriter {
    fn new(capacity: usize) -> Self {
        let mut stored = Vec::with_capacity(HEADER + capacity + 4);
        stored.extend_from_slice(MAGIC);
        stored.extend_from_slice(&VERSION.to_le_bytes());
        stored.extend_from_slice(&0u64.to_le_bytes());
        TableWriter {
            stored,
            starts: Vec::new(),
        }
    }

    fn push(&mut self, path: &[u8], entry: &[u8]) {
        self.starts.push(self.stored.len());
        self.stored
            .extend_from_slice(&(path.len() as u32).to_le_bytes());
        self.stored.extend_from_slice(path);
        self.stored.extend_from_slice(entry);
    }

    fn finish(mut self) -> FileHashTable {
        let count = self.starts.len() as u64;
        self.stored[COUNT_AT..HEADER].copy_from_slice(&count.to_le_bytes());
        let sum = crc32fast::hash(&self.stored);
        self.stored.extend_from_slice(&sum.to_le_bytes());
        FileHashTable {
            stored: self.stored,
            starts: self.starts,
        }
    }
}

fn read_u32(bytes: &[u8]) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[..4]);
    u32::from_le_bytes(word)
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
        let back = FileHashTable::decode_checked(table.stored().to_vec()).unwrap();
        assert_eq!(back, table);
        assert_eq!(back.get(b"b/x"), Some(entry(2)));
        assert_eq!(back.get(b"b"), None);
        assert_eq!(back.len(), 3);
        assert_eq!(back.get_near(b"c", 1), Some((2, entry(3))));
        assert_eq!(back.get_near(b"a", 2), Some((0, entry(1))));
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
        assert_eq!(merged.get(b"b/x"), Some(entry(9)));
        assert_eq!(merged.get(b"d"), Some(entry(6)));
        assert_eq!(merged.get(b"a"), Some(entry(1)));
    }

    #[test]
    fn corruption_truncation_and_other_versions_read_as_nothing() {
        let bytes = table().stored().to_vec();
        let mut flipped = bytes.clone();
        flipped[HEADER + 5] ^= 1;
        assert_eq!(FileHashTable::decode_checked(flipped), None);
        assert_eq!(
            FileHashTable::decode_checked(bytes[..bytes.len() - 1].to_vec()),
            None
        );
        assert_eq!(FileHashTable::decode_checked(Vec::new()), None);
        let mut newer = bytes[..bytes.len() - 4].to_vec();
        newer[8] = 3;
        let sum = crc32fast::hash(&newer);
        newer.extend_from_slice(&sum.to_le_bytes());
        assert_eq!(FileHashTable::decode_checked(newer), None);
    }

    #[test]
    fn version_one_tables_are_still_read() {
        // Version 1: the same header and records, then a sha256 of them.
        let current = table();
        let body = &current.stored()[..current.stored().len() - 4];
        let mut v1 = body.to_vec();
        v1[8..12].copy_from_slice(&1u32.to_le_bytes());
        let sum = Digest::of(&v1);
        v1.extend_from_slice(sum.bytes());
        let read = FileHashTable::decode_checked(v1).unwrap();
        assert_eq!(read.len(), 3);
        assert_eq!(read.get(b"b/x"), Some(entry(2)));
        assert!(read.is_outdated());
        assert!(!current.is_outdated());
        assert_eq!(read.merged(Vec::new()), current, "rewritten as version 2");
    }

    #[test]
    fn an_empty_table_is_a_valid_stored_form() {
        let empty = FileHashTable::new();
        assert_eq!(
            FileHashTable::decode_checked(empty.stored().to_vec()),
            Some(FileHashTable::new())
        );
        assert_eq!(empty.get(b"a"), None);
    }
}
