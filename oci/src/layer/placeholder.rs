//! Device nodes where none can be made. Inside a user namespace (rootless mode) `mknod` of a
//! character or block device fails, yet base images carry `/dev/null` and friends in their
//! layers. Such a node is kept in the snapshot as an empty regular file carrying
//! [`DEVICE_XATTR`] (`c 1 3`), and the layer writer turns it back into the device entry: the
//! snapshot regenerates the layer it came from byte for byte, so image IDs are the same as in
//! root mode. Nothing is lost at run time: the sandbox mounts its own `/dev`, and a node
//! elsewhere in the root could not be opened there anyway (it is `nodev`).

use std::io;
use std::path::Path;

use rustix::fs::{major, minor, Dev, FileType, Mode, CWD};
use rustix::io::Errno;

use super::tar_format::EntryType;
use super::xattr;

/// The xattr naming the device a placeholder stands for: `c MAJOR MINOR` or `b MAJOR MINOR`.
pub(super) const DEVICE_XATTR: &str = "user.strata.device";

/// `mknod` with mode 0600; a character or block device the kernel refuses in a user namespace
/// becomes a placeholder (an empty file, mode 0600 until the caller sets the entry's).
pub(super) fn make_node(path: &Path, file_type: FileType, dev: Dev) -> io::Result<()> {
    let mode = Mode::RUSR | Mode::WUSR;
    let error = match rustix::fs::mknodat(CWD, path, file_type, mode, dev) {
        Ok(()) => return Ok(()),
        Err(error) => error,
    };
    let kind = match file_type {
        FileType::CharacterDevice => 'c',
        FileType::BlockDevice => 'b',
        _ => return Err(error.into()),
    };
    if error != Errno::PERM || !crate::rootfs::in_user_namespace() {
        return Err(error.into());
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    let value = format!("{kind} {} {}", major(dev), minor(dev));
    xattr::set(path, DEVICE_XATTR, value.as_bytes())
}

/// The device the file at `path` stands for, if it is a placeholder (for readers that walk
/// snapshots without listing every xattr, as `export` does). Only empty files can be.
pub(crate) fn device_at(path: &Path, meta: &std::fs::Metadata) -> Option<(EntryType, u32, u32)> {
    if !meta.is_file() || meta.len() != 0 {
        return None;
    }
    let value = xattr::get(path, DEVICE_XATTR).ok()??;
    device_of(&[(DEVICE_XATTR.to_string(), value)])
}

/// The device an empty regular file with these xattrs stands for: its entry type and device
/// numbers; `None` for an ordinary file.
pub(super) fn device_of(xattrs: &[(String, Vec<u8>)]) -> Option<(EntryType, u32, u32)> {
    let (_, value) = xattrs.iter().find(|(name, _)| name == DEVICE_XATTR)?;
    let text = std::str::from_utf8(value).ok()?;
    let mut fields = text.split(' ');
    let kind = match fields.next()? {
        "c" => EntryType::CharDevice,
        "b" => EntryType::BlockDevice,
        _ => return None,
    };
    let major = fields.next()?.parse().ok()?;
    let minor = fields.next()?.parse().ok()?;
    fields.next().is_none().then_some((kind, major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(value: &str) -> Vec<(String, Vec<u8>)> {
        vec![
            ("user.other".into(), b"x".to_vec()),
            (DEVICE_XATTR.into(), value.as_bytes().to_vec()),
        ]
    }

    #[test]
    fn placeholders_name_their_device() {
        assert_eq!(
            device_of(&attrs("c 1 3")),
            Some((EntryType::CharDevice, 1, 3))
        );
        assert_eq!(
            device_of(&attrs("b 8 16")),
            Some((EntryType::BlockDevice, 8, 16))
        );
        for bad in [
            "", "c", "c 1", "c 1 3 4", "p 1 3", "c one 3", "c -1 3", "c 1  3",
        ] {
            assert_eq!(device_of(&attrs(bad)), None, "{bad:?}");
        }
        assert_eq!(device_of(&[]), None);
    }
}
