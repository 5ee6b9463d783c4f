//! `strata run`, `ps`, `rm`, `commit` end to end: docker run's flags and meanings, checked
//! against dockerd 20.10 (Debian's docker.io) where docker is the reference.

use std::fs;
use std::io::Write as _;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::util::{docker_available, env_with_imported_busybox, have_tool, skip_unless, TestEnv};

fn env_with_image() -> Option<TestEnv> {
    env_with_imported_busybox("bb:1", "CMD [\"sh\"]")
}

/// Builds `name` from `FROM bb:1` plus `lines`.
fn build(env: &TestEnv, name: &str, lines: &str) {
    let dir = env.write_files(name, &[("Dockerfile", &format!("FROM bb:1\n{lines}"))]);
    env.ok(&["build", "-q", "-t", name, dir.to_str().unwrap()]);
}

fn text(output: &Output) -> (i32, String, String) {
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn containers(env: &TestEnv) -> Vec<String> {
    fs::read_dir(env.root().join("containers-v1"))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn exit_codes_are_dockers() {
    let Some(env) = env_with_image() else {
        return;
    };
    let run = |args: &[&str]| text(&env.run(&[&["run", "--rm"], args].concat()));
    assert_eq!(run(&["bb:1", "true"]).0, 0);
    assert_eq!(run(&["bb:1", "sh", "-c", "exit 3"]).0, 3);
    let (code, _, err) = run(&["bb:1", "no-such-command"]);
    assert_eq!(code, 127, "{err}");
    assert!(err.contains("executable file not found"), "{err}");
    let (code, _, err) = run(&["bb:1", "/etc/passwd"]);
    assert_eq!(code, 126, "{err}");
    let (code, _, err) = run(&["no-such-image:1", "true"]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("no such image"), "{err}");
    let (code, _, err) = run(&["-d", "bb:1", "true"]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("not supported: strata has no daemon"), "{err}");
    let (code, _, err) = run(&["-w", "relative", "bb:1", "true"]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("absolute path"), "{err}");
    // A signal that kills the command: 128+N, as docker.
    assert_eq!(
        run(&["bb:1", "sh", "-c", "sh -c 'kill -9 $$'; exit $?"]).0,
        137
    );
    assert!(containers(&env).is_empty(), "--rm leaves nothing");
}

#[test]
fn env_precedence_is_image_then_env_file_then_flags() {
    let Some(env) = env_with_image() else {
        return;
    };
    build(&env, "envimg", "ENV A=image B=image C=image D=image\n");
    let file = env.path("vars.env");
    fs::write(
        &file,
        "# a comment\n\nA=file\n  B=\"file quoted\"\nFROM_HOST\nD\n",
    )
    .unwrap();
    let output = env
        .strata(&[
            "run",
            "--rm",
            "--env-file",
            file.to_str().unwrap(),
            "-e",
            "A=flag",
            "-e",
            "E",
            "-e",
            "C",
            "envimg",
            "env",
        ])
        .env("FROM_HOST", "host value")
        .env("E", "e from host")
        .env_remove("C")
        .env_remove("D")
        .output()
        .unwrap();
    let (code, out, err) = text(&output);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    for want in [
        "A=flag",
        "B=\"file quoted\"",
        "D=image",
        "FROM_HOST=host value",
        "E=e from host",
        "PATH=/bin",
    ] {
        assert!(lines.contains(&want), "{want} missing from\n{out}");
    }
    // dockerd 20.10: `-e C` with C unset on the host removes the image's C; `D` alone in an
    // env file, unset on the host, is dropped and the image's D stays.
    assert!(!lines.iter().any(|l| l.starts_with("C=")), "{out}");
    assert!(lines.iter().any(|l| l.starts_with("HOSTNAME=")), "{out}");
    let bad = env.path("bad.env");
    fs::write(&bad, "OK=1\nBAD KEY=2\n").unwrap();
    let (code, _, err) = text(&env.run(&[
        "run",
        "--rm",
        "--env-file",
        bad.to_str().unwrap(),
        "bb:1",
        "true",
    ]));
    assert_eq!(code, 125);
    assert!(
        err.contains("line 2") && err.contains("whitespaces"),
        "{err}"
    );
}

#[test]
fn volumes_rw_reach_the_host_and_ro_refuse_writes() {
    let Some(env) = env_with_image() else {
        return;
    };
    let host = env.path("vol");
    fs::create_dir_all(&host).unwrap();
    fs::write(host.join("in"), "from host\n").unwrap();
    let rw = format!("{}:/data", host.display());
    let (code, out, err) = text(&env.run(&[
        "run",
        "--rm",
        "-v",
        &rw,
        "bb:1",
        "sh",
        "-c",
        "cat /data/in && echo written > /data/out",
    ]));
    assert_eq!((code, out.as_str()), (0, "from host\n"), "{err}");
    assert_eq!(fs::read_to_string(host.join("out")).unwrap(), "written\n");
    let ro = format!("{}:/data:ro", host.display());
    let (code, _, err) = text(&env.run(&[
        "run",
        "--rm",
        "-v",
        &ro,
        "bb:1",
        "sh",
        "-c",
        "echo no > /data/ro",
    ]));
    assert_ne!(code, 0);
    assert!(err.contains("Read-only file system"), "{err}");
    assert!(!host.join("ro").exists());
    let mount = format!("type=bind,source={},target=/m,readonly", host.display());
    let (code, _, _) = text(&env.run(&["run", "--rm", "--mount", &mount, "bb:1", "touch", "/m/x"]));
    assert_ne!(code, 0);
    let (code, out, err) = text(&env.run(&[
        "run",
        "--rm",
        "--mount",
        "type=tmpfs,target=/scratch",
        "bb:1",
        "sh",
        "-c",
        "echo t > /scratch/t && cat /scratch/t",
    ]));
    assert_eq!((code, out.as_str()), (0, "t\n"), "{err}");
}

#[test]
fn user_by_name_and_number_and_workdir() {
    let Some(env) = env_with_image() else {
        return;
    };
    let run = |args: &[&str]| {
        let (code, out, err) = text(&env.run(&[&["run", "--rm"], args].concat()));
        assert_eq!(code, 0, "{args:?}: {err}");
        out
    };
    assert_eq!(
        run(&["-u", "app", "bb:1", "sh", "-c", "id; echo $HOME"]),
        "uid=1000(app) gid=1000(app) groups=50(staff),1000(app)\n/home/app\n"
    );
    assert_eq!(
        run(&[
            "-u",
            "4242:50",
            "bb:1",
            "sh",
            "-c",
            "id -u; id -g; echo $HOME"
        ]),
        "4242\n50\n/\n"
    );
    assert_eq!(
        run(&["-w", "/made/here", "bb:1", "sh", "-c", "pwd"]),
        "/made/here\n"
    );
    build(&env, "wdimg", "WORKDIR /srv\nUSER app\n");
    assert_eq!(run(&["wdimg", "sh", "-c", "pwd; id -un"]), "/srv\napp\n");
    assert_eq!(
        run(&["-u", "0", "-w", "/tmp", "wdimg", "sh", "-c", "pwd; id -u"]),
        "/tmp\n0\n"
    );
    let (code, _, err) = text(&env.run(&["run", "--rm", "-u", "nosuch", "bb:1", "true"]));
    assert_eq!(code, 125, "{err}");
}

#[test]
fn read_only_root_hostname_and_names() {
    let Some(env) = env_with_image() else {
        return;
    };
    let (code, out, err) = text(&env.run(&[
        "run",
        "--rm",
        "--read-only",
        "--hostname",
        "box",
        "bb:1",
        "sh",
        "-c",
        "hostname; touch /x || echo refused; touch /dev/shm/ok && echo shm-ok",
    ]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "box\nrefused\nshm-ok\n");
    assert!(err.contains("Read-only file system"), "{err}");
    env.ok(&["run", "--name", "taken", "bb:1", "true"]);
    let (code, _, err) = text(&env.run(&["run", "--name", "taken", "bb:1", "true"]));
    assert_eq!(code, 125);
    assert!(err.contains("already in use"), "{err}");
}

#[test]
fn stdin_is_a_pipe_with_i_and_empty_without() {
    let Some(env) = env_with_image() else {
        return;
    };
    let out = env.run_with_stdin(
        &[
            "run",
            "--rm",
            "-i",
            "bb:1",
            "sh",
            "-c",
            "cat; test -t 0 || echo pipe",
        ],
        b"line\n",
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "line\npipe\n");
    let out = env.run_with_stdin(&["run", "--rm", "bb:1", "cat"], b"not read\n");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
}

/// The `ENTRYPOINT`/`CMD`/`--entrypoint`/arguments table, run by dockerd 20.10 and by strata
/// on the same image (saved by strata, loaded into docker).
#[test]
fn entrypoint_and_cmd_rules_match_docker() {
    let Some(env) = env_with_image() else {
        return;
    };
    if skip_unless(docker_available(), "dockerd is not running") {
        return;
    }
    let name = format!("strata-test-run-ep-{}:1", std::process::id());
    build(
        &env,
        &name,
        "ENTRYPOINT [\"echo\", \"ep\"]\nCMD [\"cmd1\"]\n",
    );
    let tar = env.path("ep.tar");
    env.ok(&["save", "-o", tar.to_str().unwrap(), &name]);
    let loaded = Command::new("/usr/bin/docker")
        .args(["load", "-i", tar.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        loaded.status.success(),
        "{}",
        String::from_utf8_lossy(&loaded.stderr)
    );
    let cases: &[&[&str]] = &[
        &[],
        &["a", "b"],
        &["--entrypoint", "echo"],
        &["--entrypoint", "echo", "x"],
        &["--entrypoint", ""],
        &["--entrypoint", "", "echo", "y"],
        &["--entrypoint", "echo z"],
        &["--entrypoint", "sh", "-c", "echo $0", "zero"],
    ];
    for case in cases {
        let split = case
            .iter()
            .position(|a| *a == "--entrypoint")
            .map(|p| p + 2)
            .unwrap_or(0);
        let (flags, command) = case.split_at(split);
        let args = [&["run", "--rm"], flags, &[name.as_str()], command].concat();
        compare_with_docker(&env, &args, case);
    }
    // Exit codes and the environment's precedence, the same way.
    let env_file = env.path("cmp.env");
    fs::write(&env_file, "A=file\nB=file\n").unwrap();
    let env_file = env_file.to_str().unwrap();
    let compared: &[&[&str]] = &[
        &["--entrypoint", "sh", &name, "-c", "exit 3"],
        &["--entrypoint", "no-such-command", &name],
        &["--entrypoint", "/etc/passwd", &name],
        &[
            "--env-file",
            env_file,
            "-e",
            "A=flag",
            "--entrypoint",
            "sh",
            &name,
            "-c",
            "echo $A $B $PATH",
        ],
        &[
            "-u",
            "app",
            "-w",
            "/w",
            "--entrypoint",
            "sh",
            &name,
            "-c",
            "id; pwd; echo $HOME",
        ],
    ];
    for case in compared {
        let args = [&["run", "--rm"], *case].concat();
        compare_with_docker(&env, &args, case);
    }
    let _ = Command::new("/usr/bin/docker")
        .args(["rmi", &name])
        .output();
}

/// Runs `args` with docker and strata and compares exit codes and stdout. docker is asked
/// twice before a difference counts: the shared dockerd of a test machine now and then fails
/// to start a container (`OCI runtime create failed`) while other suites load and remove
/// images.
fn compare_with_docker(env: &TestEnv, args: &[&str], case: &[&str]) {
    let ours = env.run(args);
    let ours_seen = (
        ours.status.code(),
        String::from_utf8_lossy(&ours.stdout).into_owned(),
    );
    let mut docker = Command::new("/usr/bin/docker").args(args).output().unwrap();
    for _ in 0..2 {
        if (
            docker.status.code(),
            String::from_utf8_lossy(&docker.stdout).into_owned(),
        ) == ours_seen
        {
            break;
        }
        docker = Command::new("/usr/bin/docker").args(args).output().unwrap();
    }
    assert_eq!(
        ours_seen,
        (
            docker.status.code(),
            String::from_utf8_lossy(&docker.stdout).into_owned()
        ),
        "case {case:?}: strata stderr {}; docker stderr {}",
        String::from_utf8_lossy(&ours.stderr),
        String::from_utf8_lossy(&docker.stderr)
    );
}

/// Runs `command` under `script`, which gives it a pty as stdin/stdout, feeding `input`.
fn under_script(command: &str, input: &[(u64, &[u8])]) -> Output {
    let mut child = Command::new("script")
        .args(["-qec", command, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for (delay_ms, bytes) in input {
        std::thread::sleep(Duration::from_millis(*delay_ms));
        stdin.write_all(bytes).unwrap();
        stdin.flush().unwrap();
    }
    std::thread::sleep(Duration::from_millis(500));
    drop(stdin);
    child.wait_with_output().unwrap()
}

fn strata_line(env: &TestEnv, args: &str) -> String {
    format!(
        "{} --root {} {args}",
        crate::util::strata_bin(),
        env.root().display()
    )
}

#[test]
fn it_gives_a_real_terminal_with_the_window_size_and_ctrl_c_reaches_it() {
    let Some(env) = env_with_image() else {
        return;
    };
    if skip_unless(have_tool("script"), "script (util-linux) is missing") {
        return;
    }
    let command = strata_line(
        &env,
        "run --rm -it bb:1 sh -c 'test -t 0 && test -t 1 && echo is-a-terminal; stty size; echo TERM=$TERM; tty'",
    );
    let out = under_script(&format!("stty rows 33 cols 91; {command}"), &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("is-a-terminal"), "{text}");
    assert!(text.contains("33 91"), "{text}");
    assert!(text.contains("TERM=xterm"), "{text}");
    // The pty is the container's own, as docker's: `tty` names it inside.
    assert!(text.contains("/dev/pts/0"), "{text}");
    // Without -t the command never gets strata's terminal (docker relays it too): it could
    // otherwise change its modes or push input into it.
    let out = under_script(
        &strata_line(
            &env,
            "run --rm bb:1 sh -c 'test -t 1 || test -t 2 || echo not-a-terminal'",
        ),
        &[],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("not-a-terminal"), "{text}");
    // ^C typed at the terminal interrupts the foreground command, not the shell.
    let started = std::time::Instant::now();
    let out = under_script(
        &strata_line(&env, "run --rm -it bb:1 sh"),
        &[
            (800, b"sleep 30\n"),
            (800, b"\x03"),
            (500, b"echo after-interrupt\n"),
            (300, b"exit 6\n"),
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(started.elapsed() < Duration::from_secs(20), "{text}");
    assert!(text.contains("after-interrupt"), "{text}");
    assert_eq!(out.status.code(), Some(6), "{text}");
}

#[test]
fn sigint_and_sigterm_are_forwarded_to_the_command() {
    let Some(env) = env_with_image() else {
        return;
    };
    // The last round starts strata with SIGINT ignored, as a script's background job is: the
    // command must still start with it at its default (a shell cannot trap what it inherits
    // ignored), as under docker.
    for (signal, code, ignored) in [
        (libc::SIGINT, 7, false),
        (libc::SIGTERM, 8, false),
        (libc::SIGINT, 7, true),
    ] {
        let mut command = env.strata(&[
                "run", "--rm", "bb:1", "sh", "-c",
                "trap 'echo got-int; exit 7' INT; trap 'echo got-term; exit 8' TERM; echo ready; while true; do sleep 0.1; done",
            ]);
        if ignored {
            use std::os::unix::process::CommandExt as _;
            // SAFETY: signal() is async-signal-safe; runs in the forked child before exec.
            unsafe {
                command.pre_exec(|| {
                    libc::signal(libc::SIGINT, libc::SIG_IGN);
                    Ok(())
                });
            }
        }
        let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut ready = [0u8; 6];
        std::io::Read::read_exact(&mut stdout, &mut ready).unwrap();
        // SAFETY: kill on our own child's pid.
        unsafe {
            libc::kill(child.id() as i32, signal);
        }
        // A signal that goes nowhere would leave the loop running: fail, do not hang.
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("signal {signal} (SIGINT ignored: {ignored}) did not end the command");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
        assert_eq!(status.code(), Some(code), "{rest}");
    }
}

#[test]
fn kept_containers_are_listed_removed_pruned_and_committed_into_images_docker_runs() {
    let Some(env) = env_with_image() else {
        return;
    };
    let snapshots = || fs::read_dir(env.root().join("snapshots")).unwrap().count();
    let before = snapshots();
    env.ok(&["run", "--rm", "bb:1", "sh", "-c", "echo gone > /file"]);
    assert_eq!(snapshots(), before, "--rm leaves no snapshot");
    assert!(containers(&env).is_empty(), "--rm leaves no container");
    let (code, _, _) = text(&env.run(&[
        "run",
        "--name",
        "work",
        "bb:1",
        "sh",
        "-c",
        "echo changed > /etc/motd && rm /bin/tar; exit 2",
    ]));
    assert_eq!(code, 2);
    let listed = env.ok(&["ps", "-a"]);
    assert!(
        listed.contains("work") && listed.contains("Exited (2)"),
        "{listed}"
    );
    assert!(
        !env.ok(&["ps"]).contains("work"),
        "only running ones without -a"
    );
    let name = format!("strata-test-run-commit-{}:1", std::process::id());
    let id = env.ok(&["commit", "work", &name]);
    assert!(id.trim().starts_with("sha256:"), "{id}");
    assert_eq!(
        env.ok(&["run", "--rm", &name, "cat", "/etc/motd"]),
        "changed\n"
    );
    let (code, _, _) = text(&env.run(&["run", "--rm", &name, "test", "-e", "/bin/tar"]));
    assert_eq!(code, 1, "the deletion is in the new layer");
    let history = env.ok(&["history", &name]);
    assert!(history.lines().count() >= 3, "{history}");
    if !skip_unless(docker_available(), "dockerd is not running") {
        let tar = env.path("committed.tar");
        env.ok(&["save", "-o", tar.to_str().unwrap(), &name]);
        let docker = |args: &[&str]| Command::new("/usr/bin/docker").args(args).output().unwrap();
        assert!(docker(&["load", "-i", tar.to_str().unwrap()])
            .status
            .success());
        let args = [
            "run",
            "--rm",
            &name,
            "sh",
            "-c",
            "cat /etc/motd; test -e /bin/tar || echo no-tar",
        ];
        // Retried as in `compare_with_docker`: the shared dockerd now and then fails a start.
        let mut ran = docker(&args);
        for _ in 0..2 {
            if ran.status.success() {
                break;
            }
            ran = docker(&args);
        }
        assert_eq!(
            String::from_utf8_lossy(&ran.stdout),
            "changed\nno-tar\n",
            "{}",
            String::from_utf8_lossy(&ran.stderr)
        );
        let _ = docker(&["rmi", &name]);
    }
    env.ok(&["rm", "work"]);
    assert!(containers(&env).is_empty());
    let (code, _, err) = text(&env.run(&["rm", "work"]));
    assert_eq!(code, 1);
    assert!(err.contains("no such container"), "{err}");
    env.ok(&["run", "bb:1", "true"]);
    assert_eq!(containers(&env).len(), 1);
    let pruned = env.ok(&["prune"]);
    assert!(pruned.contains("1 stopped containers"), "{pruned}");
    assert!(containers(&env).is_empty());
}

#[test]
fn a_running_container_does_not_hold_the_store_and_keeps_its_layers_through_prune() {
    let Some(env) = env_with_image() else {
        return;
    };
    build(&env, "gcimg", "RUN echo layer > /layer\n");
    let mut child = env
        .strata(&[
            "run",
            "--rm",
            "-i",
            "gcimg",
            "sh",
            "-c",
            "read line; cat /layer",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    // The store is free: rmi and prune run while the container does.
    env.ok(&["rmi", "gcimg"]);
    env.ok(&["prune", "--all"]);
    let listed = env.ok(&["ps"]);
    assert!(
        listed.contains("gcimg") && listed.contains("Up"),
        "{listed}"
    );
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "layer\n");
}

/// The container is confined as RUN steps are: docker's capability set (dockerd 20.10's
/// default `CapEff`), a seccomp filter, no mounts, read-only `/proc/sys`.
#[test]
fn a_container_gets_the_run_sandbox_hardening() {
    let Some(env) = env_with_image() else {
        return;
    };
    let (code, out, err) = text(&env.run(&[
        "run",
        "--rm",
        "bb:1",
        "sh",
        "-c",
        "grep -E '^(CapEff|Seccomp):' /proc/self/status; \
         mount -t tmpfs t /tmp 2>/dev/null || echo mount-refused; \
         (echo x > /proc/sys/kernel/domainname) 2>/dev/null || echo sysctl-refused",
    ]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "CapEff:\t00000000a80425fb\nSeccomp:\t2\nmount-refused\nsysctl-refused\n"
    );
}
