//! ADD's archive rule: a local source that is a tar archive (plain, gzip, bzip2, xz or zstd) is
//! unpacked into the destination instead of copied. Recognised by content, as docker does, not
//! by file name: `app.tar.gz` that is really text is copied as a file.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use rustix::fs::{makedev, Dev, FileType};

use crate::error::{Error, Result};

/// The compressions ADD recognises around a tar stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A bare tar.
    None,
    /// gzip (`1f 8b`).
    Gzip,
    /// bzip2 (`BZh`).
    Bzip2,
    /// xz (`fd 37 7a 58 5a 00`).
    Xz,
    /// zstd (`28 b5 2f fd`).
    Zstd,
}

/// If `path` is a (possibly compressed) tar archive, its compression; otherwise `None`.
pub fn detect(path: &Path) -> Result<Option<Compression>> {
    let mut file = File::open(path).map_err(|source| io(path, source))?;
    let mut magic = [0u8; 6];
    let n = read_up_to(&mut file, &mut magic).map_err(|source| io(path, source))?;
    let magic = &magic[..n];
    let compression = if magic.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if magic.starts_with(b"BZh") {
        Compression::Bzip2
    } else if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Compression::Xz
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    };
    file.seek(SeekFrom::Start(0))
        .map_err(|source| io(path, source))?;
    let mut stream = decompressor(compression, file).map_err(|source| io(path, source))?;
    // A tar header block carries "ustar" at offset 257 (GNU and POSIX formats both do).
    let mut header = [0u8; 512];
    let n = read_up_to(&mut stream, &mut header).unwrap_or(0);
    let is_tar = n == 512 && &header[257..262] == b"ustar";
    Ok(is_tar.then_some(compression))
}

/// Unpacks an archive into `dest` (a directory inside the layer being written). Entries keep
/// their modes, owners and mtimes unless `chown` overrides the owner; entries that would land
/// outside `dest` (`..`, absolute paths, through symlinks) are refused. Device nodes and FIFOs
/// are made as what they are (docker's untar does, and a layer may hold them); a pax global
/// header names no file and makes nothing.
pub fn unpack(
    archive: &Path,
    compression: Compression,
    dest: &Path,
    chown: Option<(u32, u32)>,
) -> Result<()> {
    let file = File::open(archive).map_err(|source| io(archive, source))?;
    let stream = decompressor(compression, file).map_err(|source| io(archive, source))?;
    let mut tar = tar::Archive::new(stream);
    tar.set_preserve_permissions(true);
    tar.set_preserve_ownerships(chown.is_none());
    tar.set_preserve_mtime(true);
    tar.set_unpack_xattrs(true);
    tar.set_overwrite(true);
    let bad = |doing: String| {
        move |source| Error::Unpack {
            archive: archive.to_path_buf(),
            doing,
            source,
        }
    };
    for entry in tar.entries().map_err(bad(String::new()))? {
        let mut entry = entry.map_err(bad("reading the archive".into()))?;
        let kind = entry.header().entry_type();
        // Its name (`pax_global_header`, GNU tar's `/tmp/GlobalHead.<pid>.<n>`) is no path: the
        // tar crate would make its parent folders before skipping it.
        if kind.is_pax_global_extensions() {
            continue;
        }
        let name = entry
            .path()
            .map_err(bad(String::new()))?
            .display()
            .to_string();
        let node = special_node(&entry).map_err(bad(format!("entry `{name}`")))?;
        let unpacked = entry
            .unpack_in(dest)
            .map_err(bad(format!("unpacking `{name}`")))?;
        if !unpacked {
            return Err(Error::BadSource {
                source_path: archive.display().to_string(),
                reason: format!("entry `{name}` would be written outside the destination"),
            });
        }
        let target = dest.join(name.trim_start_matches('/'));
        // The tar crate writes a device node or FIFO as an empty regular file, in a place it
        // has checked is inside `dest`: that file is replaced by the node.
        if let Some(node) = node {
            node.make(&target, chown)?;
        } else if let Some((uid, gid)) = chown {
            std::os::unix::fs::lchown(&target, Some(uid), Some(gid))
                .map_err(|source| io(&target, source))?;
        }
    }
    Ok(())
}

/// A character or block device or a FIFO from an archive, to make in place of the empty file
/// the tar crate leaves.
struct SpecialNode {
    file_type: FileType,
    dev: Dev,
    mode: u32,
    owner: (u32, u32),
    mtime: i64,
}

fn special_node<R: Read>(entry: &tar::Entry<'_, R>) -> std::io::Result<Option<SpecialNode>> {
    let header = entry.header();
    let file_type = match header.entry_type() {
        tar::EntryType::Char => FileType::CharacterDevice,
        tar::EntryType::Block => FileType::BlockDevice,
        tar::EntryType::Fifo => FileType::Fifo,
        _ => return Ok(None),
    };
    let (major, minor) = if file_type == FileType::Fifo {
        (0, 0)
    } else {
        (
            header.device_major()?.unwrap_or(0),
            header.device_minor()?.unwrap_or(0),
        )
    };
    let id = |value: u64| u32::try_from(value).unwrap_or(u32::MAX);
    Ok(Some(SpecialNode {
        file_type,
        dev: makedev(major, minor),
        mode: header.mode()? & 0o7777,
        owner: (id(entry.header().uid()?), id(entry.header().gid()?)),
        mtime: i64::try_from(header.mtime()?).unwrap_or(i64::MAX),
    }))
}

