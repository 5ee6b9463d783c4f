//! What a load checks instead of unpacking. Layers the store already has are known by every
//! digest a stream of them can have ([`KnownLayers`]); their bytes in an archive are only
//! hashed, on other threads ([`Background`]) so that a repeat load hashes on every core while
//! the archive is read on. From a file, an entry can be read a second time ([`Reread`]) when
//! it turns out to be new rather than copied aside in case it is.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs::File;
use std::io::{self, Read, Seek};
use std::os::unix::fs::FileExt;
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender};
use std::thread::{Scope, ScopedJoinHandle};

use strata_cache::{Digest, Hasher, Store};

use crate::error::Result;

/// What the store has unpacked already, by every digest a stream of it may have: its DiffID
/// and the compressed blobs recorded for it. Only digests verified when the layer was stored
/// are here (a DiffID is what its snapshot was unpacked from or written as; a blob was
/// recorded after its DiffID was checked).
pub(super) struct KnownLayers {
    /// Digest → DiffID.
    by_digest: BTreeMap<Digest, Digest>,
    /// Their sizes, to guess which entries of an archive that does not name its files by
    /// digest (docker's legacy `<id>/layer.tar`) are worth only hashing first.
    pub sizes: BTreeSet<u64>,
}

impl KnownLayers {
    pub(super) fn of(store: &Store) -> Result<KnownLayers> {
        let mut known = KnownLayers {
            by_digest: BTreeMap::new(),
            sizes: BTreeSet::new(),
        };
        for record in store.index().layers()? {
            if !store.snapshots().exists(&record.diff_id) {
                continue;
            }
            known.by_digest.insert(record.diff_id, record.diff_id);
            known.sizes.insert(record.size);
            for blob in record.blobs.values() {
                known.by_digest.insert(blob.digest, record.diff_id);
                known.sizes.insert(blob.size);
            }
        }
        Ok(known)
    }

    pub(super) fn get(&self, digest: &Digest) -> Option<Digest> {
        self.by_digest.get(digest).copied()
    }
}

/// The archive's own file, when the load reads an uncompressed one: an entry's bytes can then
/// be read a second time instead of being copied aside in case they are needed.
#[derive(Clone, Copy)]
pub(crate) struct Reread<'a> {
    file: &'a File,
    /// Where the archive starts in the file.
    base: u64,
}

impl<'a> Reread<'a> {
    /// `file`, read from its current position on.
    pub(crate) fn of(file: &'a File) -> Option<Reread<'a>> {
        let base = (&*file).stream_position().ok()?;
        Some(Reread { file, base })
    }

    /// The `len` bytes at `offset` in the archive.
    pub(super) fn range(self, offset: u64, len: u64) -> FileRange<'a> {
        FileRange {
            file: self.file,
            at: self.base + offset,
            end: self.base + offset + len,
        }
    }
}

/// A byte range of a file, read with `pread` (the file's own position is left alone).
pub(super) struct FileRange<'a> {
    file: &'a File,
    at: u64,
    end: u64,
}

impl Read for FileRange<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf.len().min((self.end - self.at) as usize);
        if want == 0 {
            return Ok(0);
        }
        let got = self.file.read_at(&mut buf[..want], self.at)?;
        if got == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.at += got as u64;
        Ok(got)
    }
}

/// How much of an entry is read at a time and handed to its hashing thread.
const CHUNK: usize = 1 << 20;

/// Entries being hashed on other threads, oldest first: at most one per core, so that reading
/// the archive on waits for the oldest rather than piling up memory.
pub(super) struct Background<'scope, 'env, T> {
    scope: &'scope Scope<'scope, 'env>,
    in_flight: VecDeque<(T, ScopedJoinHandle<'scope, (Digest, u64)>)>,
    limit: usize,
    /// Chunks the hashing threads are done with, to fill again.
    spare: Receiver<Vec<u8>>,
    give_back: Sender<Vec<u8>>,
}

impl<'scope, 'env, T> Background<'scope, 'env, T> {
    pub(super) fn new(scope: &'scope Scope<'scope, 'env>) -> Self {
        let (give_back, spare) = channel();
        Background {
            scope,
            in_flight: VecDeque::new(),
            limit: std::thread::available_parallelism().map_or(1, |n| n.get()),
            spare,
            give_back,
        }
    }

    /// Reads `entry` to its end and hashes it on another thread, `then` to be handed back with
    /// its digest and length; returns the oldest one, finished, once too many are in flight.
    pub(super) fn hash(
        &mut self,
        entry: &mut impl Read,
        then: T,
    ) -> io::Result<Option<(T, Digest, u64)>> {
        let (chunks, hashed) = sync_channel::<Vec<u8>>(4);
        let give_back = self.give_back.clone();
        let hashing = self.scope.spawn(move || {
            let mut hasher = Hasher::new();
            for chunk in hashed {
                hasher.update(&chunk);
                let _ = give_back.send(chunk);
            }
            let len = hasher.len();
            (hasher.finish(), len)
        });
        // On a read error the sender goes, the thread ends, and the scope joins it.
        loop {
            let mut chunk = self.spare.try_recv().unwrap_or_default();
            chunk.resize(CHUNK, 0);
            let n = read_full(entry, &mut chunk)?;
            if n == 0 {
                break;
            }
            chunk.truncate(n);
            if chunks.send(chunk).is_err() {
                break;
            }
        }
        drop(chunks);
        self.in_flight.push_back((then, hashing));
        Ok(if self.in_flight.len() > self.limit {
            self.next()
        } else {
            None
        })
    }

    /// The oldest entry in flight, once hashed.
    pub(super) fn next(&mut self) -> Option<(T, Digest, u64)> {
        let (then, hashing) = self.in_flight.pop_front()?;
        let (digest, len) = hashing
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        Some((then, digest, len))
    }
}

/// Reads until `buf` is full or the input ends; returns how much was read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_hashed_in_the_background_come_back_in_order_with_their_digests() {
        let inputs: Vec<Vec<u8>> = (0..9u8)
            .map(|n| vec![n; n as usize * (CHUNK / 3) + 1])
            .collect();
        let results = std::thread::scope(|scope| {
            let mut background = Background::new(scope);
            let mut results = Vec::new();
            for (n, input) in inputs.iter().enumerate() {
                if let Some(done) = background.hash(&mut input.as_slice(), n).unwrap() {
                    results.push(done);
                }
            }
            while let Some(done) = background.next() {
                results.push(done);
            }
            results
        });
        let expected: Vec<_> = inputs
            .iter()
            .enumerate()
            .map(|(n, input)| (n, Digest::of(input), input.len() as u64))
            .collect();
        assert_eq!(results, expected);
    }
}
