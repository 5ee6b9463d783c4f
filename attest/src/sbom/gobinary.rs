//! Go modules compiled into binaries: the build info (`go version -m`) that the Go linker
//! (1.18 and later) writes into an ELF section `.go.buildinfo` — the main module, and every
//! dependency module with its version.
//!
//! Cheap by design: a file is looked at only when it is executable and starts with the ELF
//! magic, and then only its section headers, section names and the build info section are
//! read (positioned reads, each capped), never the whole binary. Binaries from Go before 1.18
//! keep the build info behind pointers into the data segment and are passed over.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use super::{Ecosystem, Found, Package};

/// The build info section starts with this magic.
const MAGIC: &[u8] = b"\xff Go buildinf:";
/// Flag in the header: the version and module info follow inline (Go 1.18+).
const FLAG_INLINE: u8 = 0x2;
/// Largest section header table read (65535 headers of 64 bytes is 4 MiB).
const SECTION_TABLE_CAP: u64 = 4 << 20;
/// Largest build info read: header, version and module list of even a very large program.
const BUILDINFO_CAP: u64 = 4 << 20;

/// Reads the build info of the executable at `host` (a regular file found by the walk, shown
/// in the image as `image_path`), adding its modules.
pub(super) fn read(host: &Path, image_path: &Path, found: &mut Found) {
    let Ok(file) = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(host)
    else {
        return;
    };
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return;
    }
    let Some(section) = buildinfo_section(&file) else {
        return;
    };
    if let Some(modinfo) = inline_modinfo(&section) {
        found
            .packages
            .extend(parse_modinfo(&modinfo, &image_path.display().to_string()));
    }
}

/// An ELF file's layout facts needed to find one section.
struct Elf {
    wide: bool,
    little: bool,
}

impl Elf {
    fn u16(&self, b: &[u8], at: usize) -> Option<u64> {
        let bytes: [u8; 2] = b.get(at..at + 2)?.try_into().ok()?;
        Some(u64::from(if self.little {
            u16::from_le_bytes(bytes)
        } else {
            u16::from_be_bytes(bytes)
        }))
    }

    fn u32(&self, b: &[u8], at: usize) -> Option<u64> {
        let bytes: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        Some(u64::from(if self.little {
            u32::from_le_bytes(bytes)
        } else {
            u32::from_be_bytes(bytes)
        }))
    }

    /// A word: 8 bytes in a 64-bit file, 4 in a 32-bit one.
    fn word(&self, b: &[u8], at: usize) -> Option<u64> {
        if !self.wide {
            return self.u32(b, at);
        }
        let bytes: [u8; 8] = b.get(at..at + 8)?.try_into().ok()?;
        Some(if self.little {
            u64::from_le_bytes(bytes)
        } else {
            u64::from_be_bytes(bytes)
        })
    }
}

/// Reads exactly `len` bytes at `offset` (or None), refusing lengths over `cap`.
fn read_exact_at(file: &File, offset: u64, len: u64, cap: u64) -> Option<Vec<u8>> {
    if len > cap {
        return None;
    }
    let mut buffer = vec![0; usize::try_from(len).ok()?];
    file.read_exact_at(&mut buffer, offset).ok()?;
    Some(buffer)
}

