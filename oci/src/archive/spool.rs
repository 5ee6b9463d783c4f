//! Reading an image tarball once, in whatever order its entries come: every file goes into
//! the blob store as it streams by (verified against its name when the name is a digest), and
//! anything that looks like a layer is unpacked into a scratch dir at the same time, so a
//! layer is read once, not spooled and then read again.
//!
//! A layer the store already has (the tarball was loaded before, or its image built here) is
//! only hashed: its bytes are checked against their name, and the digest they hash to is one
//! the store knows to be that layer's — its DiffID (an uncompressed layer) or a compressed
//! blob recorded when the layer was first verified. Only then is the unpacking skipped; the
//! config's DiffIDs are still checked against it when the images are put together.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Component, Path};

use strata_cache::{BlobWriter, Digest, ScratchDir, Store};

use super::checks::{Background, FileRange, KnownLayers, Reread};
use super::load::{bad, read_failed, Written};
use crate::error::Result;
use crate::layer::{extract_layer, write_layer, ExtractReport, LayerOptions};

/// What the archive held.
#[derive(Default)]
pub(super) struct Spooled {
    /// Archive path → content digest (links resolved to what they point at).
    pub files: BTreeMap<String, Digest>,
    /// Every content digest seen, with its size (stored as a blob or not).
    pub sizes: BTreeMap<Digest, u64>,
    /// Layers unpacked while they streamed in, by content digest.
    pub unpacked: BTreeMap<Digest, Unpacked>,
    /// Layers the store already had: content digest → DiffID. Hashed as they streamed in,
    /// not unpacked.
    pub known: BTreeMap<Digest, Digest>,
}

/// A layer unpacked into a scratch dir while its blob was being spooled.
pub(crate) struct Unpacked {
    pub dir: ScratchDir,
    pub report: ExtractReport,
    /// `none`, `gzip` or `zstd`: the blob's form.
    pub compression: &'static str,
    /// An uncompressed tar exactly as strata writes it from the snapshot: no blob is kept.
    pub canonical: bool,
}

/// Gzip and zstd magic numbers.
pub(crate) fn compression_of(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(&[0x1f, 0x8b]) {
        Some("gzip")
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some("zstd")
    } else {
        None
    }
}

/// A decompressing reader for `compression` (`none`, `gzip`, `zstd`).
pub(crate) fn decompress<'a>(
    compression: &str,
    input: impl BufRead + 'a,
) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match compression {
        "gzip" => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        "zstd" => Box::new(zstd::stream::read::Decoder::with_buffer(input)?),
        _ => Box::new(input),
    })
}

/// The outer tarball, decompressed if it is gzip or zstd; and whether it was compressed.
fn open_archive<'a>(input: impl Read + 'a) -> Result<(Box<dyn Read + 'a>, bool)> {
    let mut buffered = BufReader::with_capacity(1 << 20, input);
    let head = buffered.fill_buf().map_err(read_failed("reading"))?;
    let compression = compression_of(head).unwrap_or("none");
    let reader = decompress(compression, buffered).map_err(read_failed("reading"))?;
    Ok((reader, compression != "none"))
}

fn clean(path: &Path) -> Result<String> {
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::CurDir => {}
            _ => {
                return Err(bad(format!(
                    "entry `{}` escapes the archive",
                    path.display()
                )))
            }
        }
    }
    Ok(parts.join("/"))
}

/// `a/b` + `../c` → `a/c`; `None` if it climbs out or is absolute.
fn normalize_join(base: &str, target: &Path) -> Option<String> {
    if target.is_absolute() {
        return None;
    }
    let mut parts: Vec<String> = base
        .split('/')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect();
    for component in target.components() {
        match component {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            _ => return None,
        }
    }
    Some(parts.join("/"))
}

