//! A Dockerfile from an unreviewed pull request attacks the machine that builds it through its
//! RUN steps: host devices, an inherited descriptor, syscalls docker's seccomp profile refuses,
//! the host's loopback services, and the ways out the Dockerfile could grant itself. Each test
//! reproduces an attack that worked before the sandbox was hardened (see issue 12).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::*;

/// A store with the busybox image `bb` and a context holding `probe` (tests/hostile/probe.c
/// built static), ready for `Dockerfile`s that start `FROM bb` and `COPY probe /probe`.
struct Attack {
    env: TestEnv,
    context: PathBuf,
}

impl Attack {
    fn new() -> Option<Attack> {
        let env = env_with_imported_busybox("bb", "CMD [\"sh\"]")?;
        let context = env.path("ctx");
        std::fs::create_dir_all(&context).unwrap();
        if !build_probe(&context.join("probe")) {
            return None;
        }
        Some(Attack { env, context })
    }

    /// Builds `dockerfile` with `args` (before the context) and returns strata's output.
    fn build(&self, dockerfile: &str, args: &[&str]) -> Output {
        std::fs::write(self.context.join("Dockerfile"), dockerfile).unwrap();
        let mut all = vec!["build", "--progress", "plain", "--no-cache"];
        all.extend_from_slice(args);
        all.push(self.context.to_str().unwrap());
        self.env.run(&all)
    }

    /// Builds and asserts success; returns stderr (where RUN output goes with plain progress).
    fn built(&self, dockerfile: &str, args: &[&str]) -> String {
        let output = self.build(dockerfile, args);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "build failed:\n{stderr}");
        stderr
    }
}

/// Compiles the probe with the system C compiler (`cc -static`); false (with the reason) when
/// there is none.
fn build_probe(out: &Path) -> bool {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile/probe.c");
    let compiled = Command::new("cc")
        .args(["-static", "-O1", "-o"])
        .arg(out)
        .arg(&source)
        .output();
    match compiled {
        Ok(output) if output.status.success() => true,
        Ok(output) => {
            skip(&format!(
                "cannot build the probe (apt-get install gcc libc6-dev): {}",
                String::from_utf8_lossy(&output.stderr)
            ));
            false
        }
        Err(e) => {
            skip(&format!(
                "no C compiler for the probe (apt-get install gcc): {e}"
            ));
            false
        }
    }
}

/// The `name=…` answer a RUN printed, in the build's plain output (`#3 0.012 name=value`;
/// the step's header line, which quotes the command, is not an answer). The RUN steps send
/// their probes' stderr to /dev/null: stdout and stderr share the log, and a message on one
/// can land in the middle of a line of the other.
fn answer<'a>(log: &'a str, name: &str) -> &'a str {
    let key = format!("{name}=");
    log.lines()
        .filter_map(|line| {
            let mut words = line.splitn(3, ' ');
            let (_, elapsed, rest) = (words.next()?, words.next()?, words.next()?);
            elapsed.parse::<f64>().ok().map(|_| rest)
        })
        .find_map(|rest| rest.strip_prefix(&key).map(str::trim))
        .unwrap_or_else(|| panic!("no answer for {name} in:\n{log}"))
}

#[test]
fn device_nodes_a_run_makes_cannot_be_opened() {
    let Some(attack) = Attack::new() else { return };
    // Loop device 7:0 and /dev/kmsg (1:11) were read and written on the host before.
    let log = attack.built(
        "FROM bb\n\
         RUN busybox mknod /tmp/loop b 7 0 && busybox mknod /tmp/kmsg c 1 11 && \
             ( (busybox dd if=/tmp/loop of=/dev/null bs=512 count=1) 2>/dev/null && echo loop=opened || echo loop=refused); \
             ( (echo owned > /tmp/kmsg) 2>/dev/null && echo kmsg=opened || echo kmsg=refused); \
             ( (busybox mknod /dev/tty9 c 4 9 && echo x > /dev/tty9) 2>/dev/null && echo tty=opened || echo tty=refused)\n\
         RUN echo x > /dev/null && echo null=ok; busybox head -c 8 /dev/urandom | wc -c | sed 's/^/urandom=/'; \
             ls /dev | busybox tr '\\n' ' ' | sed 's/^/dev=/'; echo\n",
        &[],
    );
    assert_eq!(answer(&log, "loop"), "refused", "{log}");
    assert_eq!(answer(&log, "kmsg"), "refused", "{log}");
    assert_eq!(answer(&log, "tty"), "refused", "{log}");
    // docker's default set still works.
    assert_eq!(answer(&log, "null"), "ok");
    assert_eq!(answer(&log, "urandom"), "8");
    assert_eq!(
        answer(&log, "dev"),
        "fd full null ptmx pts random shm stderr stdin stdout tty urandom zero"
    );
}