/// The contents of the `.go.buildinfo` section, if the file is an ELF binary that has one.
fn buildinfo_section(file: &File) -> Option<Vec<u8>> {
    let header = read_exact_at(file, 0, 64, 64).or_else(|| read_exact_at(file, 0, 52, 52))?;
    if header.get(..4)? != b"\x7fELF" {
        return None;
    }
    let elf = Elf {
        wide: *header.get(4)? == 2,
        little: *header.get(5)? == 1,
    };
    // e_shoff, e_shentsize, e_shnum, e_shstrndx sit at class-dependent offsets.
    let (shoff, rest) = if elf.wide {
        (elf.word(&header, 0x28)?, 0x3A)
    } else {
        (elf.word(&header, 0x20)?, 0x2E)
    };
    let entsize = elf.u16(&header, rest)?;
    let count = elf.u16(&header, rest + 2)?;
    let names_index = elf.u16(&header, rest + 4)?;
    if entsize < if elf.wide { 64 } else { 40 } || count == 0 || names_index >= count {
        return None;
    }
    let table = read_exact_at(file, shoff, entsize * count, SECTION_TABLE_CAP)?;
    // Section header fields: sh_name (u32), then sh_offset and sh_size at class offsets.
    let section = |i: u64| -> Option<(u64, u64, u64)> {
        let at = usize::try_from(i * entsize).ok()?;
        let name = elf.u32(&table, at)?;
        let (offset, size) = if elf.wide {
            (elf.word(&table, at + 0x18)?, elf.word(&table, at + 0x20)?)
        } else {
            (elf.word(&table, at + 0x10)?, elf.word(&table, at + 0x14)?)
        };
        Some((name, offset, size))
    };
    let (_, names_offset, names_size) = section(names_index)?;
    let names = read_exact_at(file, names_offset, names_size, SECTION_TABLE_CAP)?;
    let wanted = b".go.buildinfo\0";
    for i in 0..count {
        let (name, offset, size) = section(i)?;
        let name = usize::try_from(name).ok()?;
        if names.get(name..name + wanted.len()) == Some(wanted) {
            return read_exact_at(file, offset, size.min(BUILDINFO_CAP), BUILDINFO_CAP);
        }
    }
    None
}

/// The module info string of an inline (Go 1.18+) build info section: a 32-byte header
/// (magic, pointer size, flags), then two varint-length strings: the Go version, the modules.
fn inline_modinfo(section: &[u8]) -> Option<String> {
    if section.get(..MAGIC.len())? != MAGIC || section.get(15)? & FLAG_INLINE == 0 {
        return None;
    }
    let mut rest = section.get(32..)?;
    let _go_version = take_string(&mut rest)?;
    let modinfo = take_string(&mut rest)?;
    // The linker wraps the text in 16-byte sentinels.
    let modinfo = if modinfo.len() >= 33 && modinfo[modinfo.len() - 17] == b'\n' {
        &modinfo[16..modinfo.len() - 16]
    } else {
        modinfo
    };
    Some(String::from_utf8_lossy(modinfo).into_owned())
}

/// Takes a uvarint-length-prefixed byte string off the front of `rest`.
fn take_string<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let mut len: u64 = 0;
    for shift in 0..10 {
        let (&byte, tail) = rest.split_first()?;
        *rest = tail;
        len |= u64::from(byte & 0x7f) << (7 * shift);
        if byte & 0x80 == 0 {
            let len = usize::try_from(len).ok()?;
            let (string, tail) = (rest.get(..len)?, rest.get(len..)?);
            *rest = tail;
            return Some(string);
        }
    }
    None
}