impl SpecialNode {
    fn make(&self, path: &Path, chown: Option<(u32, u32)>) -> Result<()> {
        std::fs::remove_file(path).map_err(|source| io(path, source))?;
        let (uid, gid) = chown.unwrap_or(self.owner);
        Ok(strata_oci::make_special_node(
            path,
            self.file_type,
            self.dev,
            self.mode,
            (uid, gid),
            self.mtime,
        )?)
    }
}

fn decompressor(compression: Compression, file: File) -> std::io::Result<Box<dyn Read>> {
    let file = BufReader::new(file);
    Ok(match compression {
        Compression::None => Box::new(file),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(file)),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(file)),
        Compression::Xz => Box::new(xz2::read::XzDecoder::new_multi_decoder(file)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(file)?),
    })
}

fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(filled)
}

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn tar_bytes(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut header = tar::Header::new_ustar();
            header.set_size(data.len() as u64);
            header.set_mode(0o640);
            header.set_uid(7);
            header.set_gid(8);
            header.set_cksum();
            builder.append_data(&mut header, name, *data).unwrap();
        }
        builder.into_inner().unwrap()
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = dir.join(name);
        File::create(&path).unwrap().write_all(bytes).unwrap();
        path
    }

    #[test]
    fn every_compression_is_recognised_by_content_and_unpacked() {
        let dir = tempfile::tempdir().unwrap();
        let tar = tar_bytes(&[("a/b.txt", b"hello")]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        bz.write_all(&tar).unwrap();
        let mut xz = xz2::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(&tar).unwrap();
        let cases = [
            ("plain.tar", tar.clone(), Compression::None),
            ("x.gz", gz.finish().unwrap(), Compression::Gzip),
            ("x.bz2", bz.finish().unwrap(), Compression::Bzip2),
            ("x.xz", xz.finish().unwrap(), Compression::Xz),
            (
                "x.zst",
                zstd::encode_all(&tar[..], 1).unwrap(),
                Compression::Zstd,
            ),
        ];
        for (name, bytes, expected) in cases {
            let path = write(dir.path(), name, &bytes);
            assert_eq!(detect(&path).unwrap(), Some(expected), "{name}");
            let out = dir.path().join(format!("out-{name}"));
            std::fs::create_dir(&out).unwrap();
            unpack(&path, expected, &out, None).unwrap();
            assert_eq!(std::fs::read(out.join("a/b.txt")).unwrap(), b"hello");
        }
    }

    #[test]
    fn a_file_named_like_an_archive_is_not_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "fake.tar.gz", b"just text");
        assert_eq!(detect(&path).unwrap(), None);
        let gz_text = {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(b"gzipped text, not a tar").unwrap();
            gz.finish().unwrap()
        };
        let path = write(dir.path(), "text.gz", &gz_text);
        assert_eq!(detect(&path).unwrap(), None);
    }

    #[test]
    fn a_pax_global_header_makes_nothing() {
        // GNU tar names it `/tmp/GlobalHead.<pid>.<n>`, git archive `pax_global_header`.
        let dir = tempfile::tempdir().unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        for name in ["/tmp/GlobalHead.42.1", "pax_global_header"] {
            let record = b"21 comment=made by x\n";
            let mut header = tar::Header::new_ustar();
            header.set_entry_type(tar::EntryType::XGlobalHeader);
            header.set_size(record.len() as u64);
            header.set_mode(0o644);
            // `set_path` refuses absolute names: write the bytes, as GNU tar does.
            header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            header.set_cksum();
            builder.append(&header, &record[..]).unwrap();
        }
        let mut header = tar::Header::new_ustar();
        header.set_size(2);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(1);
        header.set_cksum();
        builder.append_data(&mut header, "f", &b"hi"[..]).unwrap();
        let path = write(dir.path(), "g.tar", &builder.into_inner().unwrap());
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        unpack(&path, Compression::None, &out, None).unwrap();
        let names: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["f"]);
    }

    #[test]
    fn entries_escaping_the_destination_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(1);
        header.set_mode(0o644);
        // `set_path` refuses `..`, so write the name bytes directly, as a hostile tool would.
        header.as_gnu_mut().unwrap().name[..9].copy_from_slice(b"../escape");
        header.set_cksum();
        builder.append(&header, &b"x"[..]).unwrap();
        let path = write(dir.path(), "evil.tar", &builder.into_inner().unwrap());
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        assert!(unpack(&path, Compression::None, &out, None).is_err());
        assert!(!dir.path().join("escape").exists());
    }
}
