//! Image exchange proven against the real tools: docker (load/run/save), skopeo, umoci.
//! Each test skips with a reason when a tool is missing; CI installs them all.

use std::fs;
use std::process::Command;

use crate::util::{
    docker_available, have_tool, is_root, make_busybox_rootfs, skip_unless, tar_dir, TestEnv,
};

/// A store with `bb:1` imported from a busybox rootfs tarball.
fn env_with_busybox() -> Option<TestEnv> {
    if skip_unless(is_root(), "needs root") {
        return None;
    }
    let env = TestEnv::new();
    let rootfs = env.path("rootfs");
    if !make_busybox_rootfs(&rootfs) {
        return None;
    }
    let tar = env.path("rootfs.tar");
    tar_dir(&rootfs, &tar);
    env.ok(&[
        "import",
        "--change",
        "ENV PATH=/bin",
        "--change",
        "CMD [\"sh\"]",
        tar.to_str().unwrap(),
        "bb:1",
    ]);
    Some(env)
}

fn docker(args: &[&str]) -> (bool, String) {
    let output = Command::new("/usr/bin/docker").args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn unique(name: &str) -> String {
    format!("strata-test-{name}-{}", std::process::id())
}

#[test]
fn saved_images_load_and_run_in_docker_whiteouts_included() {
    let Some(env) = env_with_busybox() else {
        return;
    };
    if skip_unless(docker_available(), "dockerd is not running") {
        return;
    }
    let dir = env.write_files(
        "app",
        &[(
            "Dockerfile",
            "FROM bb:1\nRUN mkdir -p /data/sub && echo keep > /data/keep && echo gone > /data/gone && echo x > /data/sub/x\nRUN rm /data/gone && rm -rf /data/sub && mkdir /data/sub && echo y > /data/sub/y\nCMD [\"sh\", \"-c\", \"ls /data /data/sub && cat /data/keep\"]\n",
        )],
    );
    let name = unique("whiteouts");
    env.ok(&[
        "build",
        "-q",
        "-t",
        &format!("{name}:1"),
        dir.to_str().unwrap(),
    ]);
    let tar = env.path("image.tar");
    env.ok(&["save", "-o", tar.to_str().unwrap(), &format!("{name}:1")]);
    let (ok, out) = docker(&["load", "-i", tar.to_str().unwrap()]);
    assert!(ok, "{out}");
    let (ok, out) = docker(&["run", "--rm", &format!("{name}:1")]);
    let _ = docker(&["rmi", "-f", &format!("{name}:1")]);
    assert!(ok, "{out}");
    assert!(out.contains("keep") && out.contains("sub"), "{out}");
    assert!(
        !out.contains("gone"),
        "a file deleted in a later layer is gone: {out}"
    );
    assert!(
        out.contains("y") && !out.lines().any(|l| l.trim() == "x"),
        "the re-created dir is opaque: {out}"
    );
}

#[test]
fn docker_saved_images_load_and_build_from() {
    let Some(env) = env_with_busybox() else {
        return;
    };
    if skip_unless(docker_available(), "dockerd is not running") {
        return;
    }
    // Put an image into docker (through strata save), then take docker's own save back.
    let name = unique("from-docker");
    let tar = env.path("ours.tar");
    env.ok(&["tag", "bb:1", &format!("{name}:1")]);
    env.ok(&["save", "-o", tar.to_str().unwrap(), &format!("{name}:1")]);
    assert!(docker(&["load", "-i", tar.to_str().unwrap()]).0);
    let docker_tar = env.path("docker.tar");
    let (ok, out) = docker(&[
        "save",
        "-o",
        docker_tar.to_str().unwrap(),
        &format!("{name}:1"),
    ]);
    let _ = docker(&["rmi", "-f", &format!("{name}:1")]);
    assert!(ok, "{out}");
    let fresh = TestEnv::new();
    let loaded = fresh.ok(&["load", "-i", docker_tar.to_str().unwrap()]);
    assert_eq!(loaded.trim(), format!("Loaded image: {name}:1"));
    let dir = fresh.write_files(
        "app",
        &[(
            "Dockerfile",
            &format!("FROM {name}:1\nRUN echo built > /built\n"),
        )],
    );
    fresh.ok(&["build", "-q", "-t", "child:1", dir.to_str().unwrap()]);
    // A plain OCI archive (skopeo/buildah `oci-archive:`) loads too.
    if have_tool("skopeo") {
        let oci = env.path("plain-oci.tar");
        let status = Command::new("skopeo")
            .args([
                "copy",
                &format!("docker-archive:{}", docker_tar.display()),
                &format!("oci-archive:{}:{name}:1", oci.display()),
            ])
            .output()
            .unwrap();
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stderr)
        );
        let again = TestEnv::new();
        let loaded = again.ok(&["load", "-i", oci.to_str().unwrap()]);
        assert!(loaded.starts_with("Loaded image"), "{loaded}");
    }
}