/// The modules of `go version -m`'s text: the `mod` line (the main module) and each `dep`,
/// with a `=>` line replacing the module before it.
fn parse_modinfo(text: &str, location: &str) -> Vec<Package> {
    let mut modules: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            ["mod" | "dep", path, version, ..] => {
                modules.push((path.to_string(), version.to_string()))
            }
            ["=>", path, version, ..] => {
                if let Some(last) = modules.last_mut() {
                    if path.starts_with(['.', '/']) {
                        // Replaced by a directory of the build: the module keeps its name,
                        // and has no published version.
                        last.1 = "(devel)".to_string();
                    } else {
                        *last = (path.to_string(), version.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    modules
        .into_iter()
        .filter(|(path, version)| !path.is_empty() && !version.is_empty())
        .map(|(path, version)| {
            let (namespace, name) = match path.rsplit_once('/') {
                Some((namespace, name)) => (Some(namespace), name),
                None => (None, path.as_str()),
            };
            Package {
                purl: crate::purl::purl("golang", namespace, name, Some(&version), &[]),
                location: location.to_string(),
                ecosystem: Ecosystem::Go,
                name: path.clone(),
                version,
                license: None,
                supplier: None,
                homepage: None,
            }
        })
        .collect()
}

/// A minimal 64-bit little-endian ELF file with a section name table and a
/// `.go.buildinfo` section holding `modinfo`.
#[cfg(test)]
pub(super) fn elf_with_buildinfo(modinfo: &[u8]) -> Vec<u8> {
    let mut info = MAGIC.to_vec();
    info.extend([8, FLAG_INLINE]);
    info.resize(32, 0);
    for string in [b"go1.22.1".as_slice(), modinfo] {
        let mut len = string.len();
        loop {
            let byte = (len & 0x7f) as u8;
            len >>= 7;
            info.push(if len > 0 { byte | 0x80 } else { byte });
            if len == 0 {
                break;
            }
        }
        info.extend(string);
    }
    let names = b"\0.shstrtab\0.go.buildinfo\0".to_vec();
    let names_at = 64u64;
    let info_at = names_at + names.len() as u64;
    let table_at = info_at + info.len() as u64;
    let mut file = vec![0u8; 64];
    file[..4].copy_from_slice(b"\x7fELF");
    file[4] = 2;
    file[5] = 1;
    file[0x28..0x30].copy_from_slice(&table_at.to_le_bytes());
    file[0x3A..0x3C].copy_from_slice(&64u16.to_le_bytes());
    file[0x3C..0x3E].copy_from_slice(&3u16.to_le_bytes());
    file[0x3E..0x40].copy_from_slice(&1u16.to_le_bytes());
    file.extend(&names);
    file.extend(&info);
    let section = |name: u32, offset: u64, size: u64| {
        let mut header = vec![0u8; 64];
        header[..4].copy_from_slice(&name.to_le_bytes());
        header[0x18..0x20].copy_from_slice(&offset.to_le_bytes());
        header[0x20..0x28].copy_from_slice(&size.to_le_bytes());
        header
    };
    file.extend(section(0, 0, 0));
    file.extend(section(1, names_at, names.len() as u64));
    file.extend(section(11, info_at, info.len() as u64));
    file
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As the linker writes it: 16-byte sentinels around `go version -m`'s text.
    const MODINFO: &[u8] =
        b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6path\tgithub.com/acme/tool\n\
mod\tgithub.com/acme/tool\tv1.4.0\th1:abc=\n\
dep\tgolang.org/x/sys\tv0.15.0\th1:def=\n\
dep\tgithub.com/old/lib\tv1.0.0\n\
=>\tgithub.com/fork/lib\tv1.0.1\th1:ghi=\n\
dep\tgithub.com/acme/internal\tv0.0.0-00010101000000-000000000000\n\
=>\t./internal\t\t\n\
build\t-compiler=gc\n\
\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2";

    #[test]
    fn modules_come_out_of_the_build_info_section() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("tool");
        std::fs::write(&binary, elf_with_buildinfo(MODINFO)).unwrap();
        let mut found = Found::default();
        read(&binary, Path::new("/usr/bin/tool"), &mut found);
        let purls: Vec<&str> = found.packages.iter().map(|p| p.purl.as_str()).collect();
        assert_eq!(
            purls,
            [
                "pkg:golang/github.com/acme/tool@v1.4.0",
                "pkg:golang/golang.org/x/sys@v0.15.0",
                "pkg:golang/github.com/fork/lib@v1.0.1",
                "pkg:golang/github.com/acme/internal@%28devel%29",
            ]
        );
        assert_eq!(found.packages[0].location, "/usr/bin/tool");
        // The sentinels are cut off: the first and last lines parse clean.
        let section = buildinfo_section(&File::open(&binary).unwrap()).unwrap();
        let text = inline_modinfo(&section).unwrap();
        assert!(text.starts_with("path\tgithub.com/acme/tool\n"), "{text:?}");
        assert!(text.ends_with("build\t-compiler=gc\n"), "{text:?}");
    }

    #[test]
    fn truncated_or_foreign_binaries_give_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let full = elf_with_buildinfo(MODINFO);
        for cut in [3, 20, 64, 100, full.len() - 10] {
            let path = dir.path().join(format!("cut{cut}"));
            std::fs::write(&path, &full[..cut]).unwrap();
            let mut found = Found::default();
            read(&path, Path::new("/x"), &mut found);
            assert!(found.packages.is_empty(), "cut at {cut}");
        }
        let mut wild_table = full.clone();
        wild_table[0x28..0x30].copy_from_slice(&u64::MAX.to_le_bytes());
        let path = dir.path().join("wild");
        std::fs::write(&path, &wild_table).unwrap();
        let mut found = Found::default();
        read(&path, Path::new("/x"), &mut found);
        assert!(found.packages.is_empty());
        let script = dir.path().join("script");
        std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
        read(&script, Path::new("/x"), &mut found);
        assert!(found.packages.is_empty());
    }
}
