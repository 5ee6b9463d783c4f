//! strata ⇄ docker: what strata saves, docker loads and runs; what docker saves (20.10's
//! legacy layout, and the Docker 25+ layout), strata loads and builds from.

use std::fs;
use std::process::{Command, Stdio};

use super::{docker, env_with_busybox, tool, unique};
use crate::util::{docker_available, have_tool, skip_unless, TestEnv};

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
    let name = format!("{}:1", unique("whiteouts"));
    env.ok(&["build", "-q", "-t", &name, dir.to_str().unwrap()]);
    // Through a pipe, as people use it: `strata save x | docker load`.
    let mut save = env
        .strata(&["save", &name])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let loaded = Command::new("/usr/bin/docker")
        .arg("load")
        .stdin(save.stdout.take().unwrap())
        .output()
        .unwrap();
    assert!(save.wait().unwrap().success(), "strata save failed");
    let text = String::from_utf8_lossy(&loaded.stdout);
    assert!(
        loaded.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&loaded.stderr)
    );
    assert!(text.contains(&format!("Loaded image: {name}")), "{text}");
    let (ok, out) = docker(&["run", "--rm", &name]);
    let (_, id) = docker(&["inspect", "--format", "{{.Id}}", &name]);
    let _ = docker(&["rmi", "-f", &name]);
    assert!(ok, "{out}");
    assert_eq!(
        id.trim(),
        env.ok(&["inspect", "--format", "{{.Id}}", &name]).trim(),
        "same image ID"
    );
    assert!(out.contains("keep") && out.contains("sub"), "{out}");
    assert!(
        !out.contains("gone"),
        "a file deleted in a later layer is gone: {out}"
    );
    assert!(
        out.lines().any(|l| l.trim() == "y") && !out.lines().any(|l| l.trim() == "x"),
        "the re-created dir is opaque: {out}"
    );
}

#[test]
fn compressed_saves_load_and_run_in_docker() {
    let Some(env) = env_with_busybox() else {
        return;
    };
    if skip_unless(docker_available(), "dockerd is not running") {
        return;
    }
    let name = format!("{}:1", unique("gzip"));
    env.ok(&["tag", "bb:1", &name]);
    let tar = env.path("gz.tar");
    env.ok(&[
        "save",
        "--compression",
        "gzip",
        "-o",
        tar.to_str().unwrap(),
        &name,
    ]);
    let (ok, out) = docker(&["load", "-i", tar.to_str().unwrap()]);
    assert!(ok, "{out}");
    let (ok, out) = docker(&["run", "--rm", &name, "echo", "gzip layers run"]);
    let _ = docker(&["rmi", "-f", &name]);
    assert!(ok && out.contains("gzip layers run"), "{out}");
}

/// Puts `bb:1` into docker under `name` (through strata save) and returns docker's own save
/// of it (dockerd 20.10: the legacy per-layer-directory layout).
fn docker_saved(env: &TestEnv, name: &str) -> std::path::PathBuf {
    let ours = env.path("ours.tar");
    env.ok(&["tag", "bb:1", name]);
    env.ok(&["save", "-o", ours.to_str().unwrap(), name]);
    let (ok, out) = docker(&["load", "-i", ours.to_str().unwrap()]);
    assert!(ok, "{out}");
    let docker_tar = env.path("docker.tar");
    let (ok, out) = docker(&["save", "-o", docker_tar.to_str().unwrap(), name]);
    let _ = docker(&["rmi", "-f", name]);
    assert!(ok, "{out}");
    docker_tar
}

/// Builds FROM a loaded image and runs a command in it: the loaded snapshots are usable.
fn build_from(env: &TestEnv, base: &str) {
    let dir = env.write_files(
        "child",
        &[(
            "Dockerfile",
            &format!("FROM {base}\nRUN echo built > /built && ls /bin/busybox\nCMD [\"cat\", \"/built\"]\n"),
        )],
    );
    env.ok(&["build", "-q", "-t", "child:1", dir.to_str().unwrap()]);
    let json: serde_json::Value = serde_json::from_str(&env.ok(&["inspect", "child:1"])).unwrap();
    assert_eq!(
        json[0]["Config"]["Cmd"],
        serde_json::json!(["cat", "/built"])
    );
    assert_eq!(json[0]["RootFS"]["Layers"].as_array().unwrap().len(), 2);
}

