//! `--build-context NAME=…` of each kind (a directory, `docker-image://`, `oci-layout://`),
//! used by `FROM NAME`, `COPY --from=NAME` and `RUN --mount=from=NAME`, and overriding a
//! stage or a base image of the same name, as BuildKit resolves them. Results are read back
//! through `-o type=local`. Each test skips with a reason when root, the registry or skopeo
//! is missing.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::exchange::tool;
use crate::registry::server::Registry;
use crate::util::{env_with_imported_busybox, have_tool, TestEnv};

fn env() -> Option<TestEnv> {
    env_with_imported_busybox("bb:1", "CMD [\"sh\"]")
}

/// Builds `dockerfile` with `args`, the result's files into a fresh dir; returns the dir.
fn build_files(env: &TestEnv, name: &str, dockerfile: &str, args: &[&str]) -> std::path::PathBuf {
    let context = env.write_files(&format!("{name}-ctx"), &[("Dockerfile", dockerfile)]);
    let out = env.path(&format!("{name}-out"));
    let mut all = vec!["build", "--progress", "plain"];
    all.extend_from_slice(args);
    let dest = format!("type=local,dest={}", out.display());
    all.extend(["-o", &dest, context.to_str().unwrap()]);
    env.ok(&all);
    out
}

fn read(dir: &Path, path: &str) -> String {
    fs::read_to_string(dir.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn a_directory_context_serves_copy_mounts_and_from_through_its_own_dockerignore() {
    let Some(env) = env() else {
        return;
    };
    let src = env.write_files(
        "src",
        &[
            ("hello.txt", "hello from src\n"),
            ("secret.key", "never copied\n"),
            (".dockerignore", "*.key\n"),
        ],
    );
    std::os::unix::fs::chown(src.join("hello.txt"), Some(1000), Some(1000)).unwrap();
    let context = format!("src={}", src.display());
    let out = build_files(
        &env,
        "dir",
        "FROM bb:1\nCOPY --from=src hello.txt /copied\n\
         RUN --mount=from=src,target=/m cat /m/hello.txt > /mounted && ls /m > /listing\n",
        &["--build-context", &context],
    );
    assert_eq!(read(&out, "copied"), "hello from src\n");
    assert_eq!(read(&out, "mounted"), "hello from src\n");
    assert!(!read(&out, "listing").contains("secret.key"), "ignored");

    // FROM the directory: its files as the stage's filesystem, owned by root as COPY makes
    // context files.
    let from = build_files(&env, "from", "FROM src\n", &["--build-context", &context]);
    assert_eq!(read(&from, "hello.txt"), "hello from src\n");
    assert!(!from.join("secret.key").exists());
    let tar = env.path("from.tar");
    let dockerfile = env.write_files("from-tar", &[("Dockerfile", "FROM src\n")]);
    env.ok(&[
        "build",
        "--build-context",
        &context,
        "-o",
        &format!("type=tar,dest={}", tar.display()),
        dockerfile.to_str().unwrap(),
    ]);
    let (ok, listing) = tool("tar", &["--numeric-owner", "-tvf", tar.to_str().unwrap()]);
    assert!(ok, "{listing}");
    let line = listing.lines().find(|l| l.ends_with("hello.txt")).unwrap();
    assert!(line.contains(" 0/0 "), "{line}");

    // A changed file in the context is a new key: the copy runs again and sees it.
    fs::write(src.join("hello.txt"), "changed\n").unwrap();
    let again = build_files(
        &env,
        "again",
        "FROM bb:1\nCOPY --from=src hello.txt /copied\n",
        &["--build-context", &context],
    );
    assert_eq!(read(&again, "copied"), "changed\n");
}

#[test]
fn a_context_replaces_the_stage_of_its_name_and_the_stage_never_runs() {
    let Some(env) = env() else {
        return;
    };
    let prebuilt = env.write_files("prebuilt", &[("artifact", "prebuilt\n")]);
    let dockerfile = "FROM bb:1 AS builder\nRUN echo built > /artifact && exit 3\n\
                      FROM bb:1\nCOPY --from=builder /artifact /artifact\n";
    let context = format!("builder={}", prebuilt.display());
    let out = build_files(&env, "stage", dockerfile, &["--build-context", &context]);
    assert_eq!(
        read(&out, "artifact"),
        "prebuilt\n",
        "the failing RUN was never run"
    );
    let hello = fs::metadata(out.join("artifact")).unwrap();
    assert_eq!(hello.mode() & 0o777, 0o644);
}

/// A registry holding `tools:1` (busybox plus `/tool`), pushed from another store.
fn registry_with_tools() -> Option<(Registry, String)> {
    let registry = Registry::start()?;
    let env = env()?;
    let reference = format!("{}/ctx/tools:1", registry.addr);
    let dir = env.write_files(
        "tools",
        &[("Dockerfile", "FROM bb:1\nRUN echo tool-v1 > /tool\n")],
    );
    env.ok(&[
        "build",
        "-q",
        "-t",
        &reference,
        "--push",
        dir.to_str().unwrap(),
    ]);
    Some((registry, reference))
}

#[test]
fn a_docker_image_context_is_pulled_and_overrides_the_image_of_its_name() {
    let Some((_registry, reference)) = registry_with_tools() else {
        return;
    };
    let Some(env) = env() else {
        return;
    };
    assert!(!env.ok(&["images"]).contains("tools"), "a fresh store");
    let tools = format!("tools=docker-image://{reference}");
    let out = build_files(
        &env,
        "image",
        "FROM bb:1\nCOPY --from=tools /tool /copied\n\
         RUN --mount=from=tools,target=/m cat /m/tool > /mounted\n",
        &["--build-context", &tools],
    );
    assert_eq!(read(&out, "copied"), "tool-v1\n");
    assert_eq!(read(&out, "mounted"), "tool-v1\n");

    // `FROM alpine` with an `alpine` context never looks for alpine (there is no network).
    let alpine = format!("alpine=docker-image://{reference}");
    let out = build_files(
        &env,
        "override",
        "FROM docker.io/library/alpine:latest\nRUN cat /tool > /seen\n",
        &["--build-context", &alpine],
    );
    assert_eq!(read(&out, "seen"), "tool-v1\n");
}

#[test]
fn an_oci_layout_context_is_loaded_by_tag() {
    let Some(env) = env() else {
        return;
    };
    // An image as an OCI layout directory: skopeo's `oci:` layout when skopeo is here, else
    // strata's own tarball unpacked (it is a layout too).
    let archive = env.path("tools.tar");
    let dir = env.write_files(
        "tools",
        &[("Dockerfile", "FROM bb:1\nRUN echo from-layout > /tool\n")],
    );
    env.ok(&[
        "build",
        "-q",
        "-o",
        &format!("type=oci,dest={},name=tools:v2", archive.display()),
        dir.to_str().unwrap(),
    ]);
    let layout = env.path("layout");
    if have_tool("skopeo") {
        let (ok, out) = tool(
            "skopeo",
            &[
                "copy",
                &format!("oci-archive:{}:v2", archive.display()),
                &format!("oci:{}:v2", layout.display()),
            ],
        );
        assert!(ok, "{out}");
    } else {
        fs::create_dir_all(&layout).unwrap();
        let (ok, out) = tool(
            "tar",
            &[
                "-xf",
                archive.to_str().unwrap(),
                "-C",
                layout.to_str().unwrap(),
            ],
        );
        assert!(ok, "{out}");
    }
    let context = format!("tools=oci-layout://{}:v2", layout.display());
    let out = build_files(
        &env,
        "layout",
        "FROM tools\nRUN cat /tool > /seen\nFROM bb:1\nCOPY --from=tools /tool /copied\n\
         COPY --from=0 /seen /seen\n",
        &["--build-context", &context],
    );
    assert_eq!(read(&out, "seen"), "from-layout\n");
    assert_eq!(read(&out, "copied"), "from-layout\n");
    // With a second entry, a tag the layout does not have is an error that names it (with a
    // single entry, buildx takes that one whatever the tag).
    let index_path = layout.join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&fs::read(&index_path).unwrap()).unwrap();
    let mut other = index["manifests"][0].clone();
    other["annotations"]["org.opencontainers.image.ref.name"] = "other".into();
    index["manifests"].as_array_mut().unwrap().push(other);
    fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    let missing = format!("tools=oci-layout://{}:v3", layout.display());
    let context_dir = env.write_files("missing", &[("Dockerfile", "FROM tools\n")]);
    let output = env.run(&[
        "build",
        "--build-context",
        &missing,
        context_dir.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("has no image tagged `v3` (tags: v2, other)"),
        "{stderr}"
    );
}

#[test]
fn bad_context_values_are_refused_with_the_value() {
    let env = TestEnv::new();
    let dir = env.write_files("app", &[("Dockerfile", "FROM scratch\n")]);
    for (value, expected) in [
        ("nothing", "expected NAME=VALUE"),
        ("Bad=.", "invalid context name `Bad`"),
        ("x=/does/not/exist", "`/does/not/exist` is not a directory"),
        ("x=https://example.com/ctx.tar", "unsupported source"),
    ] {
        let output = env.run(&["build", "--build-context", value, dir.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{value}");
        assert!(stderr.contains(expected), "{value}: {stderr}");
    }
}
