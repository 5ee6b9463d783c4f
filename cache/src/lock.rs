//! One strata process per store at a time. sled opens a database in one process only, so a
//! second strata on the same root waits for the first to finish — saying once that it waits —
//! rather than failing on the spot. The lock is an `flock` on `root/lock`: the kernel drops it
//! when the holder exits, however it exits, so a killed strata never leaves a stale lock.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::fs::FlockOperation;
use rustix::io::Errno;

use crate::error::{Error, Result};

/// How often a waiting process retries.
const POLL: Duration = Duration::from_millis(50);

/// The held lock; released on drop (or process exit).
#[derive(Debug)]
pub struct RootLock {
    _file: File,
}

impl RootLock {
    /// Takes the lock on `root`, waiting up to `timeout`. `on_wait` is called once, when the
    /// lock turns out to be busy (the CLI prints a line).
    pub fn acquire(root: &Path, timeout: Duration, on_wait: &dyn Fn(&Path)) -> Result<RootLock> {
        let path: PathBuf = root.join("lock");
        let file = open_lock_file(&path)?;
        let started = Instant::now();
        let mut told = false;
        loop {
            let Err(err) = try_lock_exclusive(&file) else {
                return Ok(RootLock { _file: file });
            };
            if Errno::from_io_error(&err) != Some(Errno::WOULDBLOCK) {
                return Err(Error::io(&path, err));
            }
            if !told {
                on_wait(root);
                told = true;
            }
            if started.elapsed() >= timeout {
                return Err(Error::LockTimeout {
                    root: root.to_path_buf(),
                    seconds: timeout.as_secs(),
                });
            }
            std::thread::sleep(POLL);
        }
    }
}

/// Opens (creating it if needed) a file whose `flock` is a lock; its content is never used.
pub(crate) fn open_lock_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| Error::io(path, e))
}

/// Takes an exclusive `flock` on `file` without waiting (`EWOULDBLOCK` when another holds it);
/// the kernel drops it when the file is closed or the process exits.
pub(crate) fn try_lock_exclusive(file: &File) -> std::io::Result<()> {
    Ok(rustix::fs::flock(
        file,
        FlockOperation::NonBlockingLockExclusive,
    )?)
}

/// Parses a duration as the CLI takes it: plain seconds (`300`) or numbers with units `s`,
/// `m`, `h`, `d`, combinable (`5m`, `1h30m`). Used for `--lock-timeout` and prune's
/// `until=` filter.
pub fn parse_timeout(text: &str) -> std::result::Result<Duration, String> {
    let text = text.trim();
    let invalid = || format!("invalid duration {text:?} (use e.g. 300s, 5m, 1h)");
    if text.is_empty() {
        return Err(invalid());
    }
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    let mut total = 0u64;
    let mut number = String::new();
    for ch in text.chars() {
        if ch.is_ascii_digit() {
            number.push(ch);
            continue;
        }
        let value: u64 = number.parse().map_err(|_| invalid())?;
        number.clear();
        let unit = match ch {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => return Err(invalid()),
        };
        total = value
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("duration {text:?} is too long"))?;
    }
    if !number.is_empty() {
        return Err(format!("invalid duration {text:?}: a number needs a unit"));
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_parse() {
        assert_eq!(parse_timeout("300").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_timeout("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_timeout("1h30m").unwrap(), Duration::from_secs(5400));
        assert!(parse_timeout("5x").is_err());
        assert!(parse_timeout("1m5").is_err());
        assert_eq!(parse_timeout(" 300s ").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_timeout("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_timeout("2d").unwrap(), Duration::from_secs(172_800));
        for bad in [
            "",
            "s",
            "m5",
            "-5s",
            "1.5h",
            "5 m",
            "5M",
            "99999999999999999999h",
        ] {
            assert!(parse_timeout(bad).is_err(), "{bad:?}");
        }
        let err = parse_timeout("9999999999999999h").unwrap_err();
        assert!(err.contains("too long"), "{err}");
    }

    #[test]
    fn a_second_holder_waits_then_times_out_and_is_told_once() {
        let dir = tempfile::tempdir().unwrap();
        let _held = RootLock::acquire(dir.path(), Duration::ZERO, &|_| {}).unwrap();
        let told = std::cell::Cell::new(0);
        let err = RootLock::acquire(dir.path(), Duration::from_millis(200), &|_| {
            told.set(told.get() + 1)
        })
        .unwrap_err();
        assert!(matches!(err, Error::LockTimeout { .. }));
        assert_eq!(told.get(), 1);
    }
}