#[test]
fn device_nodes_made_in_a_run_mount_cannot_be_opened() {
    // A cache mount or a bind of a host directory is a mount of its own, outside the root's
    // `nodev`: without being made `nodev` itself it would let a RUN open the host's disks.
    let Some(attack) = Attack::new() else { return };
    let log = attack.built(
        "FROM bb\n\
         RUN --mount=type=cache,target=/cache --mount=type=bind,target=/ctx,rw \
             busybox mknod /cache/loop b 7 0 && busybox mknod /ctx/loop b 7 0 && \
             ( (busybox dd if=/cache/loop of=/dev/null bs=512 count=1) 2>/dev/null && echo cache=opened || echo cache=refused); \
             ( (busybox dd if=/ctx/loop of=/dev/null bs=512 count=1) 2>/dev/null && echo bind=opened || echo bind=refused)\n",
        &[],
    );
    assert_eq!(answer(&log, "cache"), "refused", "{log}");
    assert_eq!(answer(&log, "bind"), "refused", "{log}");
}

#[test]
fn an_inherited_descriptor_does_not_reach_the_run() {
    let Some(attack) = Attack::new() else { return };
    std::fs::write(
        attack.context.join("Dockerfile"),
        "FROM bb\n\
         RUN ls /proc/self/fd/ | busybox tr '\\n' ' ' | sed 's/^/fds=/'; echo; \
             (ls /proc/self/fd/7/ >/dev/null 2>&1 && echo fd7=open || echo fd7=closed); \
             ( (echo pwned > /proc/self/fd/7/pwned) 2>/dev/null && echo write=done || echo write=refused)\n",
    )
    .unwrap();
    // A CI wrapper leaking a descriptor of a host directory (runc CVE-2024-21626's class).
    let host_dir = attack.env.path("host-dir");
    std::fs::create_dir_all(&host_dir).unwrap();
    let leaked = std::fs::File::open(&host_dir).unwrap();
    let mut command = attack.env.strata(&[
        "build",
        "--progress",
        "plain",
        "--no-cache",
        attack.context.to_str().unwrap(),
    ]);
    let raw = std::os::fd::AsRawFd::as_raw_fd(&leaked);
    // SAFETY: dup2 only, between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::dup2(raw, 7) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let output = command.output().unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{log}");
    assert_eq!(answer(&log, "fd7"), "closed", "{log}");
    assert_eq!(answer(&log, "write"), "refused", "{log}");
    // stdio, and the directory `ls` itself opened.
    assert_eq!(answer(&log, "fds"), "0 1 2 3", "{log}");
    assert!(
        !host_dir.join("pwned").exists(),
        "the RUN wrote on the host"
    );
}

#[test]
fn seccomp_refuses_what_dockers_default_profile_refuses() {
    let Some(attack) = Attack::new() else { return };
    let log = attack.built(
        "FROM bb\n\
         COPY probe /probe\n\
         RUN grep -E '^(Seccomp|CapEff|CapBnd):' /proc/self/status | sed 's/:\\s*/=/'; \
             /probe add_key keyctl unshare clone_newns clone3 mount personality_linux \
                    personality_norandom vsock packet fork\n",
        &[],
    );
    assert_eq!(answer(&log, "Seccomp"), "2", "{log}");
    // docker's default capability set: chown, dac_override, fowner, fsetid, kill, setgid,
    // setuid, setpcap, net_bind_service, net_raw, sys_chroot, mknod, audit_write, setfcap.
    assert_eq!(answer(&log, "CapEff"), "00000000a80425fb", "{log}");
    assert_eq!(answer(&log, "CapBnd"), "00000000a80425fb", "{log}");
    let eperm = format!("E{}", libc::EPERM);
    for refused in [
        "add_key",
        "keyctl",
        "unshare",
        "clone_newns",
        "mount",
        "personality_norandom",
        "vsock",
    ] {
        assert_eq!(answer(&log, refused), eperm, "{refused}: {log}");
    }
    // clone3 says ENOSYS so that libcs fall back to clone, whose flags the filter can check.
    assert_eq!(answer(&log, "clone3"), format!("E{}", libc::ENOSYS));
    for allowed in ["personality_linux", "packet", "fork"] {
        assert_eq!(answer(&log, allowed), "ok", "{allowed}: {log}");
    }
}

/// Serves `body` to every HTTP request on `listener`, in the background.
fn serve(listener: TcpListener, body: &'static str) {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream): std::io::Result<TcpStream> = stream else {
                continue;
            };
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request);
            let _ = write!(
                stream,
                "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    });
}

