//! `images`, `tag`, `rmi`, `inspect`, `history`, `import`, `export` as docker users expect.

use std::fs;

use super::{docker, env_with_busybox, tool, unique};
use crate::util::{docker_available, skip_unless};

#[test]
fn images_tag_rmi_inspect_and_history_behave_like_docker() {
    let Some(env) = env_with_busybox() else {
        return;
    };
    env.ok(&["tag", "bb:1", "other/name:2"]);
    env.ok(&["tag", "bb:1", "docker.io/library/third"]);
    let list = env.ok(&["images"]);
    let header = list.lines().next().unwrap();
    for column in ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"] {
        assert!(header.contains(column), "{list}");
    }
    assert!(
        list.contains("other/name") && list.contains("third "),
        "{list}"
    );
    assert!(list.contains("ago"), "{list}");
    let id = env.ok(&["inspect", "--format", "{{.Id}}", "bb:1"]);
    assert!(id.trim().starts_with("sha256:"), "{id}");
    assert_eq!(
        env.ok(&["images", "-q"]).trim(),
        &id.trim()["sha256:".len()..][..12]
    );
    assert_eq!(
        env.ok(&[
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}}",
            "other/name"
        ])
        .trim(),
        "other/name:2"
    );
    let json_line = env.ok(&["images", "--format", "json", "bb"]);
    let row: serde_json::Value = serde_json::from_str(json_line.trim()).unwrap();
    assert_eq!(row["Tag"], "1");
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
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.Config.Entrypoint}}", "third"])
            .trim(),
        "[]"
    );
    let json: serde_json::Value = serde_json::from_str(&env.ok(&["inspect", "bb:1"])).unwrap();
    assert_eq!(json[0]["RepoTags"].as_array().unwrap().len(), 3);
    assert_eq!(json[0]["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    assert_eq!(json[0]["Os"], "linux");
    assert!(json[0]["Size"].as_u64().unwrap() > 1_000_000);
    let history = env.ok(&["history", "bb:1"]);
    assert!(history.starts_with("IMAGE"), "{history}");
    assert!(history.contains("Imported from"), "{history}");
    assert_eq!(
        env.ok(&["history", "-q", "bb:1"]).trim(),
        &id.trim()["sha256:".len()..][..12]
    );
    // Names go one by one; by ID only with -f when several remain.
    assert!(env
        .ok(&["rmi", "other/name:2"])
        .contains("Untagged: other/name:2"));
    assert!(!env.run(&["inspect", "other/name:2"]).status.success());
    let prefix = &id.trim()["sha256:".len()..][..12];
    assert!(env
        .ok(&["inspect", "--format", "{{.Id}}", prefix])
        .contains(prefix));
    let refused = env.run(&["rmi", prefix]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("must be forced"));
    let removed = env.ok(&["rmi", "-f", prefix]);
    assert!(
        removed.contains("Untagged: bb:1") && removed.contains("Untagged: third:latest"),
        "{removed}"
    );
    assert_eq!(env.ok(&["images", "-q"]), "");
    // Missing images: inspect prints what it found and fails.
    let output = env.run(&["inspect", "nothing:here"]);
    assert!(!output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "[]");
}

#[test]
fn inspect_matches_docker_for_the_fields_scripts_read() {
    let Some(env) = env_with_busybox() else {
        return;
    };
    if skip_unless(docker_available(), "dockerd is not running") {
        return;
    }
    let name = format!("{}:1", unique("inspect"));
    env.ok(&["tag", "bb:1", &name]);
    let tar = env.path("i.tar");
    env.ok(&["save", "-o", tar.to_str().unwrap(), &name]);
    let (ok, out) = docker(&["load", "-i", tar.to_str().unwrap()]);
    assert!(ok, "{out}");
    // A store holding just that one name, as docker does.
    let fresh = crate::util::TestEnv::new();
    fresh.ok(&["load", "-i", tar.to_str().unwrap()]);
    for template in [
        "{{.Id}}",
        "{{json .Config.Env}}",
        "{{.Config.Cmd}}",
        "{{.Config.Entrypoint}}",
        "{{json .Config.Cmd}}",
        "{{.Os}}/{{.Architecture}}",
        "{{.RootFS.Type}}",
        "{{.RepoTags}}",
        "{{.Config.WorkingDir}}|{{.Config.User}}",
        "{{len .RootFS.Layers}}",
    ] {
        let (ok, theirs) = docker(&["image", "inspect", "--format", template, &name]);
        assert!(ok, "{theirs}");
        assert_eq!(
            fresh.ok(&["inspect", "--format", template, &name]),
            theirs,
            "{template}"
        );
    }
    let _ = docker(&["rmi", "-f", &name]);
}

#[test]
fn import_reads_stdin_and_compressed_tarballs_and_export_flattens() {
    let Some(env) = env_with_busybox() else {
        return;
    };
    let rootfs = env.path("rootfs.tar");
    let gz = env.path("rootfs.tar.gz");
    let (ok, out) = tool(
        "sh",
        &[
            "-c",
            &format!("gzip -c {} > {}", rootfs.display(), gz.display()),
        ],
    );
    assert!(ok, "{out}");
    let output = env
        .strata(&[
            "import",
            "-m",
            "from a pipe",
            "-c",
            "WORKDIR /srv",
            "-",
            "piped:1",
        ])
        .stdin(fs::File::open(&gz).unwrap())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("sha256:"));
    assert_eq!(
        env.ok(&[
            "inspect",
            "-f",
            "{{.Config.WorkingDir}} {{.Comment}}",
            "piped:1"
        ])
        .trim(),
        "/srv from a pipe"
    );
    assert_eq!(
        env.ok(&["inspect", "-f", "{{index .RootFS.Layers 0}}", "piped:1"]),
        env.ok(&["inspect", "-f", "{{index .RootFS.Layers 0}}", "bb:1"]),
        "the same files give the same layer, compressed or not"
    );
    let bad = env.run(&[
        "import",
        "-c",
        "RUN echo no",
        rootfs.to_str().unwrap(),
        "x:1",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("RUN is not allowed"));
    let exported = env.path("flat.tar");
    env.ok(&["export", "-o", exported.to_str().unwrap(), "piped:1"]);
    let (_, files) = tool("tar", &["-tvf", exported.to_str().unwrap()]);
    assert!(files.contains("bin/busybox"), "{files}");
    assert!(files.contains("bin/sh -> busybox"), "{files}");
}
