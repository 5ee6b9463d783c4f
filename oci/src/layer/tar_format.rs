//! Writing tar headers by hand, so that every field is under our control: the same entry
//! always gives the same 512-byte blocks. ustar headers; a PAX header in front when a value
//! does not fit (long names and link targets, big ids or sizes) or xattrs must be carried.

use std::io::{self, Write};

/// What kind of entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryType {
    /// A regular file (`0`).
    File,
    /// A hard link to an earlier entry (`1`).
    HardLink,
    /// A symbolic link (`2`).
    Symlink,
    /// A character device (`3`).
    CharDevice,
    /// A block device (`4`).
    BlockDevice,
    /// A directory (`5`).
    Dir,
    /// A fifo (`6`).
    Fifo,
}

impl EntryType {
    fn flag(self) -> u8 {
        match self {
            EntryType::File => b'0',
            EntryType::HardLink => b'1',
            EntryType::Symlink => b'2',
            EntryType::CharDevice => b'3',
            EntryType::BlockDevice => b'4',
            EntryType::Dir => b'5',
            EntryType::Fifo => b'6',
        }
    }
}

/// One entry's header fields.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// Path inside the layer, no leading `/`; directories end with `/`.
    pub path: String,
    /// Kind.
    pub kind: EntryType,
    /// Permission and special bits (`0o7777`).
    pub mode: u32,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
    /// Content size (regular files only).
    pub size: u64,
    /// Modification time, whole seconds.
    pub mtime: i64,
    /// Link target (symlinks and hard links).
    pub link: String,
    /// Device numbers (devices only).
    pub dev: (u32, u32),
    /// Extended attributes to carry (`SCHILY.xattr.*`), sorted.
    pub xattrs: Vec<(String, Vec<u8>)>,
}

fn octal(field: &mut [u8], value: u64) -> bool {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    if text.len() > digits {
        return false;
    }
    field[..digits].copy_from_slice(text.as_bytes());
    field[digits] = 0;
    true
}

/// Appends one PAX record `"<len> key=value\n"` (the length counts itself).
fn pax_record(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    let body = key.len() + value.len() + 3;
    let mut len = body + 1;
    while format!("{len}").len() + body != len {
        len += 1;
    }
    out.extend_from_slice(format!("{len} {key}=").as_bytes());
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// One ustar header block for `entry` under `name` with type flag `kind`; ids and size are
/// passed separately because a PAX record may carry the real values.
fn header_block(
    (name, link): (&[u8], &[u8]),
    kind: u8,
    entry: &Entry,
    ids: (u64, u64),
    size: u64,
) -> [u8; 512] {
    let (mode, mtime, dev) = (entry.mode, entry.mtime, entry.dev);
    let (uid, gid) = ids;
    let mut h = [0u8; 512];
    h[..name.len().min(100)].copy_from_slice(&name[..name.len().min(100)]);
    octal(&mut h[100..108], mode as u64);
    octal(&mut h[108..116], uid);
    octal(&mut h[116..124], gid);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], mtime.max(0) as u64);
    h[156] = kind;
    h[157..157 + link.len().min(100)].copy_from_slice(&link[..link.len().min(100)]);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    if kind == b'3' || kind == b'4' {
        octal(&mut h[329..337], dev.0 as u64);
        octal(&mut h[337..345], dev.1 as u64);
    }
    // The checksum is computed with its own field as spaces.
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    let text = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(text.as_bytes());
    h
}

/// Writes an entry's header(s); the caller writes the content and then [`pad`].
pub(crate) fn write_header(out: &mut (impl Write + ?Sized), entry: &Entry) -> io::Result<()> {
    write_header_bytes(out, entry, entry.path.as_bytes(), entry.link.as_bytes())
}

/// [`write_header`] with the path and link target given as raw bytes (`entry.path` and
/// `entry.link` are ignored): Linux names need not be UTF-8, and a layer must carry them
/// unchanged, as Go's archive/tar (docker, BuildKit) does.
pub(crate) fn write_header_bytes(
    out: &mut (impl Write + ?Sized),
    entry: &Entry,
    name: &[u8],
    link: &[u8],
) -> io::Result<()> {
    let mut pax = Vec::new();
    if name.len() > 100 {
        pax_record(&mut pax, "path", name);
    }
    if link.len() > 100 {
        pax_record(&mut pax, "linkpath", link);
    }
    const MAX_ID: u64 = 0o7777777;
    if entry.uid > MAX_ID {
        pax_record(&mut pax, "uid", entry.uid.to_string().as_bytes());
    }
    if entry.gid > MAX_ID {
        pax_record(&mut pax, "gid", entry.gid.to_string().as_bytes());
    }
    if entry.size > 0o77777777777 {
        pax_record(&mut pax, "size", entry.size.to_string().as_bytes());
    }
    for (key, value) in &entry.xattrs {
        pax_record(&mut pax, &format!("SCHILY.xattr.{key}"), value);
    }
    if !pax.is_empty() {
        let mut pax_name = b"PaxHeaders/".to_vec();
        pax_name.extend_from_slice(short_name(name));
        let pax_entry = Entry {
            path: String::new(),
            kind: EntryType::File,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: pax.len() as u64,
            mtime: entry.mtime,
            link: String::new(),
            dev: (0, 0),
            xattrs: Vec::new(),
        };
        let block = header_block((&pax_name, b""), b'x', &pax_entry, (0, 0), pax.len() as u64);
        out.write_all(&block)?;
        out.write_all(&pax)?;
        pad(out, pax.len() as u64)?;
    }
    let block = header_block(
        (name, link),
        entry.kind.flag(),
        entry,
        (entry.uid.min(MAX_ID), entry.gid.min(MAX_ID)),
        if entry.size > 0o77777777777 {
            0
        } else {
            entry.size
        },
    );
    out.write_all(&block)
}

/// The PAX header's own name: the entry's last component, cut to fit.
fn short_name(path: &[u8]) -> &[u8] {
    let mut end = path.len();
    while end > 0 && path[end - 1] == b'/' {
        end -= 1;
    }
    let trimmed = &path[..end];
    let start = trimmed
        .iter()
        .rposition(|&b| b == b'/')
        .map_or(0, |i| i + 1);
    let last = &trimmed[start..];
    // At most 80 characters (bytes when the name is not UTF-8).
    let cut = match std::str::from_utf8(last) {
        Ok(text) => text.char_indices().nth(80).map_or(last.len(), |(i, _)| i),
        Err(_) => last.len().min(80),
    };
    &last[..cut]
}

/// Pads content of `size` bytes to the 512-byte block boundary.
pub(crate) fn pad(out: &mut (impl Write + ?Sized), size: u64) -> io::Result<()> {
    let rest = (512 - (size % 512) as usize) % 512;
    out.write_all(&[0u8; 512][..rest])
}

/// The end-of-archive marker: two zero blocks (as Go's archive/tar writes).
pub(crate) fn finish(out: &mut (impl Write + ?Sized)) -> io::Result<()> {
    out.write_all(&[0u8; 1024])
}
