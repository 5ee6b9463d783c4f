//! The command itself: output, exit codes and signals, setup errors, user, environment,
//! working directory, capabilities, and a killed build.

use std::fs;

use super::*;
use crate::error::Error;

#[test]
fn output_streams_and_failures_report_the_exit_code() {
    let Some(f) = fixture() else { return };
    let run = f.run("echo hello; echo to-stderr >&2");
    run.result.unwrap();
    assert_eq!(run.stdout, "hello\n");
    assert_eq!(run.stderr, "to-stderr\n");
    let run = f.run("exit 3");
    match run.result {
        Err(Error::CommandFailed { code, signal, .. }) => assert_eq!((code, signal), (3, None)),
        other => panic!("expected a failure, got {other:?}"),
    }
    let run = f.sh("true").env("X", "1").run();
    run.result.unwrap();
}

/// Finds the host pid of a process whose command line contains `marker`.
fn host_pid_of(marker: &str) -> Option<i32> {
    fs::read_dir("/proc").ok()?.find_map(|e| {
        let e = e.ok()?;
        let pid: i32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = fs::read(e.path().join("cmdline")).ok()?;
        // The sandboxed `sleep`, not the test binary whose arguments may hold the marker.
        let text = String::from_utf8_lossy(&cmdline);
        (text.starts_with("sleep\0") && text.contains(marker)).then_some(pid)
    })
}

#[test]
fn a_command_killed_by_a_signal_reports_it() {
    let Some(f) = fixture() else { return };
    // `sleep` is exec'd as pid 1 of the sandbox; SIGKILL from the host's namespace reaches it.
    let marker = format!("{}.123", std::process::id() % 1000 + 1000);
    std::thread::scope(|scope| {
        let killer = scope.spawn(|| {
            let started = std::time::Instant::now();
            loop {
                if let Some(pid) = host_pid_of(&marker) {
                    // SAFETY: kill has no memory effects.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    return;
                }
                assert!(started.elapsed().as_secs() < 20, "sleep never started");
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        });
        let run = f.run(&format!("exec sleep {marker}"));
        killer.join().unwrap();
        let err = run.result.unwrap_err();
        match &err {
            Error::CommandFailed { code, signal, .. } => {
                assert_eq!((*code, *signal), (137, Some(libc::SIGKILL)))
            }
            other => panic!("expected a failure, got {other:?}"),
        }
        assert!(
            err.to_string()
                .ends_with("exit code: 137 (killed by signal 9, SIGKILL)"),
            "{err}"
        );
    });
}

#[test]
fn a_failed_setup_step_is_named() {
    let Some(f) = fixture() else { return };
    // The working directory cannot be made: `/old/file` is a file.
    let run = f.sh("true").cwd("/old/file/sub").run();
    let err = run.result.unwrap_err().to_string();
    assert!(
        err.contains("entering the working directory") && err.contains("Not a directory"),
        "{err}"
    );
    let run = f.sh("true").over(&[]).run();
    run.result.unwrap();
    let missing = Fixture::sh(&f, "true");
    let missing = Step {
        argv: vec!["/bin/no-such-program".into()],
        ..missing
    };
    let err = missing.run().result.unwrap_err().to_string();
    assert!(err.contains("no such file or directory"), "{err}");
}

#[test]
fn user_switching_resolves_names_and_groups() {
    let Some(f) = fixture() else { return };
    let run = f.sh("id -u; id -g; id -G; echo $HOME").user("app").run();
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
    let run = f.sh("id -u; id -g").user("5:6").run();
    run.result.unwrap();
    assert_eq!(run.stdout, "5\n6\n");
    let run = f.sh("id -u; id -g; id -G").user("app:staff").run();
    run.result.unwrap();
    assert_eq!(run.stdout, "1000\n50\n50\n");
    let run = f.sh("id -u; id -g").user("1000").run();
    run.result.unwrap();
    assert_eq!(
        run.stdout, "1000\n1000\n",
        "a known uid takes its passwd group"
    );
    let run = f.sh("true").user("nobody-here").run();
    assert!(run.result.unwrap_err().to_string().contains("nobody-here"));
    // A non-root user cannot write where root owns.
    let run = f.sh("touch /old/nope").user("app").run();
    assert!(run.result.is_err());
    assert!(!run.upper.join("old/nope").exists());
}

#[test]
fn environment_and_home() {
    let Some(f) = fixture() else { return };
    let run = f
        .sh("echo \"$GREETING|$HOME|$PATH\"")
        .env("GREETING", "hi there")
        .run();
    run.result.unwrap();
    assert_eq!(run.stdout, "hi there|/root|/bin\n");
    let run = f.sh("echo $HOME").env("HOME", "/custom").run();
    run.result.unwrap();
    assert_eq!(run.stdout, "/custom\n", "the step's HOME wins");
}

#[test]
fn capabilities_are_dockers_default_set_and_no_new_privs_is_set() {
    let Some(f) = fixture() else { return };
    let run = f.run("grep -E '^(CapEff|CapBnd|CapInh|CapAmb|NoNewPrivs)' /proc/self/status");
    run.result.unwrap();
    // CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW
    // SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP: docker's default set.
    for line in [
        "CapEff:\t00000000a80425fb",
        "CapBnd:\t00000000a80425fb",
        "CapInh:\t0000000000000000",
        "CapAmb:\t0000000000000000",
        "NoNewPrivs:\t1",
    ] {
        assert!(run.stdout.contains(line), "{line} in\n{}", run.stdout);
    }
    // Mounting needs CAP_SYS_ADMIN, which is gone.
    let run = f.run("mkdir /m && mount -t tmpfs none /m");
    assert!(run.result.is_err());
    let run = f.sh("grep CapEff /proc/self/status").user("app").run();
    run.result.unwrap();
    assert_eq!(run.stdout, "CapEff:\t0000000000000000\n");
}

#[test]
fn the_working_directory_is_created_and_entered() {
    let Some(f) = fixture() else { return };
    let run = f.sh("pwd").cwd("/srv/app").run();
    run.result.unwrap();
    assert_eq!(run.stdout, "/srv/app\n");
    assert!(run.upper.join("srv/app").is_dir());
    let run = f.sh("pwd").cwd("/old").run();
    run.result.unwrap();
    assert_eq!(run.stdout, "/old\n");
    assert_eq!(
        names_in(&run.upper),
        Vec::<String>::new(),
        "an existing one adds nothing"
    );
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
            "sandbox::tests::run::a_killed_build_leaves_no_process_and_no_mount",
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
            .filter(|cmdline| {
                let text = String::from_utf8_lossy(cmdline);
                text.starts_with("/bin/sh") && text.contains(&marker)
            })
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
    // Only the child's sandbox, under the temp dir: other software (dockerd's containers) has
    // `merged` mounts of its own.
    let temp = std::env::temp_dir();
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let leaked: Vec<&str> = mounts
        .lines()
        .filter(|line| {
            line.split(' ').nth(4).is_some_and(|point| {
                point.starts_with(&*temp.to_string_lossy()) && point.contains("/merged")
            })
        })
        .collect();
    assert!(leaked.is_empty(), "a sandbox mount leaked:\n{leaked:#?}");
}
