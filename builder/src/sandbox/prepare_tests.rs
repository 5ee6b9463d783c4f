//! The sandbox's plans without root and without forking: what the child will mount, where, with
//! which options and as whom, computed from a request and an image in temp dirs.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use super::*;
use crate::sandbox::ExtraMount;

fn text(c: &CString) -> &str {
    c.to_str().unwrap()
}

/// A request for `argv` on `lowers` with the dirs of `dirs`.
fn request<'a>(dirs: &'a Dirs, lowers: &'a [PathBuf], mounts: &'a [ExtraMount]) -> RunRequest<'a> {
    RunRequest {
        argv: &dirs.argv,
        env: &dirs.env,
        cwd: "/src/app",
        user: "",
        network: Network::Sandbox,
        security: Security::Sandbox,
        lowers,
        upper: &dirs.upper,
        work: &dirs.work,
        mounts,
    }
}

struct Dirs {
    _temp: tempfile::TempDir,
    image: PathBuf,
    scratch: PathBuf,
    upper: PathBuf,
    work: PathBuf,
    argv: Vec<String>,
    env: Vec<(String, String)>,
}

/// An image layer with `/etc/passwd` (root and `app`) and `/etc/group`, and empty dirs.
fn dirs() -> Dirs {
    let temp = tempfile::tempdir().unwrap();
    let image = temp.path().join("image");
    std::fs::create_dir_all(image.join("etc")).unwrap();
    std::fs::write(
        image.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(
        image.join("etc/group"),
        "root:x:0:\napp:x:1000:\nstaff:x:50:app\n",
    )
    .unwrap();
    let [scratch, upper, work] = ["scratch", "upper", "work"].map(|name| {
        let dir = temp.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        dir
    });
    Dirs {
        _temp: temp,
        image,
        scratch,
        upper,
        work,
        argv: vec!["make".into()],
        env: vec![("PATH".into(), "/bin".into())],
    }
}

fn points() -> MountPoints {
    MountPoints {
        init: None,
        etc: "etc".into(),
    }
}

fn network() -> RunNetwork {
    RunNetwork {
        netns: None,
        resolv_conf: b"nameserver 10.0.2.3\n".to_vec(),
    }
}

fn plan_for(request: &RunRequest<'_>, dirs: &Dirs) -> Plan {
    let image = LayerStack::new(request.lowers.to_vec());
    plan(
        request,
        &image,
        &points(),
        &[],
        &dirs.scratch,
        network(),
        HOSTNAME,
    )
    .unwrap()
}

#[test]
fn a_default_run_is_confined_as_docker_confines_a_container() {
    let dirs = dirs();
    let lowers = vec![dirs.image.clone()];
    let plan = plan_for(&request(&dirs, &lowers, &[]), &dirs);
    assert_eq!(plan.masked.len(), MASKED_PATHS.len());
    assert_eq!(plan.read_only.len(), READ_ONLY_PATHS.len());
    assert!(text(&plan.masked[0]).ends_with("/merged/proc/asound"));
    assert!(plan.seccomp.is_some(), "docker's seccomp profile");
    assert!(!plan.insecure && !plan.network_none);
    assert_eq!(plan.devices.len(), DEVICES.len());
    assert!(text(&plan.devices[0].1).ends_with("/merged/dev/null"));
    assert_eq!(text(&plan.hostname), HOSTNAME);
    assert_eq!(plan.argv, ["make"]);
}

#[test]
fn insecure_drops_masks_read_only_paths_and_seccomp() {
    let dirs = dirs();
    let lowers = vec![dirs.image.clone()];
    let request = RunRequest {
        security: Security::Insecure,
        network: Network::None,
        ..request(&dirs, &lowers, &[])
    };
    let plan = plan_for(&request, &dirs);
    assert!(plan.insecure);
    assert!(plan.seccomp.is_none());
    assert!(plan.masked.is_empty() && plan.read_only.is_empty());
    assert!(plan.network_none);
}

#[test]
fn etc_files_are_written_for_the_run_and_bound_into_the_image_etc() {
    let dirs = dirs();
    let lowers = vec![dirs.image.clone()];
    let plan = plan_for(&request(&dirs, &lowers, &[]), &dirs);
    let binds: Vec<(&str, &str)> = plan
        .etc_binds
        .iter()
        .map(|(host, target)| (text(host), text(target)))
        .collect();
    assert_eq!(binds.len(), 3);
    for ((host, target), name) in binds.iter().zip(["resolv.conf", "hosts", "hostname"]) {
        assert!(host.ends_with(&format!("/etc/{name}")), "{host}");
        assert!(target.ends_with(&format!("/merged/etc/{name}")), "{target}");
    }
    let read = |n: usize| std::fs::read_to_string(binds[n].0).unwrap();
    assert_eq!(read(0), "nameserver 10.0.2.3\n");
    assert!(
        read(1).contains(&format!("127.0.1.1\t{HOSTNAME}\n")),
        "{}",
        read(1)
    );
    assert_eq!(read(2), format!("{HOSTNAME}\n"));
}

#[test]
fn root_gets_roots_home_and_the_working_directory_is_made_prefix_by_prefix() {
    let dirs = dirs();
    let lowers = vec![dirs.image.clone()];
    let plan = plan_for(&request(&dirs, &lowers, &[]), &dirs);
    assert_eq!((plan.identity.uid, plan.identity.gid), (0, 0));
    assert!(plan.env.contains(&("HOME".into(), "/root".into())));
    assert!(plan.env.contains(&("PATH".into(), "/bin".into())));
    let prefixes: Vec<&str> = plan.cwd_prefixes.iter().map(text).collect();
    assert_eq!(prefixes, ["/src", "/src/app"]);
    assert_eq!(text(&plan.cwd), "/src/app");
}

#[test]
fn a_named_user_is_resolved_in_the_image_and_an_explicit_home_is_kept() {
    let dirs = dirs();
    let lowers = vec![dirs.image.clone()];
    let env = vec![("HOME".to_string(), "/custom".to_string())];
    let request = RunRequest {
        user: "app",
        env: &env,
        ..request(&dirs, &lowers, &[])
    };
    let plan = plan_for(&request, &dirs);
    assert_eq!((plan.identity.uid, plan.identity.gid), (1000, 1000));
    assert_eq!(plan.identity.additional_gids, [50], "staff lists app");
    assert_eq!(plan.env, [("HOME".to_string(), "/custom".to_string())]);

    let unknown = RunRequest {
        user: "nobody-here",
        ..request
    };
    let image = LayerStack::new(lowers.clone());
    let result = super::plan(
        &unknown,
        &image,
        &points(),
        &[],
        &dirs.scratch,
        network(),
        HOSTNAME,
    );
    assert!(
        matches!(result, Err(Error::UnknownIdentity { .. })),
        "a user the image lacks is refused"
    );
}

#[test]
fn scratch_gets_an_empty_lower_dir_and_the_init_layer_goes_on_top() {
    let dirs = dirs();
    let plan = plan_for(&request(&dirs, &[], &[]), &dirs);
    assert_eq!(plan.lowers.len(), 1, "overlay needs one lower dir");
    assert!(Path::new(text(&plan.lowers[0])).is_dir());

    let init = dirs.scratch.join("init");
    let points = MountPoints {
        init: Some(init.clone()),
        etc: "etc".into(),
    };
    let lowers = vec![dirs.image.clone()];
    let request = request(&dirs, &lowers, &[]);
    let image = LayerStack::new(lowers.clone());
    let plan = super::plan(
        &request,
        &image,
        &points,
        &[],
        &dirs.scratch,
        network(),
        HOSTNAME,
    )
    .unwrap();
    let lowers: Vec<&str> = plan.lowers.iter().map(text).collect();
    assert_eq!(
        lowers,
        [init.to_str().unwrap(), dirs.image.to_str().unwrap()],
        "topmost first"
    );
    assert!(
        plan.legacy_dir.is_none(),
        "short paths fit the option string"
    );
    assert!(text(&plan.legacy_options).starts_with(&format!("lowerdir={}:", init.display())));
}

#[test]
fn too_many_long_lower_dirs_are_named_through_short_symlinks() {
    let dirs = dirs();
    let long = "l".repeat(200);
    let lowers: Vec<PathBuf> = (0..40)
        .map(|n| dirs.scratch.join(format!("{long}{n}")))
        .collect();
    let request = request(&dirs, &lowers, &[]);
    let (dir, options) = legacy_options(&lowers, &request, &dirs.scratch).unwrap();
    let dir = dir.expect("absolute paths do not fit in a page");
    assert!(options.len() <= MAX_MOUNT_OPTIONS);
    assert!(options.starts_with("lowerdir=0:1:2:"), "{options}");
    assert!(options.contains(",upperdir=u,workdir=w,"), "{options}");
    assert_eq!(std::fs::read_link(dir.join("39")).unwrap(), lowers[39]);
    assert_eq!(std::fs::read_link(dir.join("u")).unwrap(), dirs.upper);
}

#[test]
fn overlay_option_separators_are_escaped() {
    assert_eq!(escape("/a:b,c\\d"), "/a\\:b\\,c\\\\d");
    assert_eq!(escape("/plain"), "/plain");
}

#[test]
fn extra_mounts_resolve_in_the_image_and_go_parents_first() {
    let dirs = dirs();
    std::os::unix::fs::symlink("/srv", dirs.image.join("data")).unwrap();
    let host_file = dirs.scratch.join("secret");
    std::fs::write(&host_file, "s").unwrap();
    let stage = dirs.scratch.join("stage");
    std::fs::create_dir_all(stage.join("out")).unwrap();
    let mounts = [
        ExtraMount {
            target: "/data/cache/inner".into(),
            source: MountFrom::Tmpfs { size: Some(4096) },
            readonly: false,
        },
        ExtraMount {
            target: "/data".into(),
            source: MountFrom::Host(dirs.scratch.clone()),
            readonly: false,
        },
        ExtraMount {
            target: "/run/secrets/token".into(),
            source: MountFrom::Host(host_file),
            readonly: true,
        },
        ExtraMount {
            target: "/in".into(),
            source: MountFrom::Layers {
                lowers: vec![stage.clone()],
                path: "/out".into(),
            },
            readonly: true,
        },
    ];
    let lowers = vec![dirs.image.clone()];
    let request = request(&dirs, &lowers, &mounts);
    let image = LayerStack::new(lowers.clone());
    let (stubs, resolved) = extra_mounts(&request, &image, &dirs.scratch).unwrap();
    let targets: Vec<(&str, bool)> = stubs.iter().map(|s| (s.path.as_str(), s.dir)).collect();
    // `/data` is a symlink in the image: mounts land where it points, parents before children
    // (by depth; equal depths in the request's order).
    assert_eq!(
        targets,
        [
            ("/srv", true),
            ("/in", true),
            ("/srv/cache/inner", true),
            ("/run/secrets/token", false)
        ]
    );
    let merged = dirs.scratch.join("merged");
    let plans: Vec<MountPlan> = resolved
        .iter()
        .map(|m| mount_plan(m, &merged).unwrap())
        .collect();
    assert!(text(&plans[2].target).ends_with("/merged/srv/cache/inner"));
    let parents: Vec<&str> = plans[2].parents.iter().map(text).collect();
    assert!(parents[0].ends_with("/merged/srv") && parents[1].ends_with("/merged/srv/cache"));
    assert!(
        matches!(&plans[2].kind, MountPlanKind::Tmpfs { options } if text(options) == "mode=1777,size=4096")
    );
    assert!(plans[3].readonly && !plans[3].dir);
    match &plans[1].kind {
        MountPlanKind::Overlay {
            options,
            at,
            source,
        } => {
            assert!(text(options).starts_with(&format!("lowerdir={},upperdir=", stage.display())));
            assert!(text(source).starts_with(text(at)) && text(source).ends_with("/out"));
        }
        _ => panic!("a stage's files are an overlay, so writes are thrown away"),
    }
}

#[test]
fn a_mount_of_a_path_missing_from_its_stage_is_refused() {
    let dirs = dirs();
    let mounts = [ExtraMount {
        target: "/in".into(),
        source: MountFrom::Layers {
            lowers: vec![dirs.image.clone()],
            path: "/nope".into(),
        },
        readonly: true,
    }];
    let lowers = vec![dirs.image.clone()];
    let request = request(&dirs, &lowers, &mounts);
    let image = LayerStack::new(lowers.clone());
    let error = extra_mounts(&request, &image, &dirs.scratch)
        .err()
        .expect("refused");
    assert_eq!(
        error.to_string(),
        "source `/nope`: not found in the mount's source"
    );
}
