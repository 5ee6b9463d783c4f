//! What the command can see: its own hostname, pid 1, no host files or processes, a minimal
//! `/dev`, read-only `/sys`, the chosen network — and nothing stays mounted afterwards.

use std::fs;

use super::*;

#[test]
fn isolation_hostname_pid_one_and_host_invisible() {
    let Some(f) = fixture() else { return };
    let marker = f.dir.path().join("host-only");
    fs::write(&marker, "secret").unwrap();
    let run = f.run(&format!(
        "hostname; cat /etc/hostname; echo $$; ps -o pid= | grep -c . ; \
         test -e {} && echo visible || echo invisible; grep -c . /etc/hosts",
        marker.display()
    ));
    run.result.unwrap();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[0], "buildkitsandbox");
    assert_eq!(lines[1], "buildkitsandbox");
    assert_eq!(lines[2], "1", "the command is pid 1 of its namespace");
    let processes: usize = lines[3].trim().parse().unwrap();
    assert!(
        processes <= 4,
        "host processes are invisible: {processes} processes"
    );
    assert_eq!(lines[4], "invisible");
    assert_eq!(lines[5], "3", "/etc/hosts has localhost and the hostname");
}

#[test]
fn network_none_has_only_loopback_and_host_shares_the_hosts() {
    let Some(f) = fixture() else { return };
    let run = f
        .sh("ls /sys/class/net; cat /sys/class/net/lo/operstate /sys/class/net/lo/flags")
        .network(Network::None)
        .run();
    run.result.unwrap();
    let words: Vec<&str> = run.stdout.split_whitespace().collect();
    assert_eq!(words[0], "lo", "{}", run.stdout);
    assert_eq!(words.len(), 3, "only loopback: {}", run.stdout);
    let flags = u32::from_str_radix(words[2].trim_start_matches("0x"), 16).unwrap();
    assert_eq!(flags & 1, 1, "lo is up");
    // The same network namespace, not the same interface list: dockerd on this host adds and
    // removes veths while tests run.
    let host_net = fs::read_link("/proc/self/ns/net").unwrap();
    let run = f.run("readlink /proc/self/ns/net; echo ---; cat /etc/resolv.conf");
    run.result.unwrap();
    let (net, resolv) = run.stdout.split_once("---\n").unwrap();
    assert_eq!(
        net.trim(),
        host_net.to_string_lossy(),
        "the host's network is shared"
    );
    assert_eq!(
        resolv,
        fs::read_to_string("/etc/resolv.conf").unwrap_or_default()
    );
}

#[test]
fn dev_is_minimal_and_sys_is_read_only() {
    let Some(f) = fixture() else { return };
    let run = f.run(
        "ls /dev; echo ---; echo x > /dev/null && echo null-ok; \
         ls -d /dev/pts/ptmx /dev/shm; touch /dev/shm/ok && echo shm-writable; \
         touch /sys/kernel/x 2>/dev/null || echo sys-read-only; \
         grep -E ' /(dev/pts|sys|proc) ' /proc/self/mounts",
    );
    run.result.unwrap();
    let (dev, rest) = run.stdout.split_once("---\n").unwrap();
    let mut dev: Vec<&str> = dev.split_whitespace().collect();
    dev.sort();
    assert_eq!(
        dev,
        [
            "fd", "full", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin", "stdout",
            "tty", "urandom", "zero"
        ]
    );
    assert!(rest.contains("null-ok\n"), "{rest}");
    assert!(rest.contains("/dev/pts/ptmx\n/dev/shm\n"), "{rest}");
    assert!(rest.contains("shm-writable\n"), "{rest}");
    assert!(rest.contains("sys-read-only\n"), "{rest}");
    assert!(rest.contains("devpts /dev/pts devpts"), "{rest}");
    assert!(rest.contains("proc /proc proc"), "{rest}");
    let sys = rest.lines().find(|l| l.contains(" /sys ")).unwrap();
    assert!(sys.contains(" ro,"), "{sys}");
    assert_eq!(names_in(&run.upper), Vec::<String>::new());
}

#[test]
fn nothing_stays_mounted() {
    let Some(f) = fixture() else { return };
    for network in [Network::Host, Network::None, Network::Sandbox] {
        f.sh("true").network(network).run().result.unwrap();
        let failed = f.run("exit 1");
        assert!(failed.result.is_err());
    }
    assert_eq!(leaked_mounts(&f), Vec::<String>::new());
}

#[test]
fn host_knobs_are_read_only_and_kernel_secrets_masked() {
    let Some(f) = fixture() else { return };
    // domainname is per UTS namespace: harmless even if the protection failed.
    let run = f.run(
        "echo x > /proc/sys/kernel/domainname 2>/dev/null && echo wrote || echo refused; \
         grep -E ' /proc/(sys|sysrq-trigger|bus|fs|irq) ' /proc/self/mounts | grep -c ' ro,'",
    );
    run.result.unwrap();
    let lines: Vec<&str> = run.stdout.lines().map(str::trim).collect();
    assert_eq!(lines[0], "refused", "{}", run.stdout);
    let read_only: usize = lines[1].parse().unwrap();
    assert!(read_only >= 4, "read-only /proc paths: {}", run.stdout);
    // Masked files read as /dev/null, masked directories as an empty tmpfs.
    for (path, dir) in [
        ("/proc/keys", false),
        ("/proc/timer_list", false),
        ("/proc/acpi", true),
    ] {
        if !Path::new(path).exists() {
            continue;
        }
        let script = if dir {
            format!("ls -A {path} | wc -l")
        } else {
            format!("wc -c < {path}")
        };
        let run = f.run(&script);
        run.result.unwrap();
        assert_eq!(run.stdout.trim(), "0", "{path} is masked");
    }
}

#[test]
fn the_sandbox_network_is_the_builds_own_and_shared_by_its_runs() {
    let Some(f) = fixture() else { return };
    let host_net = fs::read_link("/proc/self/ns/net").unwrap();
    let sandbox = NativeSandbox::new(f.dir.path());
    let namespaces: Vec<String> = (0..2)
        .map(|_| {
            let run = f
                .sh("readlink /proc/self/ns/net; grep -c . /proc/net/dev")
                .network(Network::Sandbox)
                .run_in(&sandbox);
            run.result.unwrap();
            run.stdout
        })
        .collect();
    assert_ne!(
        namespaces[0].lines().next().unwrap(),
        host_net.to_string_lossy(),
        "not the host's network"
    );
    assert_eq!(namespaces[0], namespaces[1], "one namespace per build");
}

#[test]
fn insecure_keeps_every_capability_and_no_seccomp() {
    let Some(f) = fixture() else { return };
    let run = f
        .sh("grep -E '^(Seccomp|CapBnd):' /proc/self/status")
        .insecure()
        .run();
    run.result.unwrap();
    assert!(run.stdout.contains("Seccomp:\t0"), "{}", run.stdout);
    assert!(!run.stdout.contains("a80425fb"), "{}", run.stdout);
    let run = f.run("grep -E '^Seccomp:' /proc/self/status");
    run.result.unwrap();
    assert!(run.stdout.contains("Seccomp:\t2"), "{}", run.stdout);
}
