//! The isolation choice and its parsing, without root: environments are built by hand.

use super::*;

fn environment(uid: u32) -> Environment {
    Environment {
        ids: (uid, uid),
        user: Some("ci".into()),
        kernel: "6.1.0-18-amd64".into(),
        namespaces: (uid == 0).then_some(Ok(())),
        user_namespace: (uid != 0).then_some(Ok(())),
        sysctls: UsernsSysctls {
            unprivileged_userns_clone: None,
            max_user_namespaces: Some(15000),
            apparmor_restrict: None,
        },
        subuids: vec![SubidRange {
            start: 100000,
            count: 65536,
        }],
        subgids: vec![SubidRange {
            start: 100000,
            count: 65536,
        }],
        helpers: Ok(("/usr/bin/newuidmap".into(), "/usr/bin/newgidmap".into())),
    }
}

fn refused(step: &'static str) -> Option<std::result::Result<(), Refused>> {
    Some(Err(Refused {
        step,
        errno: libc::EPERM,
    }))
}

fn error_text(result: Result<Chosen>) -> String {
    result.unwrap_err().to_string()
}

#[test]
fn modes_parse_by_name_and_auto_is_none() {
    assert_eq!(Isolation::parse("auto"), Ok(None));
    for mode in Isolation::ALL {
        assert_eq!(Isolation::parse(mode.name()), Ok(Some(mode)));
    }
    assert!(Isolation::parse("docker")
        .unwrap_err()
        .contains("unknown isolation"));
}

#[test]
fn root_gets_namespaces_unless_the_kernel_refuses_them() {
    let chosen = choose(None, &environment(0)).unwrap();
    assert_eq!(chosen.isolation, Isolation::Namespaces);
    assert!(!chosen.announced());
    let mut container = environment(0);
    container.namespaces = refused("unshare of the mount, pid, uts and ipc namespaces");
    let chosen = choose(None, &container).unwrap();
    assert_eq!(chosen.isolation, Isolation::Chroot);
    assert!(chosen.announced());
    assert!(
        chosen.why.contains("refuses new namespaces"),
        "{}",
        chosen.why
    );
    let forced = error_text(choose(Some(Isolation::Namespaces), &container));
    assert!(forced.contains("--isolation chroot"), "{forced}");
}

#[test]
fn other_users_get_rootless_with_their_subordinate_ids() {
    let chosen = choose(None, &environment(1001)).unwrap();
    assert_eq!(chosen.isolation, Isolation::Rootless);
    assert!(chosen.announced());
    assert!(chosen.warnings.is_empty());
    assert!(
        chosen.why.contains("65536 subordinate ids"),
        "{}",
        chosen.why
    );
    let maps = chosen.maps.unwrap();
    assert_eq!(maps.uids.len(), 2);
    assert_eq!((maps.uids[0].inside, maps.uids[0].outside), (0, 1001));
    assert_eq!((maps.uids[1].inside, maps.uids[1].outside), (1, 100000));
}

#[test]
fn without_subordinate_ids_only_root_is_mapped_with_a_warning() {
    let mut alone = environment(1001);
    alone.subgids.clear();
    let chosen = choose(None, &alone).unwrap();
    assert_eq!(chosen.maps.unwrap(), IdMaps::single((1001, 1001)));
    let warning = chosen.warnings.join("\n");
    assert!(warning.contains("chown to other ids"), "{warning}");
    assert!(warning.contains("/etc/subgid"), "{warning}");
    assert!(warning.contains("usermod --add-subuids"), "{warning}");
    let mut no_helpers = environment(1001);
    no_helpers.helpers = Err("`newuidmap` not found".into());
    let chosen = choose(Some(Isolation::Rootless), &no_helpers).unwrap();
    assert!(chosen.warnings[0].contains("apt-get install uidmap"));
}

#[test]
fn a_refused_user_namespace_names_the_cause_and_the_fix() {
    let mut seccomp = environment(1001);
    seccomp.user_namespace = refused("unshare(CLONE_NEWUSER)");
    let text = error_text(choose(None, &seccomp));
    assert!(text.contains("isolation `auto` is not available"), "{text}");
    assert!(text.contains("seccomp"), "{text}");
    let mut sysctl = seccomp.clone();
    sysctl.sysctls.max_user_namespaces = Some(0);
    let text = error_text(choose(Some(Isolation::Rootless), &sysctl));
    assert!(
        text.contains("sysctl -w user.max_user_namespaces="),
        "{text}"
    );
    assert!(!text.contains("seccomp"), "{text}");
    let mut debian = environment(1001);
    debian.sysctls.unprivileged_userns_clone = Some(0);
    let text = error_text(choose(None, &debian));
    assert!(
        text.contains("kernel.unprivileged_userns_clone=1"),
        "{text}"
    );
    let mut old = environment(1001);
    old.kernel = "5.10.0-28-amd64".into();
    assert!(error_text(choose(None, &old)).contains("Linux 5.11 or later"));
    let mut overlay = environment(1001);
    overlay.user_namespace = refused("mounting an overlay");
    assert!(error_text(choose(None, &overlay)).contains("user xattrs"));
}

#[test]
fn modes_for_the_other_kind_of_user_are_refused() {
    let text = error_text(choose(Some(Isolation::Rootless), &environment(0)));
    assert!(text.contains("strata runs as root"), "{text}");
    let text = error_text(choose(Some(Isolation::Namespaces), &environment(1001)));
    assert!(text.contains("does not run as root"), "{text}");
    let text = error_text(choose(Some(Isolation::Chroot), &environment(1001)));
    assert!(text.contains("does not run as root"), "{text}");
}

#[test]
fn kernel_releases_compare_by_major_and_minor() {
    assert!(kernel_at_least("6.18.44-fc-v1272", (5, 11)));
    assert!(kernel_at_least("5.11.0", (5, 11)));
    assert!(!kernel_at_least("5.10.209-1", (5, 11)));
    assert!(!kernel_at_least("4.19.0-26-amd64", (5, 11)));
    assert!(kernel_at_least("weird", (5, 11)));
}