/// Reads the whole archive into the store. `reread` is the file `input` reads, if it is one.
pub(super) fn spool(
    store: &Store,
    input: impl Read,
    reread: Option<Reread<'_>>,
    written: &mut Written,
) -> Result<Spooled> {
    let (input, compressed) = open_archive(input)?;
    let reread = reread.filter(|_| !compressed);
    let mut archive = tar::Archive::new(input);
    let mut spooled = Spooled::default();
    let known = KnownLayers::of(store)?;
    let mut links: BTreeMap<String, String> = BTreeMap::new();
    let mut files: BTreeSet<String> = BTreeSet::new();
    std::thread::scope(|scope| -> Result<()> {
        let mut hashing = Background::new(scope);
        for entry in archive.entries().map_err(read_failed("reading"))? {
            let mut entry = entry.map_err(read_failed("reading"))?;
            let path = clean(&entry.path().map_err(read_failed("an entry's path"))?)?;
            let kind = entry.header().entry_type();
            if !kind.is_dir()
                && !path.is_empty()
                && (files.contains(&path) || links.contains_key(&path))
            {
                return Err(bad(format!("entry `{path}` appears twice")));
            }
            match kind {
                tar::EntryType::Directory | tar::EntryType::XGlobalHeader => {}
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    files.insert(path.clone());
                    let expected = named_digest(&path)?;
                    let size = entry.size();
                    let again = reread.map(|r| r.range(entry.raw_file_position(), size));
                    // Bytes the store has already (a blob, or a layer by a digest it is known
                    // by; from a file, one as long as a known layer): only hashed, on
                    // another thread while the archive is read on.
                    let check_only = match expected {
                        Some(digest) => {
                            store.blobs().exists(&digest) || known.get(&digest).is_some()
                        }
                        None => again.is_some() && known.sizes.contains(&size),
                    };
                    if check_only {
                        let reading = read_failed(format!("reading `{path}`"));
                        let check = Check {
                            path: path.clone(),
                            expected,
                            again,
                        };
                        let done = hashing.hash(&mut entry, check).map_err(reading)?;
                        if let Some((check, digest, size)) = done {
                            checked(store, &known, check, digest, size, &mut spooled, written)?;
                        }
                        continue;
                    }
                    let digest = spool_file(
                        store,
                        &known,
                        &path,
                        expected,
                        &mut entry,
                        &mut spooled,
                        written,
                    )?;
                    spooled.files.insert(path, digest);
                }
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let target = entry
                        .link_name()
                        .map_err(read_failed(format!("link `{path}`")))?
                        .ok_or_else(|| bad(format!("link `{path}` has no target")))?;
                    let base = if kind == tar::EntryType::Symlink {
                        path.rsplit_once('/').map_or("", |(dir, _)| dir)
                    } else {
                        ""
                    };
                    let joined = normalize_join(base, &target).ok_or_else(|| {
                        bad(format!(
                            "link `{path}` points outside the archive: `{}`",
                            target.display()
                        ))
                    })?;
                    links.insert(path, joined);
                }
                other => {
                    return Err(bad(format!(
                        "entry `{path}` has an unsupported type {other:?}"
                    )))
                }
            }
        }
        while let Some((check, digest, size)) = hashing.next() {
            checked(store, &known, check, digest, size, &mut spooled, written)?;
        }
        Ok(())
    })?;
    for (link, target) in &links {
        // Follow chains of links (a legacy archive links layer.tar files to each other).
        let mut current = target.clone();
        let mut hops = 0;
        let digest = loop {
            if let Some(digest) = spooled.files.get(&current) {
                break *digest;
            }
            match links.get(&current) {
                Some(next) if hops < 16 => {
                    current = next.clone();
                    hops += 1;
                }
                _ => {
                    return Err(bad(format!(
                        "link `{link}` points at `{target}`, which the archive lacks"
                    )))
                }
            }
        };
        spooled.files.insert(link.clone(), digest);
    }
    Ok(spooled)
}

/// The digest an archive path names, for `blobs/sha256/<hex>` (OCI layouts).
fn named_digest(path: &str) -> Result<Option<Digest>> {
    Ok(match path.strip_prefix("blobs/") {
        Some(rest) => match rest.split_once('/') {
            Some(("sha256", hex)) => Some(
                Digest::from_hex(hex)
                    .map_err(|_| bad(format!("`{path}` is not named by a sha256 digest")))?,
            ),
            Some((algorithm, _)) => {
                return Err(bad(format!(
                    "`{path}`: digest algorithm `{algorithm}` is not supported (only sha256)"
                )))
            }
            None => None,
        },
        None => None,
    })
}

/// An entry hashed in the background, and what its digest must be.
struct Check<'f> {
    path: String,
    /// The digest the archive names it by (`None`: it must be a known layer's, or is new).
    expected: Option<Digest>,
    /// Its bytes in the archive's file, to spool it if it is new.
    again: Option<FileRange<'f>>,
}

/// Records a checked entry: it matches its name and the store has it, or (unnamed, and no
/// known layer after all) it is read again and spooled as new.
fn checked(
    store: &Store,
    known: &KnownLayers,
    check: Check<'_>,
    digest: Digest,
    size: u64,
    spooled: &mut Spooled,
    written: &mut Written,
) -> Result<()> {
    let Check {
        path,
        expected,
        again,
    } = check;
    if expected.is_some_and(|e| e != digest) {
        return Err(bad(format!(
            "`{path}` does not match its digest (its content is {digest})"
        )));
    }
    let digest = match (known.get(&digest), expected, again) {
        (Some(diff_id), _, _) => {
            spooled.known.insert(digest, diff_id);
            spooled.sizes.insert(digest, size);
            digest
        }
        // A blob the store has.
        (None, Some(_), _) => {
            spooled.sizes.insert(digest, size);
            digest
        }
        (None, None, Some(mut again)) => {
            spool_new(store, &path, None, &mut again, spooled, written)?
        }
        (None, None, None) => {
            return Err(bad(format!("`{path}` cannot be read a second time")));
        }
    };
    spooled.files.insert(path, digest);
    Ok(())
}

