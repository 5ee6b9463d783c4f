//! The chroot executor against the namespaces sandbox: the same steps over the same snapshots
//! must leave upper dirs that make the same layer bytes (with `SOURCE_DATE_EPOCH`), step after
//! step, with each upper renamed into place as the store does. Root, overlayfs and Debian's
//! busybox-static are needed (skipped with a reason otherwise).

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::super::{
    sandbox_available, ExtraMount, MountFrom, NativeSandbox, Network, RunRequest, Security,
};
use super::*;
use strata_oci::{is_opaque, is_whiteout};
use strata_oci::{write_layer, LayerOptions};

const EPOCH: LayerOptions = LayerOptions {
    source_date_epoch: Some(1_700_000_000),
};

const APPLETS: [&str; 21] = [
    "sh", "echo", "cat", "id", "rm", "mkdir", "touch", "chmod", "chown", "ls", "test", "ln", "mv",
    "sleep", "mkfifo", "pwd", "cp", "true", "stat", "ps", "grep",
];

struct Fixture {
    dir: tempfile::TempDir,
    base: PathBuf,
}

fn fixture() -> Option<Fixture> {
    if !sandbox_available() {
        crate::skip_test("comparing with the namespaces sandbox needs root and overlayfs");
        return None;
    }
    if !Path::new("/bin/busybox").is_file() {
        crate::skip_test("/bin/busybox missing (apt-get install busybox-static)");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base");
    for sub in [
        "bin",
        "etc",
        "tmp",
        "old/sub/deeper",
        "home/app",
        "cache-dir",
    ] {
        fs::create_dir_all(base.join(sub)).unwrap();
    }
    fs::copy("/bin/busybox", base.join("bin/busybox")).unwrap();
    for applet in APPLETS {
        symlink("busybox", base.join("bin").join(applet)).unwrap();
    }
    fs::write(
        base.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
    )
    .unwrap();
    fs::write(base.join("etc/group"), "root:x:0:\napp:x:1000:\n").unwrap();
    fs::write(base.join("old/file"), "old").unwrap();
    fs::write(base.join("old/sub/deep"), "deep").unwrap();
    fs::write(base.join("old/sub/deeper/deepest"), "deepest").unwrap();
    fs::write(base.join("gone"), "bye").unwrap();
    fs::write(base.join("file-to-dir"), "f").unwrap();
    fs::write(base.join("cache-dir/image-file"), "image").unwrap();
    fs::write(base.join("linked-a"), "shared").unwrap();
    fs::hard_link(base.join("linked-a"), base.join("linked-b")).unwrap();
    symlink("old/file", base.join("pointer")).unwrap();
    std::os::unix::fs::chown(base.join("home/app"), Some(1000), Some(1000)).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(base.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    Some(Fixture { dir, base })
}

/// One step of a chain: the script, its user, its working directory and its mounts.
struct Step {
    script: &'static str,
    user: &'static str,
    cwd: &'static str,
    mounts: Vec<ExtraMount>,
}

fn step(script: &'static str) -> Step {
    Step {
        script,
        user: "",
        cwd: "/",
        mounts: Vec::new(),
    }
}

/// What one step gave: its layer's DiffID (None: no changes) and its output.
#[derive(Debug, PartialEq)]
struct Outcome {
    diff_id: Option<String>,
    stdout: String,
}

/// Runs `steps` as one stage through `executor`, each over the snapshots of the ones before
/// (the upper renamed to a snapshot name, as the store does); the DiffIDs and outputs.
fn chain(f: &Fixture, name: &str, executor: &dyn Executor, steps: &[Step]) -> Vec<Outcome> {
    let dir = f.dir.path().join(name);
    fs::create_dir_all(&dir).unwrap();
    let mut lowers = vec![f.base.clone()];
    let mut outcomes = Vec::new();
    for (n, step) in steps.iter().enumerate() {
        let upper = dir.join(format!("upper-{n}"));
        let work = dir.join(format!("work-{n}"));
        fs::create_dir(&upper).unwrap();
        fs::create_dir(&work).unwrap();
        let argv = vec!["/bin/sh".to_string(), "-c".into(), step.script.into()];
        let env = vec![("PATH".to_string(), "/bin".to_string())];
        let request = RunRequest {
            argv: &argv,
            env: &env,
            cwd: step.cwd,
            user: step.user,
            network: Network::Host,
            security: Security::Sandbox,
            lowers: &lowers,
            upper: &upper,
            work: &work,
            mounts: &step.mounts,
        };
        let stdout = Mutex::new(Vec::new());
        let sink = |stream: Stream, data: &[u8]| {
            if stream == Stream::Stdout {
                stdout.lock().unwrap().extend_from_slice(data);
            }
        };
        executor
            .run(&request, &sink)
            .unwrap_or_else(|e| panic!("{name} step {n} `{}`: {e}", step.script));
        let empty = fs::read_dir(&upper).unwrap().next().is_none();
        let diff_id = if empty {
            None
        } else {
            let summary = write_layer(&upper, &EPOCH, &mut std::io::sink()).unwrap();
            let snapshot = dir.join(format!("snapshot-{n}"));
            fs::rename(&upper, &snapshot).unwrap();
            lowers.insert(0, snapshot);
            Some(summary.diff_id.to_string())
        };
        outcomes.push(Outcome {
            diff_id,
            stdout: String::from_utf8(stdout.into_inner().unwrap()).unwrap(),
        });
    }
    outcomes
}

/// Runs `steps` in both modes and asserts the same layers and outputs; returns the chroot
/// executor's snapshot dir.
fn same_in_both(f: &Fixture, name: &str, steps: &[Step]) -> PathBuf {
    let native = NativeSandbox::new(f.dir.path());
    let expected = chain(f, &format!("{name}-namespaces"), &native, steps);
    let scratch = f.dir.path().join(format!("{name}-scratch"));
    let chroot = ChrootExecutor::new(&scratch);
    let got = chain(f, &format!("{name}-chroot"), &chroot, steps);
    for (n, (got, expected)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(
            got,
            expected,
            "{name}: step {n} `{}`\nchroot:\n{}\nnamespaces:\n{}",
            steps[n].script,
            listing(&f.dir.path().join(format!("{name}-chroot/snapshot-{n}"))),
            listing(&f.dir.path().join(format!("{name}-namespaces/snapshot-{n}"))),
        );
    }
    f.dir.path().join(format!("{name}-chroot"))
}

/// The layer tar's entries (path, type, owner, mode, mtime, size), for failure messages.
fn listing(snapshot: &Path) -> String {
    let mut bytes = Vec::new();
    if write_layer(snapshot, &EPOCH, &mut bytes).is_err() {
        return "(no layer)".into();
    }
    let mut out = String::new();
    for entry in tar::Archive::new(&bytes[..]).entries().unwrap() {
        let entry = entry.unwrap();
        let h = entry.header();
        out.push_str(&format!(
            "{} {:?} {}:{} {:o} {} {}\n",
            entry.path().unwrap().display(),
            h.entry_type(),
            h.uid().unwrap(),
            h.gid().unwrap(),
            h.mode().unwrap(),
            h.mtime().unwrap(),
            h.size().unwrap(),
        ));
    }
    out
}

#[test]
fn changes_of_every_kind_make_the_overlay_layer() {
    let Some(f) = fixture() else { return };
    let dir = same_in_both(
        &f,
        "kinds",
        &[
            step("echo new > /new && mkdir -p /a/b && echo x > /a/b/c && echo changed > /old/file"),
            step("chmod 700 /old && chown 1000:1000 /new && rm /gone && rm -rf /old/sub/deeper"),
            step("rm /pointer && ln -s gone-now /pointer && ln /new /a/hard && mkfifo /a/fifo"),
            step("rm -rf /old/sub && mkdir /old/sub && echo fresh > /old/sub/f"),
            step("rm -rf /a && echo file > /a && rm /file-to-dir && mkdir /file-to-dir"),
            step("touch -d 2020-01-01 /new && mv /old/file /moved && cat /moved"),
            step("cp -a /linked-a /linked-b /old/ && ls -l /linked-b"),
            step("mkdir /old/new.tmp && echo x > /old/new.tmp/x && mv /old/new.tmp /old/new"),
            step("true 3<> /cache-dir/image-file"),
            step("true"),
        ],
    );
    // The opaque and whiteout markers are overlay's own, where the writer reads them.
    assert!(is_opaque(&dir.join("snapshot-3/old/sub")));
    assert!(
        !is_opaque(&dir.join("snapshot-4/file-to-dir")),
        "it hides no directory"
    );
    assert!(
        dir.join("snapshot-8/cache-dir/image-file").is_file(),
        "a file opened for writing is copied up, as overlay does"
    );
    assert!(is_whiteout(
        &fs::symlink_metadata(dir.join("snapshot-1/gone")).unwrap()
    ));
    assert!(
        !dir.join("snapshot-9").exists(),
        "a step that changes nothing makes no layer"
    );
}

#[test]
fn users_working_directories_and_output_are_the_sandboxes() {
    let Some(f) = fixture() else { return };
    let mut as_app = step("id && pwd && echo mine > /home/app/owned");
    as_app.user = "app";
    as_app.cwd = "/home/app/made/here";
    let mut in_tmp = step("id -u && touch /tmp/x");
    in_tmp.user = "1000:1000";
    same_in_both(
        &f,
        "users",
        &[
            as_app,
            in_tmp,
            step("cat /etc/hostname; ls /dev/null /etc/resolv.conf /etc/hosts"),
        ],
    );
}

#[test]
fn mounts_are_copied_in_and_leave_nothing_in_the_layer() {
    let Some(f) = fixture() else { return };
    let cache = f.dir.path().join("cache");
    fs::create_dir(&cache).unwrap();
    fs::write(cache.join("kept"), "earlier").unwrap();
    let secret = f.dir.path().join("secret");
    fs::write(&secret, "s3cret").unwrap();
    let mounts = vec![
        ExtraMount {
            target: "/cache-dir".into(),
            source: MountFrom::Host(cache.clone()),
            readonly: false,
        },
        ExtraMount {
            target: "/run/secrets/token".into(),
            source: MountFrom::Host(secret),
            readonly: true,
        },
        ExtraMount {
            target: "/scratch".into(),
            source: MountFrom::Tmpfs { size: None },
            readonly: false,
        },
        ExtraMount {
            target: "/src".into(),
            source: MountFrom::Layers {
                lowers: vec![f.base.clone()],
                path: "/old".into(),
            },
            readonly: false,
        },
    ];
    let mut with_mounts = step(
        "cat /cache-dir/kept /run/secrets/token /src/file && echo new > /cache-dir/added \
         && echo t > /scratch/t && echo dropped > /src/file && echo made > /made",
    );
    with_mounts.mounts = mounts;
    let dir = same_in_both(
        &f,
        "mounts",
        &[with_mounts, step("cat /cache-dir/image-file /old/file")],
    );
    assert_eq!(fs::read_to_string(cache.join("added")).unwrap(), "new\n");
    assert_eq!(fs::read_to_string(cache.join("kept")).unwrap(), "earlier");
    assert!(dir.join("snapshot-0/made").is_file());
    assert!(!dir.join("snapshot-0/run").exists(), "no mount stub leaks");
}

#[test]
fn exit_codes_and_leftover_processes() {
    let Some(f) = fixture() else { return };
    let scratch = f.dir.path().join("scratch");
    let chroot = ChrootExecutor::new(&scratch);
    let argv = |script: &str| vec!["/bin/sh".to_string(), "-c".into(), script.into()];
    let env = vec![("PATH".to_string(), "/bin".to_string())];
    let run = |script: &str| {
        let upper = tempfile::tempdir_in(f.dir.path()).unwrap();
        let argv = argv(script);
        let request = RunRequest {
            argv: &argv,
            env: &env,
            cwd: "/",
            user: "",
            network: Network::Host,
            security: Security::Sandbox,
            lowers: std::slice::from_ref(&f.base),
            upper: upper.path(),
            work: upper.path(),
            mounts: &[],
        };
        chroot.run(&request, &|_, _| {})
    };
    match run("exit 3") {
        Err(Error::CommandFailed { code: 3, .. }) => {}
        other => panic!("expected exit code 3, got {other:?}"),
    }
    match run("no-such-command") {
        Err(Error::CommandFailed { code: 127, .. }) => {}
        other => panic!("expected exit code 127, got {other:?}"),
    }
    // A daemon left behind is killed when the command ends (its output pipe closes).
    let started = Instant::now();
    run("sleep 300 & echo started").unwrap();
    assert!(started.elapsed() < Duration::from_secs(60));
    let leftover = std::process::Command::new("pgrep")
        .args(["-f", "^sleep 300$"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(!leftover, "the background sleep was killed");
    // The command sees no `/proc` (a bind of the pod's would hand it the pod's root).
    let upper = tempfile::tempdir_in(f.dir.path()).unwrap();
    let argv = argv("test -e /proc/self/status || echo no-proc");
    let request = RunRequest {
        argv: &argv,
        env: &env,
        cwd: "/",
        user: "",
        network: Network::Host,
        security: Security::Sandbox,
        lowers: std::slice::from_ref(&f.base),
        upper: upper.path(),
        work: upper.path(),
        mounts: &[],
    };
    let out = Mutex::new(String::new());
    chroot
        .run(&request, &|_, data| {
            out.lock().unwrap().push_str(&String::from_utf8_lossy(data))
        })
        .unwrap();
    assert_eq!(
        out.into_inner().unwrap(),
        "no-proc\n",
        "no /proc in a chroot"
    );
}

#[test]
fn a_working_root_is_reused_along_a_stage_and_rebuilt_for_another_base() {
    let Some(f) = fixture() else { return };
    let scratch = f.dir.path().join("reuse-scratch");
    let chroot = ChrootExecutor::new(&scratch);
    let steps = [
        step("echo 1 > /one"),
        step("cat /one && echo 2 > /two"),
        step("cat /one /two"),
    ];
    let outcomes = chain(&f, "reuse", &chroot, &steps);
    assert_eq!(outcomes[2].stdout, "1\n2\n");
    let roots = || fs::read_dir(&scratch).unwrap().count();
    assert_eq!(roots(), 1, "one working root served the whole stage");
    // Another chain over the same base gets its own root: the first one holds other files.
    let other = chain(&f, "reuse-other", &chroot, &[step("test ! -e /one")]);
    assert_eq!(other[0].diff_id, None);
    assert_eq!(roots(), 2);
}

#[test]
fn the_unprivileged_marker_forms_make_the_same_layer_as_overlays_own() {
    if !crate::running_as_root() {
        crate::skip_test("the reference markers (a 0/0 device, a trusted xattr) need root");
        return;
    }
    use strata_oci::xattr;
    use strata_oci::{LayerStack, OPAQUE_XATTR, USER_OPAQUE_XATTR, USER_WHITEOUT_XATTR};
    let dir = tempfile::tempdir().unwrap();
    let lower = dir.path().join("lower");
    fs::create_dir_all(lower.join("d")).unwrap();
    fs::write(lower.join("a"), "a").unwrap();
    fs::write(lower.join("d/x"), "x").unwrap();
    let upper = |name: &str, privileged: bool| {
        let upper = dir.path().join(name);
        fs::create_dir_all(upper.join("d")).unwrap();
        fs::write(upper.join("d/new"), "new").unwrap();
        if privileged {
            entry::mknod(&upper.join("a"), libc::S_IFCHR, 0).unwrap();
            xattr::set(&upper.join("d"), OPAQUE_XATTR, b"y").unwrap();
        } else {
            fs::write(upper.join("a"), "").unwrap();
            xattr::set(&upper.join("a"), USER_WHITEOUT_XATTR, b"y").unwrap();
            xattr::set(&upper.join("d"), USER_OPAQUE_XATTR, b"y").unwrap();
        }
        entry::set_times(&upper.join("a"), (1, 0), (1, 0)).unwrap();
        entry::set_times(&upper.join("d"), (1, 0), (1, 0)).unwrap();
        upper
    };
    let (overlay, unprivileged) = (upper("overlay", true), upper("unprivileged", false));
    let layer = |upper: &Path| {
        let mut bytes = Vec::new();
        write_layer(upper, &EPOCH, &mut bytes).unwrap();
        bytes
    };
    assert_eq!(layer(&unprivileged), layer(&overlay));
    let view = LayerStack::new(vec![unprivileged.clone(), lower.clone()]);
    assert!(
        view.lookup("/a").unwrap().is_none(),
        "the whiteout hides /a"
    );
    let names: Vec<String> = view
        .read_dir("/d")
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["new"], "the opaque directory hides /d/x");
    // And a working root made from them is the merged view.
    let root = dir.path().join("root");
    fs::create_dir(&root).unwrap();
    root::apply_layer(&lower, &root).unwrap();
    root::apply_layer(&unprivileged, &root).unwrap();
    assert!(!root.join("a").exists());
    assert!(!root.join("d/x").exists());
    assert!(root.join("d/new").is_file());
}
