//! Moving this process into the user namespace rootless mode runs in, as `buildah unshare` and
//! `unshare --map-auto` do: root inside is the user, ids 1… are the user's subordinate ranges.
//!
//! Only a process in the parent namespace may write a multi-range map, and only through the
//! setuid `newuidmap`/`newgidmap` (which check `/etc/subuid`/`/etc/subgid`): so a helper is
//! forked first, strata unshares its user namespace, the helper maps it from outside and
//! exits, and strata goes on as namespace root — same pid, no re-exec, its caller sees its exit
//! code and signals directly. Without subordinate ranges (or the helpers) a process may still
//! map its own id alone, which is what it then does.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::subid::SubidRange;
use crate::error::{Error, Result};

/// One line of a uid or gid map: `count` ids from `inside` are `outside` on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdMapping {
    /// First id in the namespace.
    pub inside: u32,
    /// First id on the host.
    pub outside: u32,
    /// How many.
    pub count: u32,
}

/// How the user namespace maps ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdMaps {
    /// The uid map.
    pub uids: Vec<IdMapping>,
    /// The gid map.
    pub gids: Vec<IdMapping>,
    /// `newuidmap` and `newgidmap`, which write maps with subordinate ranges; without them
    /// only the single-id map can be written.
    pub helpers: Option<(PathBuf, PathBuf)>,
}

impl IdMaps {
    /// Root inside is `uid`/`gid`; the subordinate ranges follow from id 1, in order.
    pub fn with_ranges(
        (uid, gid): (u32, u32),
        subuids: &[SubidRange],
        subgids: &[SubidRange],
        helpers: (PathBuf, PathBuf),
    ) -> IdMaps {
        let map = |own: u32, ranges: &[SubidRange]| {
            let mut out = vec![IdMapping {
                inside: 0,
                outside: own,
                count: 1,
            }];
            let mut next = 1u32;
            for range in ranges {
                let count = range.count.min(u32::MAX - next);
                if count == 0 {
                    break;
                }
                out.push(IdMapping {
                    inside: next,
                    outside: range.start,
                    count,
                });
                next += count;
            }
            out
        };
        IdMaps {
            uids: map(uid, subuids),
            gids: map(gid, subgids),
            helpers: Some(helpers),
        }
    }

    /// Root inside is `uid`/`gid` and nothing else is mapped.
    pub fn single((uid, gid): (u32, u32)) -> IdMaps {
        let one = |outside| {
            vec![IdMapping {
                inside: 0,
                outside,
                count: 1,
            }]
        };
        IdMaps {
            uids: one(uid),
            gids: one(gid),
            helpers: None,
        }
    }

    /// How many ids the namespace has beyond root (uids; gids are alike in practice).
    pub fn subordinate_uids(&self) -> u64 {
        self.uids.iter().skip(1).map(|m| u64::from(m.count)).sum()
    }

    /// The arguments `newuidmap PID …` takes for a map: `inside outside count` triples.
    fn helper_args(map: &[IdMapping]) -> Vec<String> {
        map.iter()
            .flat_map(|m| [m.inside, m.outside, m.count])
            .map(|n| n.to_string())
            .collect()
    }

    /// The text of `/proc/PID/uid_map` (or `gid_map`) for a map.
    fn map_text(map: &[IdMapping]) -> String {
        map.iter()
            .map(|m| format!("{} {} {}\n", m.inside, m.outside, m.count))
            .collect()
    }
}

fn failed(what: &str) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Sandbox {
        what: what.to_string(),
        source,
    }
}