#[test]
fn docker_20_saves_load_and_build_from() {
    let Some(env) = env_with_busybox() else {
        return;
    };
    if skip_unless(docker_available(), "dockerd is not running") {
        return;
    }
    let name = format!("{}:1", unique("legacy"));
    let docker_tar = docker_saved(&env, &name);
    let listing = tool("tar", &["-tf", docker_tar.to_str().unwrap()]).1;
    assert!(
        listing.contains("/layer.tar"),
        "dockerd 20.10 writes per-layer dirs: {listing}"
    );
    let fresh = TestEnv::new();
    let loaded = fresh.ok(&["load", "-i", docker_tar.to_str().unwrap()]);
    assert_eq!(loaded.trim(), format!("Loaded image: {name}"));
    let id = |e: &TestEnv, n: &str| e.ok(&["inspect", "--format", "{{.Id}}", n]);
    assert_eq!(
        id(&fresh, &name),
        id(&env, "bb:1"),
        "docker keeps the config as it is"
    );
    assert_eq!(
        fresh
            .ok(&["inspect", "--format", "{{json .Config.Cmd}}", &name])
            .trim(),
        r#"["sh"]"#
    );
    build_from(&fresh, &name);
    // The same through stdin, gzip-compressed (`docker save x | gzip | strata load`).
    let gz = env.path("docker.tar.gz");
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "gzip -c {} > {}",
            docker_tar.display(),
            gz.display()
        ))
        .status()
        .unwrap();
    assert!(status.success());
    let again = TestEnv::new();
    let output = again.run_with_stdin(&["load"], &fs::read(&gz).unwrap());
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(id(&again, &name), id(&env, "bb:1"));
}

#[test]
fn docker_25_style_archives_load_and_build_from() {
    let Some(env) = env_with_busybox() else {
        return;
    };
    if skip_unless(docker_available(), "dockerd is not running")
        || skip_unless(have_tool("skopeo"), "skopeo is missing")
    {
        return;
    }
    let name = format!("{}:1", unique("docker25"));
    let docker_tar = docker_saved(&env, &name);
    // Docker 25+ writes an OCI layout (uncompressed layers) plus manifest.json and
    // repositories: make one from skopeo's OCI layout of docker's save.
    let layout = env.path("layout");
    let (ok, out) = tool(
        "skopeo",
        &[
            "copy",
            "--dest-oci-accept-uncompressed-layers",
            &format!("docker-archive:{}", docker_tar.display()),
            &format!("oci:{}:{name}", layout.display()),
        ],
    );
    assert!(ok, "{out}");
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest_digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let blob = |digest: &str| {
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(blob(&manifest_digest)).unwrap()).unwrap();
    let path = |d: &serde_json::Value| {
        format!(
            "blobs/sha256/{}",
            d["digest"].as_str().unwrap().trim_start_matches("sha256:")
        )
    };
    let docker_manifest = serde_json::json!([{
        "Config": path(&manifest["config"]),
        "RepoTags": [name],
        "Layers": manifest["layers"].as_array().unwrap().iter().map(path).collect::<Vec<_>>(),
    }]);
    fs::write(layout.join("manifest.json"), docker_manifest.to_string()).unwrap();
    let (repo, tag) = name.split_once(':').unwrap();
    fs::write(
        layout.join("repositories"),
        serde_json::json!({repo: {tag: "x"}}).to_string(),
    )
    .unwrap();
    let docker25 = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": fs::metadata(blob(&manifest_digest)).unwrap().len(),
            "annotations": {
                "io.containerd.image.name": format!("docker.io/library/{name}"),
                "org.opencontainers.image.ref.name": tag,
            },
        }],
    });
    fs::write(layout.join("index.json"), docker25.to_string()).unwrap();
    let tar = env.path("docker25.tar");
    let (ok, out) = tool(
        "tar",
        &[
            "-C",
            layout.to_str().unwrap(),
            "-cf",
            tar.to_str().unwrap(),
            ".",
        ],
    );
    assert!(ok, "{out}");
    let fresh = TestEnv::new();
    assert_eq!(
        fresh.ok(&["load", "-i", tar.to_str().unwrap()]).trim(),
        format!("Loaded image: {name}")
    );
    assert_eq!(
        fresh
            .ok(&["inspect", "--format", "{{index .RepoDigests 0}}", &name])
            .trim(),
        format!("{repo}@{manifest_digest}"),
        "the loaded manifest is kept as it is"
    );
    build_from(&fresh, &name);
}
