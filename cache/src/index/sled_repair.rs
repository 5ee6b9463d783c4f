//! Repairing what a full disk leaves in sled's directory, before sled opens it.
//!
//! sled 0.34 writes a snapshot of its page table only while opening, after replaying the log:
//! to `snap.<lsn>.generating`, then fsync, then a rename to `snap.<lsn>`, then the older
//! snapshots are removed. When the disk is full the write fails and the `.generating` file
//! stays behind, empty or cut short. sled counts it as a snapshot (the newest, as it sorts
//! last), finds it shorter than its trailer or failing its CRC, and refuses to open with `Read
//! corrupted data` — on every later open too, even once space is back.
//!
//! Such a file was never renamed into place, so sled never relied on it: the previous snapshot
//! (or none) and the log are exactly what sled recovers from after a crash at any other moment,
//! and nothing flushed is lost by removing the file. Only `.generating` files that are not a
//! complete snapshot are removed; a complete one (the process died between fsync and rename)
//! is read by sled as it is, and every other file is left alone.

use std::fs;
use std::path::Path;

use crate::error::{Error, Result};

/// sled's snapshot trailer: the uncompressed length (8 bytes) and a CRC-32 (4 bytes).
const TRAILER: usize = 12;

/// Removes unfinished snapshot files from the database directory `path`; returns one sentence
/// per file removed, for the caller to show.
pub(crate) fn remove_unfinished_snapshots(path: &Path) -> Result<Vec<String>> {
    let entries = match fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(path, e)),
    };
    let mut repairs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(path, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !(name.starts_with("snap.") && name.ends_with(".generating")) {
            continue;
        }
        let file = entry.path();
        let bytes = fs::read(&file).map_err(|e| Error::io(&file, e))?;
        if is_complete(&bytes) {
            continue;
        }
        fs::remove_file(&file).map_err(|e| Error::io(&file, e))?;
        repairs.push(format!(
            "index `{}`: removed `{name}` ({} bytes), a snapshot sled could not finish writing \
             (the disk was full); the index was recovered from its log, nothing flushed is lost",
            path.display(),
            bytes.len()
        ));
    }
    Ok(repairs)
}

/// True when `bytes` end with the trailer sled writes last, and the CRC in it matches.
fn is_complete(bytes: &[u8]) -> bool {
    if bytes.len() <= TRAILER {
        return false;
    }
    let (body, trailer) = bytes.split_at(bytes.len() - TRAILER);
    let crc = u32::from_le_bytes(trailer[8..].try_into().expect("4 bytes"));
    crc32fast::hash(body) == crc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(body: &[u8]) -> Vec<u8> {
        let mut bytes = body.to_vec();
        bytes.extend_from_slice(&(body.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
        bytes
    }

    #[test]
    fn only_unfinished_generating_snapshots_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path();
        let complete = snapshot(b"page table");
        let mut cut = complete.clone();
        cut.truncate(complete.len() - 3);
        let mut garbled = complete.clone();
        garbled[0] ^= 1;
        let files: [(&str, &[u8]); 7] = [
            ("snap.0000000000000010.generating", b""),
            ("snap.0000000000000020.generating", &cut),
            ("snap.0000000000000030.generating", &garbled),
            ("snap.0000000000000040.generating", &complete),
            ("snap.0000000000000008", b""),
            ("db", b""),
            ("conf", b"x"),
        ];
        for (name, bytes) in files {
            fs::write(db.join(name), bytes).unwrap();
        }
        let repairs = remove_unfinished_snapshots(db).unwrap();
        assert_eq!(repairs.len(), 3, "{repairs:?}");
        assert!(repairs[0].contains("the disk was full"), "{repairs:?}");
        let mut left: Vec<String> = fs::read_dir(db)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "conf",
                "db",
                "snap.0000000000000008",
                "snap.0000000000000040.generating"
            ]
        );
        assert!(remove_unfinished_snapshots(&db.join("missing"))
            .unwrap()
            .is_empty());
    }
}
