//! The terminal side of `strata run -t`: a pseudo-terminal whose slave becomes the container's
//! stdio and controlling terminal, the host terminal in raw mode while it runs (so ^C, ^Z and
//! line editing reach the container's line discipline, as with docker -t), the master relayed
//! to strata's stdin and stdout, and the host window size passed on when it changes.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context as _;
use rustix::termios::{OptionalActions, Termios, Winsize};

/// The master side of the container's terminal (made in the container, see the sandbox's
/// `Session::tty`).
pub struct Pty {
    master: OwnedFd,
}

impl Pty {
    /// The pty whose master is `master`.
    pub fn new(master: OwnedFd) -> Pty {
        Pty { master }
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
            let mut last = terminal_size();
            while !resize_stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                let now = terminal_size();
                if let Some(size) = now {
                    if last.is_none_or(|l| (l.ws_row, l.ws_col) != (size.ws_row, size.ws_col)) {
                        // The kernel signals the pty's foreground group; a failure only
                        // leaves the old size.
                        let _ = rustix::termios::tcsetwinsize(&master, size);
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

/// strata's terminal size (stdout's, else stdin's), as the sandbox takes it.
pub fn host_size() -> Option<libc::winsize> {
    terminal_size().map(|size| libc::winsize {
        ws_row: size.ws_row,
        ws_col: size.ws_col,
        ws_xpixel: size.ws_xpixel,
        ws_ypixel: size.ws_ypixel,
    })
}

/// strata's terminal size (stdout's, else stdin's); none when neither is a terminal.
fn terminal_size() -> Option<Winsize> {
    let of = |fd: BorrowedFd<'_>| {
        let size = rustix::termios::tcgetwinsize(fd).ok()?;
        (size.ws_col > 0).then_some(size)
    };
    of(std::io::stdout().as_fd()).or_else(|| of(std::io::stdin().as_fd()))
}

/// The host terminal (stdin) in raw mode until dropped.
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// Puts stdin's terminal in raw mode (as cfmakeraw does).
    pub fn enter() -> anyhow::Result<RawMode> {
        let stdin = std::io::stdin();
        let saved = rustix::termios::tcgetattr(&stdin)
            .map_err(std::io::Error::from)
            .context("reading the terminal's mode")?;
        let mut raw = saved.clone();
        raw.make_raw();
        rustix::termios::tcsetattr(&stdin, OptionalActions::Now, &raw)
            .map_err(std::io::Error::from)
            .context("setting the terminal to raw mode")?;
        Ok(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = rustix::termios::tcsetattr(std::io::stdin(), OptionalActions::Now, &self.saved);
    }
}
