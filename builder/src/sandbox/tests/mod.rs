//! Real commands in the real sandbox (root and Debian's busybox-static needed; skipped with a
//! reason otherwise).

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::*;
use crate::error::Error;
use crate::layer::{write_layer, LayerOptions};
use crate::rootfs::{is_opaque, is_whiteout};

const APPLETS: [&str; 16] = [
    "sh", "echo", "cat", "id", "hostname", "ps", "rm", "mkdir", "touch", "chmod", "ls", "test",
    "grep", "true", "false", "sleep",
];

struct Fixture {
    dir: tempfile::TempDir,
    base: PathBuf,
}

fn fixture() -> Option<Fixture> {
    if !sandbox_available() {
        eprintln!("skipping: the sandbox needs root and overlayfs");
        return None;
    }
    if !Path::new("/bin/busybox").is_file() {
        eprintln!("skipping: /bin/busybox missing (apt-get install busybox-static)");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base");
    for sub in ["bin", "etc", "tmp", "old/sub"] {
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
    fs::write(
        base.join("etc/group"),
        "root:x:0:\napp:x:1000:\nstaff:x:50:app\n",
    )
    .unwrap();
    fs::write(base.join("old/file"), "old").unwrap();
    fs::write(base.join("old/sub/deep"), "deep").unwrap();
    fs::write(base.join("gone"), "bye").unwrap();
    Some(Fixture { dir, base })
}

struct Run {
    upper: PathBuf,
    stdout: String,
    result: crate::Result<()>,
}

impl Fixture {
    fn run_with(&self, script: &str, user: &str, network: Network, cwd: &str) -> Run {
        let n = fs::read_dir(self.dir.path()).unwrap().count();
        let upper = self.dir.path().join(format!("upper{n}"));
        let work = self.dir.path().join(format!("work{n}"));
        fs::create_dir(&upper).unwrap();
        fs::create_dir(&work).unwrap();
        let argv = vec!["/bin/sh".to_string(), "-c".to_string(), script.to_string()];
        let env = vec![("PATH".to_string(), "/bin".to_string())];
        let lowers = vec![self.base.clone()];
        let request = RunRequest {
            argv: &argv,
            env: &env,
            cwd,
            user,
            network,
            lowers: &lowers,
            upper: &upper,
            work: &work,
        };
        let out = Mutex::new(Vec::new());
        let sink = |stream: crate::progress::Stream, data: &[u8]| {
            if stream == crate::progress::Stream::Stdout {
                out.lock().unwrap().extend_from_slice(data);
            }
        };
        let sandbox = NativeSandbox::new(self.dir.path());
        let result = sandbox.run(&request, &sink);
        Run {
            upper,
            stdout: String::from_utf8(out.into_inner().unwrap()).unwrap(),
            result,
        }
    }

    fn run(&self, script: &str) -> Run {
        self.run_with(script, "", Network::Host, "/")
    }
}

#[test]
fn output_streams_and_failures_report_the_exit_code() {
    let Some(f) = fixture() else { return };
    let run = f.run("echo hello; echo to-stderr >&2");
    run.result.unwrap();
    assert_eq!(run.stdout, "hello\n");
    let run = f.run("exit 3");
    match run.result {
        Err(Error::CommandFailed { code, .. }) => assert_eq!(code, 3),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn changes_land_in_the_upper_dir_as_overlay_diffs() {
    let Some(f) = fixture() else { return };
    let run = f.run("echo new > /new && echo changed > /old/file && rm /gone && rm -rf /old/sub && mkdir /old/sub && touch /old/sub/fresh && chmod 600 /new");
    run.result.unwrap();
    assert_eq!(fs::read_to_string(run.upper.join("new")).unwrap(), "new\n");
    assert_eq!(
        fs::read_to_string(run.upper.join("old/file")).unwrap(),
        "changed\n"
    );
    assert!(is_whiteout(
        &fs::symlink_metadata(run.upper.join("gone")).unwrap()
    ));
    assert!(
        is_opaque(&run.upper.join("old/sub")),
        "a re-created directory is opaque"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(run.upper.join("new"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
}

#[test]
fn mount_points_do_not_leak_into_the_layer() {
    let Some(f) = fixture() else { return };
    // The base has no /proc, /dev, /sys, /etc/hosts, /etc/resolv.conf, /etc/hostname.
    let run = f.run("cat /etc/hostname > /dev/null && ls /proc/self > /dev/null");
    run.result.unwrap();
    let left: Vec<String> = fs::read_dir(&run.upper)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.is_empty(), "upper must be empty, has {left:?}");
}

#[test]
fn isolation_hostname_pid_one_and_host_invisible() {
    let Some(f) = fixture() else { return };
    let marker = f.dir.path().join("host-only");
    fs::write(&marker, "secret").unwrap();
    let run = f.run(&format!(
        "hostname; echo $$; ps | grep -c . ; test -e {} && echo visible || echo invisible",
        marker.display()
    ));
    run.result.unwrap();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[0], "buildkitsandbox");
    assert_eq!(lines[1], "1", "the command is pid 1 of its namespace");
    let processes: usize = lines[2].trim().parse().unwrap();
    assert!(
        processes <= 5,
        "host processes are invisible: {processes} lines of ps"
    );
    assert_eq!(lines[3], "invisible");
}

#[test]
fn user_switching_resolves_names_and_groups() {
    let Some(f) = fixture() else { return };
    let run = f.run_with("id -u; id -g; id -G; echo $HOME", "app", Network::Host, "/");
    run.result.unwrap();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[0], "1000");
    assert_eq!(lines[1], "1000");
    assert!(
        lines[2].split(' ').any(|g| g == "50"),
        "supplementary group staff: {}",
        lines[2]
    );
    assert_eq!(lines[3], "/home/app");
    let run = f.run_with("id -u; id -g", "5:6", Network::Host, "/");
    run.result.unwrap();
    assert_eq!(run.stdout, "5\n6\n");
    let run = f.run_with("true", "nobody-here", Network::Host, "/");
    assert!(run.result.unwrap_err().to_string().contains("nobody-here"));
}

#[test]
fn network_none_has_only_loopback() {
    let Some(f) = fixture() else { return };
    let run = f.run_with("ls /sys/class/net", "", Network::None, "/");
    run.result.unwrap();
    assert_eq!(run.stdout.split_whitespace().collect::<Vec<_>>(), ["lo"]);
}

#[test]
fn capabilities_are_dockers_default_set_and_no_new_privs_is_set() {
    let Some(f) = fixture() else { return };
    let run = f.run("grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status");
    run.result.unwrap();
    assert!(
        run.stdout.contains("CapEff:\t00000000a80425fb"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("CapBnd:\t00000000a80425fb"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("NoNewPrivs:\t1"), "{}", run.stdout);
}

#[test]
fn the_working_directory_is_created_and_entered() {
    let Some(f) = fixture() else { return };
    let run = f.run_with(
        "pwd_output=$(pwd); echo $pwd_output",
        "",
        Network::Host,
        "/srv/app",
    );
    run.result.unwrap();
    assert_eq!(run.stdout, "/srv/app\n");
    assert!(run.upper.join("srv/app").is_dir());
}

#[test]
fn nothing_stays_mounted_and_identical_runs_give_identical_layers() {
    let Some(f) = fixture() else { return };
    let options = LayerOptions {
        source_date_epoch: Some(1_700_000_000),
    };
    let mut diff_ids = Vec::new();
    for _ in 0..2 {
        let run = f.run("echo same > /file && mkdir -p /a/b && echo x > /a/b/c");
        run.result.unwrap();
        diff_ids.push(
            write_layer(&run.upper, &options, &mut std::io::sink())
                .unwrap()
                .diff_id,
        );
    }
    assert_eq!(diff_ids[0], diff_ids[1]);
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(f.dir.path().to_str().unwrap()),
        "a sandbox mount leaked:\n{mounts}"
    );
}

#[test]
fn long_layer_chains_mount() {
    let Some(f) = fixture() else { return };
    let mut lowers = Vec::new();
    for i in 0..220 {
        let layer = f
            .dir
            .path()
            .join(format!("layer-with-a-long-name-to-fill-the-options-{i:04}"));
        fs::create_dir(&layer).unwrap();
        fs::write(layer.join(format!("f{i}")), "x").unwrap();
        lowers.push(layer);
    }
    lowers.push(f.base.clone());
    let upper = f.dir.path().join("upper-long");
    let work = f.dir.path().join("work-long");
    fs::create_dir(&upper).unwrap();
    fs::create_dir(&work).unwrap();
    let argv = vec![
        "/bin/sh".to_string(),
        "-c".to_string(),
        "cat /f0 /f219".to_string(),
    ];
    let env = vec![("PATH".to_string(), "/bin".to_string())];
    let request = RunRequest {
        argv: &argv,
        env: &env,
        cwd: "/",
        user: "",
        network: Network::Host,
        lowers: &lowers,
        upper: &upper,
        work: &work,
    };
    let out = Mutex::new(Vec::new());
    NativeSandbox::new(f.dir.path())
        .run(&request, &|_, d: &[u8]| {
            out.lock().unwrap().extend_from_slice(d)
        })
        .unwrap();
    assert_eq!(out.into_inner().unwrap(), b"xx");
}

/// The killed-build test's child: runs `sleep` in the sandbox until it is killed.
fn killed_child() {
    let Some(f) = fixture() else {
        std::process::exit(0)
    };
    let marker = std::env::var("STRATA_SANDBOX_MARKER").unwrap();
    let run = f.run(&format!("sleep 1000; echo {marker}"));
    let _ = run;
    std::process::exit(0);
}

#[test]
fn a_killed_build_leaves_no_process_and_no_mount() {
    if std::env::var_os("STRATA_SANDBOX_CHILD").is_some() {
        killed_child();
    }
    let Some(_f) = fixture() else { return };
    let marker = format!("strata-kill-test-{}", std::process::id());
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "sandbox::tests::a_killed_build_leaves_no_process_and_no_mount",
            "--exact",
            "--nocapture",
        ])
        .env("STRATA_SANDBOX_CHILD", "1")
        .env("STRATA_SANDBOX_MARKER", &marker)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let sandboxed = || {
        fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| fs::read(e.ok()?.path().join("cmdline")).ok())
            .filter(|cmdline| String::from_utf8_lossy(cmdline).contains(&marker))
            .count()
    };
    let started = std::time::Instant::now();
    while sandboxed() == 0 {
        if started.elapsed().as_secs() >= 20 {
            let _ = child.kill();
            panic!("the sandboxed command never started");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let killed_at = std::time::Instant::now();
    while sandboxed() > 0 {
        assert!(
            killed_at.elapsed().as_secs() < 10,
            "the sandboxed command outlived the build"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains("merged"),
        "a sandbox mount leaked:\n{mounts}"
    );
}