/// Spools one regular file (named `expected` in the archive, if it is) that is not in the
/// store; returns its content digest.
fn spool_file(
    store: &Store,
    known: &KnownLayers,
    path: &str,
    expected: Option<Digest>,
    entry: &mut tar::Entry<'_, impl Read>,
    spooled: &mut Spooled,
    written: &mut Written,
) -> Result<Digest> {
    let size = entry.size();
    if expected.is_none() && known.sizes.contains(&size) {
        // Probably a layer the store has, in a stream (not a file: see `Reread`) that does not
        // name it by digest: spool it without unpacking, to unpack it later only if it turns
        // out to be new.
        let mut writer = store.blobs().writer()?.without_writeback();
        io::copy(entry, &mut writer).map_err(read_failed(format!("reading `{path}`")))?;
        let digest = writer.digest();
        let size = if let Some(layer) = known.get(&digest) {
            spooled.known.insert(digest, layer);
            writer.discard()?
        } else if store.blobs().exists(&digest) {
            writer.discard()?
        } else {
            let (_, size) = writer.commit(Some(digest))?;
            written.blobs.insert(digest);
            size
        };
        spooled.sizes.insert(digest, size);
        return Ok(digest);
    }
    spool_new(store, path, expected, entry, spooled, written)
}

/// Spools a file the store does not have (named `expected` in the archive, if it is),
/// unpacking it on the way when it looks like a layer.
fn spool_new(
    store: &Store,
    path: &str,
    expected: Option<Digest>,
    entry: &mut impl Read,
    spooled: &mut Spooled,
    written: &mut Written,
) -> Result<Digest> {
    let writer = store.blobs().writer()?.without_writeback();
    let (mut writer, prepared, hashed) =
        spool_and_unpack(store, entry, writer).map_err(read_failed(format!("reading `{path}`")))?;
    let digest = match (&prepared, hashed) {
        // An uncompressed layer: its DiffID is the hash of exactly these bytes.
        (Some(prepared), false) => prepared.report.diff_id,
        (None, false) => {
            writer.rehash()?;
            writer.digest()
        }
        (_, true) => writer.digest(),
    };
    if expected.is_some_and(|e| e != digest) {
        return Err(bad(format!(
            "`{path}` does not match its digest (its content is {digest})"
        )));
    }
    let canonical = prepared.as_ref().is_some_and(|p| p.canonical);
    let size = if canonical || store.blobs().exists(&digest) {
        // strata regenerates a canonical tar from the snapshot; a blob already stored is not
        // this load's to remove.
        writer.discard()?
    } else {
        let (_, size) = if hashed {
            writer.commit(Some(digest))?
        } else {
            writer.commit_hashed(digest)?
        };
        written.blobs.insert(digest);
        size
    };
    spooled.sizes.insert(digest, size);
    if let Some(prepared) = prepared {
        spooled.unpacked.insert(digest, prepared);
    }
    Ok(digest)
}

/// True when the first tar header is shaped as strata writes them (ustar `00`, no user or
/// group names, no prefix, `%06o\0 ` checksum): only then is it worth regenerating the tar to
/// see if the blob can be dropped.
fn looks_canonical(head: &[u8]) -> bool {
    head.len() >= 512
        && &head[257..265] == b"ustar\x0000"
        && head[265..329].iter().all(|&b| b == 0)
        && head[345..500].iter().all(|&b| b == 0)
        && head[154] == 0
        && head[155] == b' '
}