#[test]
fn host_loopback_services_are_out_of_reach_and_the_outside_is_not() {
    let Some(attack) = Attack::new() else { return };
    let Some(address) = external_address() else {
        skip("no non-loopback IPv4 address to stand for the outside");
        return;
    };
    let private = TcpListener::bind("127.0.0.1:0").unwrap();
    let private_port = private.local_addr().unwrap().port();
    serve(private, "host-secret");
    let public = TcpListener::bind(format!("{address}:0")).unwrap();
    let public_port = public.local_addr().unwrap().port();
    serve(public, "outside-ok");
    // busybox's static wget crashes on any URL (Debian's busybox-static), so nc speaks HTTP.
    let fetch = |name: &str, host: &str, port: u16| {
        format!(
            "(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 3 {host} {port} 2>/dev/null | tail -n 1 | grep . \
             || echo failed) | sed 's/^/{name}=/'; "
        )
    };
    let dockerfile = format!(
        "FROM bb\nRUN {}{}{}busybox cut -d: -f1 /proc/net/dev | tail -n +3 | busybox tr -d ' ' | sort \
         | busybox tr '\\n' ' ' | sed 's/^/interfaces=/'; echo\n",
        fetch("loopback", "127.0.0.1", private_port),
        fetch("gateway", "10.0.2.2", private_port),
        fetch("outside", &address, public_port),
    );
    let log = attack.built(&dockerfile, &[]);
    assert_eq!(answer(&log, "loopback"), "failed", "{log}");
    assert_eq!(answer(&log, "gateway"), "failed", "{log}");
    assert_eq!(answer(&log, "outside"), "outside-ok", "{log}");
    // The build's own namespace: loopback and slirp4netns's tap, none of the host's.
    assert_eq!(answer(&log, "interfaces"), "lo tap0", "{log}");

    // The operator can still choose the host's network for a trusted Dockerfile.
    let log = attack.built(&dockerfile, &["--network", "host"]);
    assert_eq!(answer(&log, "loopback"), "host-secret", "{log}");
}

#[test]
fn a_dockerfile_cannot_grant_itself_the_host_network_or_insecure_mode() {
    let Some(attack) = Attack::new() else { return };
    for (dockerfile, entitlement) in [
        (
            "FROM bb\nRUN true\nRUN --network=host true\n",
            "network.host",
        ),
        (
            "FROM bb\nRUN true\nRUN --security=insecure true\n",
            "security.insecure",
        ),
    ] {
        let output = attack.build(dockerfile, &[]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{stderr}");
        assert!(
            stderr.contains(&format!("--allow {entitlement}")),
            "{stderr}"
        );
        assert!(stderr.contains("Dockerfile:3: [3/3] RUN"), "{stderr}");
        // Refused before anything ran (as BuildKit refuses the whole solve).
        assert!(!stderr.contains("RUN true\n#"), "{stderr}");
    }
    // Granted, insecure runs unconfined (BuildKit's security.insecure).
    let log = attack.built(
        "FROM bb\n\
         RUN --security=insecure grep -E '^(Seccomp|CapEff):' /proc/self/status | sed 's/:\\s*/=/'; \
             busybox mknod /tmp/null c 1 3 && echo x > /tmp/null && echo mknod=opened\n",
        &["--allow", "security.insecure"],
    );
    assert_eq!(answer(&log, "Seccomp"), "0", "{log}");
    assert_ne!(answer(&log, "CapEff"), "00000000a80425fb", "{log}");
    assert_eq!(answer(&log, "mknod"), "opened", "{log}");
    let output = attack.build("FROM bb\nRUN true\n", &["--allow", "device"]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown entitlement `device`"));
}

#[test]
fn the_build_network_leaves_the_hosts_shared_mounts_alone() {
    // slirp4netns's own sandbox detached the old root after making only `/` private: as root
    // in the host's namespace that unmounted shared mounts below it on the host (docker's
    // running containers lost their root filesystems mid-build). The attack surface here is the
    // host's mount table, so the test plays the host in a mount namespace of its own that is
    // a slave of the real one: whatever goes wrong stays in it. Inside, a shared tmpfs holds a
    // second tmpfs, and the build must leave that one mounted.
    let Some(attack) = Attack::new() else { return };
    std::fs::write(
        attack.context.join("Dockerfile"),
        "FROM bb\nRUN echo in the build network\n",
    )
    .unwrap();
    let outer = attack.env.path("shared-mount");
    std::fs::create_dir_all(&outer).unwrap();
    let script = format!(
        "set -e; mount -t tmpfs -o size=1m tmpfs '{outer}'; mount --make-shared '{outer}'; \
         mkdir '{outer}/inner'; mount -t tmpfs -o size=1m tmpfs '{outer}/inner'; \
         echo yes > '{outer}/inner/still-here'; \
         '{strata}' --root '{root}' build -q --no-cache '{context}' >/dev/null; \
         grep -q ' {outer}/inner ' /proc/self/mountinfo && cat '{outer}/inner/still-here'",
        outer = outer.display(),
        strata = strata_bin(),
        root = attack.env.root().display(),
        context = attack.context.display(),
    );
    let output = Command::new("unshare")
        .args(["--mount", "--propagation", "slave", "sh", "-c", &script])
        .output()
        .unwrap();
    assert!(
        output.status.success() && String::from_utf8_lossy(&output.stdout) == "yes\n",
        "the host's mount under a shared mount was unmounted by the build:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
