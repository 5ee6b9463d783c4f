//! Running this test binary as a child process in a role, and opening stores.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use strata_cache::{OpenOptions, Store};

const CHILD: &str = "STRATA_CACHE_CHILD";
const ROOT: &str = "STRATA_CACHE_ROOT";

/// In a child: its role and the store root it works on. `None` in the parent.
pub fn child_role() -> Option<(String, PathBuf)> {
    let role = std::env::var(CHILD).ok()?;
    let root = std::env::var(ROOT).ok()?;
    Some((role, PathBuf::from(root)))
}

/// Re-runs exactly the test `test` (its path in this binary, e.g. `lock_tests::name`) in a
/// child process with `role`, stdout and stderr piped.
pub fn spawn_child(test: &str, role: &str, root: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, role)
        .env(ROOT, root)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Reads the child's stdout until a line containing `marker` (the harness prints its own
/// lines first), then keeps draining it in the background so the child never blocks.
pub fn wait_for(child: &mut Child, marker: &str) {
    use std::io::BufRead;
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(stdout).lines();
    loop {
        match lines.next() {
            Some(Ok(line)) if line.contains(marker) => break,
            Some(Ok(_)) => {}
            _ => panic!("child ended before printing {marker:?}"),
        }
    }
    std::thread::spawn(move || for _ in lines {});
}

/// Prints a marker line the parent waits for, flushed at once.
pub fn announce(marker: &str) {
    use std::io::Write;
    println!("{marker}");
    std::io::stdout().flush().unwrap();
}

/// Opens a store, printing `WAITING` on stderr if it has to wait for the lock.
pub fn open(root: &Path, timeout: Duration) -> strata_cache::Result<Store> {
    Store::open(
        root,
        &OpenOptions {
            lock_timeout: timeout,
            on_wait: &|_| eprintln!("WAITING"),
        },
    )
}

pub use strata_testkit::{is_root, skip, skip_unless};

/// Entries left in the store's `tmp/`.
pub fn tmp_entries(root: &Path) -> usize {
    std::fs::read_dir(root.join("tmp")).unwrap().count()
}
