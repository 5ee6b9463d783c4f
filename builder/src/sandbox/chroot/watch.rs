//! Files the command opened for writing without changing them. overlayfs copies a lower file
//! up when it is opened with write access, changed or not (apt's and dpkg's lock files,
//! debconf's databases), so the namespaces sandbox's layer holds them; their stat does not
//! move. inotify reports each close of a file that was open for writing (`IN_CLOSE_WRITE`):
//! every directory of the first picture is watched while the command runs, and those names
//! join the step's changes.

use std::collections::{HashMap, HashSet};
use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use super::scan::{Node, Picture};

/// Runs `command` while watching the directories of `before` (a picture of `root`); returns
/// its result and the names (relative to the root) closed after writing. A watch that cannot
/// be added (the per-user watch limit) is reported through `warn`, and the names in that
/// directory are then only found by their stat.
pub fn during<T>(
    root: &Path,
    before: &Picture,
    warn: &dyn Fn(&str),
    command: impl FnOnce() -> T,
) -> (T, HashSet<PathBuf>) {
    // SAFETY: inotify_init1 takes flags only; the descriptor is owned once.
    let raw = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
    if raw < 0 {
        warn(&format!(
            "chroot isolation: inotify is not available ({}): files opened for writing but \
             left unchanged are not in the layer",
            io::Error::last_os_error()
        ));
        return (command(), HashSet::new());
    }
    // SAFETY: a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut dirs = HashMap::new();
    let mut failed = None;
    add_watches(
        &fd,
        root,
        Path::new(""),
        &before.root,
        &mut dirs,
        &mut failed,
    );
    if let Some(error) = failed {
        warn(&format!(
            "chroot isolation: cannot watch every directory ({error}; raise \
             fs.inotify.max_user_watches): files opened for writing but left unchanged may \
             be missing from the layer"
        ));
    }
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let reader = scope.spawn(|| read_events(&fd, &dirs, &stop));
        let result = command();
        stop.store(true, Ordering::Release);
        (result, reader.join().unwrap_or_default())
    })
}

fn add_watches(
    fd: &OwnedFd,
    host: &Path,
    rel: &Path,
    node: &Node,
    dirs: &mut HashMap<i32, PathBuf>,
    failed: &mut Option<io::Error>,
) {
    let Ok(path) = CString::new(host.as_os_str().as_bytes()) else {
        return;
    };
    let mask = libc::IN_CLOSE_WRITE | libc::IN_ONLYDIR | libc::IN_DONT_FOLLOW;
    // SAFETY: a NUL-terminated path and our inotify descriptor.
    let wd = unsafe { libc::inotify_add_watch(fd.as_raw_fd(), path.as_ptr(), mask) };
    if wd < 0 {
        failed.get_or_insert_with(io::Error::last_os_error);
        return;
    }
    dirs.insert(wd, rel.to_path_buf());
    for (name, child) in &node.children {
        if child.stat.is_dir() {
            add_watches(fd, &host.join(name), &rel.join(name), child, dirs, failed);
        }
    }
}

/// Reads events until `stop` is set and the queue is empty.
fn read_events(fd: &OwnedFd, dirs: &HashMap<i32, PathBuf>, stop: &AtomicBool) -> HashSet<PathBuf> {
    let mut touched = HashSet::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let stopping = stop.load(Ordering::Acquire);
        // SAFETY: read into our buffer from our non-blocking descriptor.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            parse(&buf[..n as usize], dirs, &mut touched);
            continue;
        }
        if stopping {
            return touched;
        }
        let mut poll = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll on one stack pollfd.
        unsafe { libc::poll(&mut poll, 1, 20) };
    }
}

fn parse(mut events: &[u8], dirs: &HashMap<i32, PathBuf>, touched: &mut HashSet<PathBuf>) {
    const HEADER: usize = std::mem::size_of::<libc::inotify_event>();
    while events.len() >= HEADER {
        // SAFETY: the kernel wrote a whole event header here; read unaligned.
        let event: libc::inotify_event =
            unsafe { std::ptr::read_unaligned(events.as_ptr().cast()) };
        let end = HEADER + event.len as usize;
        let name = &events[HEADER..end.min(events.len())];
        let name = &name[..name.iter().position(|b| *b == 0).unwrap_or(name.len())];
        if event.mask & libc::IN_CLOSE_WRITE != 0 && !name.is_empty() {
            if let Some(dir) = dirs.get(&event.wd) {
                touched.insert(dir.join(OsStr::from_bytes(name)));
            }
        }
        events = &events[end.min(events.len())..];
    }
}