/// Moves this process into a new user namespace mapped as `maps` says, then into a new mount
/// namespace owned by it (with every mount private), as its root with every capability
/// there. Must be called before any thread starts: the kernel refuses to move a
/// multi-threaded process (`EINVAL`).
pub fn enter(maps: &IdMaps) -> Result<()> {
    match &maps.helpers {
        Some((newuidmap, newgidmap)) => enter_with_helpers(maps, newuidmap, newgidmap)?,
        None => {
            unshare(libc::CLONE_NEWUSER).map_err(failed("creating a user namespace"))?;
            // An unprivileged process may map its own ids only, and the gid map only once
            // setgroups is denied (else it could drop a group that restricts it).
            let write = |file: &str, text: &str| {
                std::fs::write(format!("/proc/self/{file}"), text)
                    .map_err(failed("writing the user namespace's id maps"))
            };
            write("setgroups", "deny")?;
            write("uid_map", &IdMaps::map_text(&maps.uids))?;
            write("gid_map", &IdMaps::map_text(&maps.gids))?;
        }
    }
    unshare(libc::CLONE_NEWNS).map_err(failed("creating a mount namespace"))?;
    // SAFETY: mount with a NUL-terminated literal and null pointers.
    let rc = unsafe {
        libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(failed("making the mount tree private")(
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}

fn unshare(flags: libc::c_int) -> io::Result<()> {
    // SAFETY: unshare takes plain flags.
    if unsafe { libc::unshare(flags) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The helper way: fork, unshare here, let the helper run `newuidmap`/`newgidmap` on us.
fn enter_with_helpers(
    maps: &IdMaps,
    newuidmap: &std::path::Path,
    newgidmap: &std::path::Path,
) -> Result<()> {
    let what = "mapping the user namespace's ids";
    let (mut go_reader, mut go_writer) = io::pipe().map_err(failed(what))?;
    let (mut report_reader, report_writer) = io::pipe().map_err(failed(what))?;
    // SAFETY: getpid has no preconditions.
    let target = unsafe { libc::getpid() };
    let commands = [
        (newuidmap, IdMaps::helper_args(&maps.uids)),
        (newgidmap, IdMaps::helper_args(&maps.gids)),
    ];
    // SAFETY: this process has a single thread (see `enter`), so the child may run ordinary
    // code; it ends with `_exit` and never returns into the caller.
    let helper = unsafe { libc::fork() };
    if helper < 0 {
        return Err(failed(what)(io::Error::last_os_error()));
    }
    if helper == 0 {
        drop(go_writer);
        drop(report_reader);
        let code = map_from_outside(&mut go_reader, report_writer, target, &commands);
        // SAFETY: ends the helper without running the parent's destructors.
        unsafe { libc::_exit(code) };
    }
    drop(go_reader);
    drop(report_writer);
    let unshared = unshare(libc::CLONE_NEWUSER);
    if unshared.is_ok() {
        let _ = go_writer.write_all(b"m");
    }
    // Closing the pipe lets the helper go on (or end, if there is nothing to map).
    drop(go_writer);
    let mut report = String::new();
    let _ = report_reader.read_to_string(&mut report);
    let mut status = 0;
    // SAFETY: waiting for the helper forked above.
    unsafe { libc::waitpid(helper, &mut status, 0) };
    unshared.map_err(failed("creating a user namespace"))?;
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 || !report.is_empty() {
        let report = if report.is_empty() {
            "the helper process failed".to_string()
        } else {
            report
        };
        return Err(failed(what)(io::Error::other(report.trim().to_string())));
    }
    Ok(())
}

/// The helper: waits for strata to have unshared, then maps it; says what went wrong on
/// `report` and returns the exit code.
fn map_from_outside(
    go: &mut io::PipeReader,
    mut report: io::PipeWriter,
    target: libc::pid_t,
    commands: &[(&std::path::Path, Vec<String>); 2],
) -> i32 {
    let mut byte = [0u8; 1];
    if !matches!(go.read(&mut byte), Ok(1)) {
        return 0;
    }
    // Both at once: each is an exec of a setuid program, about a millisecond apiece here,
    // paid by every rootless command.
    let spawned: Vec<_> = commands
        .iter()
        .map(|(program, args)| {
            let child = Command::new(program)
                .arg(target.to_string())
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn();
            (program, args, child)
        })
        .collect();
    let mut problems = Vec::new();
    for (program, args, child) in spawned {
        let problem = match child.and_then(|child| child.wait_with_output()) {
            Ok(output) if output.status.success() => continue,
            Ok(output) => format!(
                "`{} {target} {}` failed ({}): {}",
                program.display(),
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
            Err(e) => format!("running `{}`: {e}", program.display()),
        };
        problems.push(problem);
    }
    if problems.is_empty() {
        return 0;
    }
    let _ = report.write_all(problems.join("; ").as_bytes());
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(start: u32, count: u32) -> SubidRange {
        SubidRange { start, count }
    }

    #[test]
    fn subordinate_ranges_follow_root_from_id_one() {
        let helpers = (PathBuf::from("/usr/bin/newuidmap"), PathBuf::from("/x"));
        let maps = IdMaps::with_ranges(
            (1001, 1002),
            &[range(100000, 65536), range(300000, 10)],
            &[range(200000, 65536)],
            helpers,
        );
        assert_eq!(
            IdMaps::map_text(&maps.uids),
            "0 1001 1\n1 100000 65536\n65537 300000 10\n"
        );
        assert_eq!(
            IdMaps::helper_args(&maps.gids),
            ["0", "1002", "1", "1", "200000", "65536"]
        );
        assert_eq!(maps.subordinate_uids(), 65546);
        let single = IdMaps::single((1001, 1002));
        assert_eq!(IdMaps::map_text(&single.gids), "0 1002 1\n");
        assert_eq!(single.subordinate_uids(), 0);
        assert!(single.helpers.is_none());
    }

    #[test]
    fn ranges_past_the_last_id_are_cut() {
        let maps = IdMaps::with_ranges(
            (1, 1),
            &[range(10, u32::MAX - 1), range(5, 5)],
            &[],
            (PathBuf::new(), PathBuf::new()),
        );
        assert_eq!(maps.uids.len(), 2);
        assert_eq!(maps.uids[1].count, u32::MAX - 1);
        assert_eq!(maps.gids.len(), 1);
    }
}