#[test]
fn skopeo_reads_both_views_and_umoci_unpacks_what_export_gives() {
    let Some(env) = env_with_busybox() else {
        return;
    };
    if skip_unless(
        have_tool("skopeo") && have_tool("umoci"),
        "skopeo or umoci missing",
    ) {
        return;
    }
    let dir = env.write_files(
        "app",
        &[(
            "Dockerfile",
            "FROM bb:1\nRUN echo hello > /hello && ln -s hello /link\n",
        )],
    );
    env.ok(&["build", "-q", "-t", "xchg:1", dir.to_str().unwrap()]);
    let tar = env.path("x.tar");
    env.ok(&["save", "-o", tar.to_str().unwrap(), "xchg:1"]);
    for transport in ["oci-archive", "docker-archive"] {
        let output = Command::new("skopeo")
            .args(["inspect", &format!("{transport}:{}", tar.display())])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{transport}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let layout = env.path("layout");
    let output = Command::new("skopeo")
        .args([
            "copy",
            &format!("oci-archive:{}", tar.display()),
            &format!("oci:{}:x", layout.display()),
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let bundle = env.path("bundle");
    let output = Command::new("umoci")
        .args(["unpack", "--image", &format!("{}:x", layout.display())])
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let exported = env.path("export.tar");
    env.ok(&["export", "-o", exported.to_str().unwrap(), "xchg:1"]);
    let unpacked = env.path("exported");
    fs::create_dir(&unpacked).unwrap();
    assert!(Command::new("tar")
        .arg("-xf")
        .arg(&exported)
        .arg("-C")
        .arg(&unpacked)
        .status()
        .unwrap()
        .success());
    let listing = |root: &std::path::Path| {
        let output = Command::new("sh")
            .arg("-c")
            .arg("find . -printf '%p %y %m %U %G %s %l\\n' | sort")
            .current_dir(root)
            .output()
            .unwrap();
        String::from_utf8(output.stdout).unwrap()
    };
    assert_eq!(listing(&bundle.join("rootfs")), listing(&unpacked));
}

#[test]
fn compressed_saves_are_deterministic_and_compress_once() {
    let Some(env) = env_with_busybox() else {
        return;
    };
    let one = env.path("one.tar");
    let two = env.path("two.tar");
    env.ok(&[
        "save",
        "--compression",
        "gzip",
        "-o",
        one.to_str().unwrap(),
        "bb:1",
    ]);
    let blobs_after_first = fs::read_dir(env.root().join("blobs/sha256"))
        .unwrap()
        .count();
    env.ok(&[
        "save",
        "--compression",
        "gzip",
        "-o",
        two.to_str().unwrap(),
        "bb:1",
    ]);
    assert_eq!(fs::read(&one).unwrap(), fs::read(&two).unwrap());
    assert_eq!(
        fs::read_dir(env.root().join("blobs/sha256"))
            .unwrap()
            .count(),
        blobs_after_first,
        "the gzip blob was reused"
    );
    let fresh = TestEnv::new();
    assert!(fresh
        .ok(&["load", "-i", one.to_str().unwrap()])
        .contains("bb:1"));
    let zstd = env.path("z.tar");
    env.ok(&[
        "save",
        "--compression",
        "zstd",
        "-o",
        zstd.to_str().unwrap(),
        "bb:1",
    ]);
    let fresh = TestEnv::new();
    assert!(fresh
        .ok(&["load", "-i", zstd.to_str().unwrap()])
        .contains("bb:1"));
}

/// One raw tar entry: name, type flag, link target, content.
type RawEntry<'a> = (&'a str, u8, &'a str, &'a [u8]);

/// Writes a tar with raw entries, as a hostile tool would.
fn raw_tar(path: &std::path::Path, entries: &[RawEntry<'_>]) {
    let mut out = Vec::new();
    for (name, kind, link, content) in entries {
        let mut header = tar::Header::new_old();
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_mode(0o644);
        header.set_size(content.len() as u64);
        header.set_entry_type(tar::EntryType::new(*kind));
        header.set_cksum();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(content);
        out.extend(std::iter::repeat_n(0u8, (512 - content.len() % 512) % 512));
    }
    out.extend_from_slice(&[0u8; 1024]);
    fs::write(path, out).unwrap();
}

#[test]
fn hostile_tarballs_are_rejected_and_leave_nothing_behind() {
    let env = TestEnv::new();
    env.ok(&["du"]);
    let zero = "0".repeat(64);
    let good_manifest =
        format!(r#"[{{"Config":"blobs/sha256/{zero}","RepoTags":["evil:1"],"Layers":[]}}]"#);
    let cases: Vec<(&str, Vec<RawEntry<'_>>)> = vec![
        ("dotdot", vec![("../escape", b'0', "", b"x")]),
        ("absolute", vec![("/tmp/strata-escape", b'0', "", b"x")]),
        (
            "symlink-out",
            vec![
                ("layer.tar", b'2', "../../etc/passwd", b""),
                ("manifest.json", b'0', "", b"[]"),
            ],
        ),
        (
            "hardlink-out",
            vec![
                ("layer.tar", b'1', "../outside", b""),
                ("manifest.json", b'0', "", b"[]"),
            ],
        ),
        (
            "digest-mismatch",
            vec![(
                "blobs/sha256/0000000000000000000000000000000000000000000000000000000000000000",
                b'0',
                "",
                b"not that",
            )],
        ),
        (
            "missing-blob",
            vec![("manifest.json", b'0', "", good_manifest.as_bytes())],
        ),
        ("not-an-archive", vec![("readme", b'0', "", b"hello")]),
    ];
    for (name, entries) in cases {
        let tar = env.path(&format!("{name}.tar"));
        raw_tar(&tar, &entries);
        let output = env.run(&["load", "-i", tar.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{name} must be rejected");
        assert!(stderr.contains("invalid image archive"), "{name}: {stderr}");
        assert_eq!(
            fs::read_dir(env.root().join("blobs/sha256"))
                .unwrap()
                .count(),
            0,
            "{name} left blobs"
        );
        assert_eq!(
            fs::read_dir(env.root().join("snapshots")).unwrap().count(),
            0,
            "{name} left snapshots"
        );
    }
    assert!(!std::path::Path::new("/tmp/strata-escape").exists());
    // Truncated: a real archive cut in half.
    let Some(source) = env_with_busybox() else {
        return;
    };
    let full = source.path("full.tar");
    source.ok(&["save", "-o", full.to_str().unwrap(), "bb:1"]);
    let bytes = fs::read(&full).unwrap();
    let cut = env.path("cut.tar");
    fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let output = env.run(&["load", "-i", cut.to_str().unwrap()]);
    assert!(!output.status.success());
    assert_eq!(
        fs::read_dir(env.root().join("blobs/sha256"))
            .unwrap()
            .count(),
        0,
        "truncated load left blobs"
    );
}

#[test]
fn images_tag_rmi_inspect_and_history_behave_like_docker() {
    let Some(env) = env_with_busybox() else {
        return;
    };
    env.ok(&["tag", "bb:1", "other/name:2"]);
    let list = env.ok(&["images"]);
    assert!(list.starts_with("REPOSITORY"), "{list}");
    assert!(list.contains("other/name") && list.contains("bb"), "{list}");
    let id = env.ok(&["inspect", "--format", "{{.Id}}", "bb:1"]);
    assert!(id.trim().starts_with("sha256:"), "{id}");
    assert_eq!(
        env.ok(&["inspect", "--format", "{{json .Config.Env}}", "bb:1"])
            .trim(),
        r#"["PATH=/bin"]"#
    );
    assert_eq!(
        env.ok(&["inspect", "--format", "{{.Config.Cmd}}", "other/name:2"])
            .trim(),
        "[sh]"
    );
    let json: serde_json::Value = serde_json::from_str(&env.ok(&["inspect", "bb:1"])).unwrap();
    assert_eq!(json[0]["RepoTags"].as_array().unwrap().len(), 2);
    assert_eq!(json[0]["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    let history = env.ok(&["history", "bb:1"]);
    assert!(history.contains("strata import"), "{history}");
    assert!(env
        .ok(&["rmi", "other/name:2"])
        .contains("Untagged: other/name:2"));
    assert!(!env.run(&["inspect", "other/name:2"]).status.success());
    let prefix = &id.trim()["sha256:".len().."sha256:".len() + 12];
    assert!(env
        .ok(&["inspect", "--format", "{{.Id}}", prefix])
        .contains(prefix));
}