/// Copies an archive entry into its blob writer and, when the entry looks like a layer (a tar,
/// or gzip/zstd), unpacks it at the same time on another thread: spooling and unpacking then
/// overlap instead of reading every layer twice. A failed speculative unpack is dropped; the
/// layer is unpacked again from its blob if an image uses it, and fails there if it must.
///
/// An uncompressed layer is hashed once, by the unpacker (its DiffID is the blob's digest):
/// the writer comes back unhashed (`false`) and the caller names the blob by that DiffID.
/// Whether the layer is canonical (strata regenerates exactly these bytes from the snapshot,
/// so no blob need be kept) is checked by comparing the regenerated tar with the spooled
/// bytes, not by hashing it again.
fn spool_and_unpack(
    store: &Store,
    entry: &mut impl Read,
    writer: BlobWriter,
) -> io::Result<(BlobWriter, Option<Unpacked>, bool)> {
    let mut head = vec![0u8; 512];
    let mut filled = 0;
    while filled < head.len() {
        let n = entry.read(&mut head[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    head.truncate(filled);
    let mut writer = writer;
    let compression = match compression_of(&head) {
        Some(c) => c,
        None if head.len() == 512 && &head[257..262] == b"ustar" => "none",
        None => {
            writer.write_all(&head)?;
            io::copy(entry, &mut writer)?;
            return Ok((writer, None, true));
        }
    };
    let Ok(dir) = store.snapshots().scratch("load") else {
        writer.write_all(&head)?;
        io::copy(entry, &mut writer)?;
        return Ok((writer, None, true));
    };
    let hashed = compression != "none";
    if !hashed {
        writer = writer.hashed_by_caller();
    }
    writer.write_all(&head)?;
    let maybe_canonical = compression == "none" && looks_canonical(&head);
    let (reader, mut pipe) = io::pipe()?;
    widen_pipe(&pipe);
    let target = dir.path().to_path_buf();
    let report = std::thread::scope(|scope| -> io::Result<Option<ExtractReport>> {
        let unpacker = scope.spawn(move || {
            let reader = BufReader::with_capacity(1 << 20, reader);
            let mut stream = decompress(compression, reader).ok()?;
            let result = extract_layer(&mut stream, &target).ok();
            // Drain so the spooling side never blocks on a full pipe.
            let _ = io::copy(&mut stream, &mut io::sink());
            result
        });
        let mut pipe_open = true;
        let mut feed = |bytes: &[u8]| {
            if pipe_open && pipe.write_all(bytes).is_err() {
                pipe_open = false;
            }
        };
        feed(&head);
        let mut buf = vec![0u8; 1 << 20];
        let copied = loop {
            let n = match entry.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => n,
                Err(e) => break Err(e),
            };
            if let Err(e) = writer.write_all(&buf[..n]) {
                break Err(e);
            }
            feed(&buf[..n]);
        };
        drop(pipe);
        let report = unpacker.join().unwrap_or(None);
        copied.map(|()| report)
    })?;
    let Some(report) = report else {
        return Ok((writer, None, hashed));
    };
    let canonical = maybe_canonical && regenerates_as_spooled(dir.path(), &mut writer);
    let unpacked = Unpacked {
        dir,
        report,
        compression,
        canonical,
    };
    Ok((writer, Some(unpacked), hashed))
}

/// True when the layer tar strata writes from `snapshot` is byte for byte what was spooled.
fn regenerates_as_spooled(snapshot: &Path, writer: &mut BlobWriter) -> bool {
    let Ok(spooled) = writer.reopen() else {
        return false;
    };
    let mut same = SameAs {
        expected: BufReader::with_capacity(1 << 20, spooled),
        buf: Vec::new(),
    };
    write_layer(snapshot, &LayerOptions::default(), &mut same).is_ok()
        && same.expected.fill_buf().is_ok_and(|rest| rest.is_empty())
}

/// A writer that only checks that what it is given is what `expected` holds, failing at the
/// first difference.
struct SameAs<R> {
    expected: R,
    buf: Vec<u8>,
}

impl<R: Read> Write for SameAs<R> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buf.resize(bytes.len(), 0);
        self.expected.read_exact(&mut self.buf)?;
        if self.buf != bytes {
            return Err(io::Error::other("the regenerated tar differs"));
        }
        Ok(bytes.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A pipe of 1 MiB instead of 64 KiB: the spooling side writes 1 MiB chunks, and a small pipe
/// turns each into sixteen wake-ups of the unpacker. Best effort (the system may cap it).
fn widen_pipe(pipe: &io::PipeWriter) {
    let _ = rustix::pipe::fcntl_setpipe_size(pipe, 1 << 20);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_resolve_inside_the_archive_only() {
        assert_eq!(
            normalize_join("a/b", Path::new("../c/layer.tar")).as_deref(),
            Some("a/c/layer.tar")
        );
        assert_eq!(normalize_join("", Path::new("../x")), None);
        assert_eq!(normalize_join("a", Path::new("/etc/passwd")), None);
        assert_eq!(
            normalize_join("a", Path::new("./b")).as_deref(),
            Some("a/b")
        );
    }

    #[test]
    fn strata_headers_look_canonical_and_gnu_ones_do_not() {
        let mut ours = Vec::new();
        crate::layer::tar_format::write_header(
            &mut ours,
            &crate::layer::tar_format::Entry {
                path: "a".into(),
                kind: crate::layer::tar_format::EntryType::File,
                mode: 0o644,
                uid: 0,
                gid: 0,
                size: 0,
                mtime: 0,
                link: String::new(),
                dev: (0, 0),
                xattrs: Vec::new(),
            },
        )
        .unwrap();
        assert!(looks_canonical(&ours));
        let mut header = tar::Header::new_gnu();
        header.set_path("a").unwrap();
        header.set_username("root").unwrap();
        header.set_cksum();
        assert!(!looks_canonical(header.as_bytes()));
    }
}
