//! The terminal side of `strata run -t`: a pseudo-terminal whose slave becomes the container's
//! stdio and controlling terminal, the host terminal in raw mode while it runs (so ^C, ^Z and
//! line editing reach the container's line discipline, as with docker -t), the master relayed
//! to strata's stdin and stdout, and the host window size passed on when it changes.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context as _;

/// A pseudo-terminal pair.
pub struct Pty {
    master: OwnedFd,
    slave: Option<OwnedFd>,
}

fn cvt(rc: libc::c_int, what: &str) -> anyhow::Result<libc::c_int> {
    if rc < 0 {
        Err(std::io::Error::last_os_error()).with_context(|| what.to_string())
    } else {
        Ok(rc)
    }
}

impl Pty {
    /// Opens a pty (from the host's `/dev/ptmx`) sized like strata's terminal, if it has one.
    pub fn open() -> anyhow::Result<Pty> {
        // SAFETY: posix_openpt family calls on a descriptor we own; ptsname_r into a stack buffer.
        unsafe {
            let fd = cvt(
                libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC),
                "posix_openpt",
            )?;
            let master = OwnedFd::from_raw_fd(fd);
            cvt(libc::grantpt(fd), "grantpt")?;
            cvt(libc::unlockpt(fd), "unlockpt")?;
            let mut name = [0 as libc::c_char; 128];
            let rc = libc::ptsname_r(fd, name.as_mut_ptr(), name.len());
            if rc != 0 {
                return Err(std::io::Error::from_raw_os_error(rc)).context("ptsname");
            }
            let slave = cvt(
                libc::open(
                    name.as_ptr(),
                    libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
                ),
                "opening the pty's slave",
            )?;
            let pty = Pty {
                master,
                slave: Some(OwnedFd::from_raw_fd(slave)),
            };
            if let Some(size) = host_size() {
                set_size(pty.master.as_raw_fd(), &size);
            }
            Ok(pty)
        }
    }

    /// The slave as the command's stdin, stdout and stderr; this side's copy is closed, so
    /// that the master sees the end once the container's processes are gone.
    pub fn slave_stdio(&mut self) -> anyhow::Result<[Stdio; 3]> {
        let slave = self
            .slave
            .take()
            .context("the pty's slave was handed out already")?;
        Ok([
            Stdio::from(slave.try_clone()?),
            Stdio::from(slave.try_clone()?),
            Stdio::from(slave),
        ])
    }

    /// Starts relaying: the master to stdout, stdin to the master (with `input`), and the
    /// host window size to the pty whenever it changes.
    pub fn relay(&self, input: bool) -> anyhow::Result<Relay> {
        let stop = Arc::new(AtomicBool::new(false));
        let reader = File::from(self.master.try_clone()?);
        let output = std::thread::spawn(move || {
            let mut reader = reader;
            let mut buf = [0u8; 8192];
            let mut out = std::io::stdout().lock();
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if out.write_all(&buf[..n]).and_then(|()| out.flush()).is_err() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    // EIO: every slave descriptor is closed, the container is gone.
                    Err(_) => break,
                }
            }
        });
        if input {
            let mut writer = File::from(self.master.try_clone()?);
            // Not joined: a read of the terminal blocks until the next key.
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut std::io::stdin().lock(), &mut writer);
            });
        }
        let master = self.master.try_clone()?;
        let resize_stop = Arc::clone(&stop);
        // Polled rather than on SIGWINCH: no signal handler shared with the forwarding ones,
        // and a resize shows within a tenth of a second.
        let resize = std::thread::spawn(move || {
            let mut last = host_size();
            while !resize_stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                let now = host_size();
                if let Some(size) = &now {
                    if last
                        .as_ref()
                        .is_none_or(|l| (l.ws_row, l.ws_col) != (size.ws_row, size.ws_col))
                    {
                        set_size(master.as_raw_fd(), size);
                    }
                }
                last = now;
            }
        });
        Ok(Relay {
            output,
            resize,
            stop,
        })
    }
}

/// The running relay threads.
pub struct Relay {
    output: JoinHandle<()>,
    resize: JoinHandle<()>,
    stop: Arc<AtomicBool>,
}

impl Relay {
    /// Waits until everything the container wrote is out, and stops the resize watch.
    pub fn finish(self) {
        let _ = self.output.join();
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.resize.join();
    }
}

/// strata's terminal size (stdout's, else stdin's).
fn host_size() -> Option<libc::winsize> {
    [1, 0].into_iter().find_map(|fd: RawFd| {
        // SAFETY: TIOCGWINSZ into a zeroed stack struct.
        unsafe {
            let mut size: libc::winsize = std::mem::zeroed();
            (libc::ioctl(fd, libc::TIOCGWINSZ, &mut size) == 0 && size.ws_col > 0).then_some(size)
        }
    })
}

fn set_size(master: RawFd, size: &libc::winsize) {
    // SAFETY: TIOCSWINSZ from a stack struct; the kernel signals the pty's foreground group.
    unsafe {
        libc::ioctl(master, libc::TIOCSWINSZ, size);
    }
}

/// The host terminal (stdin) in raw mode until dropped.
pub struct RawMode {
    saved: libc::termios,
}

impl RawMode {
    /// Puts stdin's terminal in raw mode.
    pub fn enter() -> anyhow::Result<RawMode> {
        // SAFETY: tcgetattr/tcsetattr on fd 0 with stack structs.
        unsafe {
            let mut saved: libc::termios = std::mem::zeroed();
            cvt(
                libc::tcgetattr(0, &mut saved),
                "reading the terminal's mode",
            )?;
            let mut raw = saved;
            libc::cfmakeraw(&mut raw);
            cvt(
                libc::tcsetattr(0, libc::TCSANOW, &raw),
                "setting the terminal to raw mode",
            )?;
            Ok(RawMode { saved })
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restores the saved termios on fd 0.
        unsafe {
            libc::tcsetattr(0, libc::TCSANOW, &self.saved);
        }
    }
}
