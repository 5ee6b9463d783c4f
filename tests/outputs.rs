//! `build -o/--output`, `--push` and `--metadata-file`, as buildx has them: the files of the
//! result (a directory, a tar, stdout) equal the image's flattened filesystem (`strata
//! export` of the same build); image tarballs load in docker and skopeo; a push lands in the
//! registry (Debian's `docker-registry`, started here) with the digest the metadata file
//! reports. Each test skips with a reason when root, docker, skopeo or the registry is
//! missing.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde_json::Value;
use sha2::{Digest as _, Sha256};
use strata_oci::registry::{AuthSource, Registry as Client, RegistryOptions, Remote};

use crate::exchange::{docker, tool, unique};
use crate::registry::server::Registry;
use crate::util::{docker_available, env_with_imported_busybox, have_tool, skip_unless, TestEnv};

/// A build whose result has a bit of everything: a file owned by uid 1000 with mode 640, a
/// symlink, a hard link pair, an empty directory and a file deleted from the base (a
/// whiteout in the layer, absent from the files).
const DOCKERFILE: &str = "FROM bb:1\n\
RUN mkdir -p /out/empty && echo hi > /out/a && ln -s a /out/b && ln /out/a /out/hard \
&& echo mine > /out/owned && chown 1000:1000 /out/owned && chmod 640 /out/owned && rm /bin/ls\n\
CMD [\"cat\", \"/out/a\"]\n";

fn env_and_context() -> Option<(TestEnv, String)> {
    let env = env_with_imported_busybox("bb:1", "CMD [\"sh\"]")?;
    let dir = env.write_files("app", &[("Dockerfile", DOCKERFILE)]);
    let context = dir.to_str().unwrap().to_string();
    Some((env, context))
}

/// Every entry under `root` as `path type mode size nlink target mtime`, sorted: what two
/// copies of one filesystem must agree on (owners are compared separately).
fn tree(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let kind = if meta.is_dir() {
                "dir"
            } else if meta.file_type().is_symlink() {
                "link"
            } else {
                "file"
            };
            let size = if meta.is_file() { meta.len() } else { 0 };
            let nlink = if meta.is_file() { meta.nlink() } else { 0 };
            let target = fs::read_link(&path)
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            out.push(format!(
                "{rel} {kind} {:o} {size} {nlink} {target} {}",
                meta.mode() & 0o7777,
                meta.mtime()
            ));
            if meta.is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// Unpacks a tar as root keeps it (owners, modes, times) into a new dir under `env`.
fn unpacked(env: &TestEnv, tar: &Path, name: &str) -> std::path::PathBuf {
    let dir = env.path(name);
    fs::create_dir_all(&dir).unwrap();
    let (ok, out) = tool(
        "tar",
        &[
            "--numeric-owner",
            "-xpf",
            tar.to_str().unwrap(),
            "-C",
            dir.to_str().unwrap(),
        ],
    );
    assert!(ok, "{out}");
    dir
}

fn metadata(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

#[test]
fn local_and_tar_outputs_are_the_image_s_flattened_filesystem() {
    let Some((env, context)) = env_and_context() else {
        return;
    };
    env.ok(&["build", "-q", "-t", "files:1", &context]);
    let local = env.path("local");
    let tar = env.path("fs.tar");
    let meta = env.path("meta.json");
    let spec = format!("type=local,dest={}", local.display());
    let tar_spec = format!("type=tar,dest={}", tar.display());
    env.ok(&[
        "build",
        "-t",
        "onlyfiles:1",
        "-o",
        &spec,
        "--output",
        &tar_spec,
        "--metadata-file",
        meta.to_str().unwrap(),
        &context,
    ]);
    let exported = env.path("export.tar");
    env.ok(&["export", "-o", exported.to_str().unwrap(), "files:1"]);
    assert_eq!(
        fs::read(&tar).unwrap(),
        fs::read(&exported).unwrap(),
        "type=tar is the export of the same image, byte for byte"
    );
    let flat = unpacked(&env, &exported, "flat");
    assert_eq!(tree(&local), tree(&flat));
    let listing = tree(&local).join("\n");
    assert!(listing.contains("out/b link 777 0 0 a"), "{listing}");
    assert!(listing.contains("out/owned file 640 5 1"), "{listing}");
    assert!(
        !listing.contains("bin/ls "),
        "the deleted file is gone:\n{listing}"
    );
    // The files belong to whoever ran the build, as buildx gives them to the calling user.
    let uid = |dir: &Path| fs::metadata(dir.join("out/owned")).unwrap().uid();
    assert_eq!(uid(&flat), 1000);
    let mine = env.path("mine");
    fs::write(&mine, "").unwrap();
    assert_eq!(uid(&local), fs::metadata(&mine).unwrap().uid());
    assert!(
        fs::metadata(local.join("out/a")).unwrap().ino()
            == fs::metadata(local.join("out/hard")).unwrap().ino()
    );
    // No image output: nothing named, and a metadata file with nothing to say.
    assert!(!env.ok(&["images"]).contains("onlyfiles"));
    assert_eq!(metadata(&meta), serde_json::json!({}));

    // Into a directory that has files already: merged, as buildx merges.
    fs::write(local.join("keep-me"), "mine").unwrap();
    fs::write(local.join("out/a"), "stale").unwrap();
    env.ok(&["build", "-q", "-o", local.to_str().unwrap(), &context]);
    assert_eq!(fs::read_to_string(local.join("keep-me")).unwrap(), "mine");
    assert_eq!(fs::read_to_string(local.join("out/a")).unwrap(), "hi\n");

    // `-o -`: the tar on stdout.
    let piped = env.run(&["build", "--progress", "quiet", "-o", "-", &context]);
    assert!(piped.status.success(), "{piped:?}");
    assert_eq!(piped.stdout, fs::read(&exported).unwrap());
}

#[test]
fn bad_output_specs_fail_before_the_build_and_name_the_value() {
    let env = TestEnv::new();
    let dir = env.write_files("app", &[("Dockerfile", "FROM scratch\n")]);
    let context = dir.to_str().unwrap();
    for (spec, expected) in [
        (
            "type=s3,dest=x",
            "invalid --output `type=s3,dest=x`: unknown output type `s3`",
        ),
        (
            "type=local,dest=x,compression=gzip",
            "unknown key `compression` for a local output (known: type, dest)",
        ),
        (
            "type=tar",
            "invalid --output `type=tar`: `dest` is required",
        ),
    ] {
        let output = env.run(&["build", "-o", spec, context]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success());
        assert!(stderr.contains(expected), "{spec}: {stderr}");
    }
    let output = env.run(&["build", "--push", context]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("tag is needed when pushing"));
}

#[test]
fn image_tarball_outputs_load_in_docker_and_skopeo() {
    let Some((env, context)) = env_and_context() else {
        return;
    };
    if skip_unless(docker_available(), "dockerd is not running")
        || skip_unless(have_tool("skopeo"), "skopeo is missing")
    {
        return;
    }
    let name = format!("{}:1", unique("outputs"));
    let oci = env.path("oci.tar");
    let docker_tar = env.path("docker.tar");
    let meta = env.path("meta.json");
    env.ok(&[
        "build",
        "-t",
        &name,
        "-o",
        &format!("type=oci,dest={}", oci.display()),
        "-o",
        &format!("type=docker,dest={},compression=gzip", docker_tar.display()),
        "--metadata-file",
        meta.to_str().unwrap(),
        &context,
    ]);
    assert!(
        !env.ok(&["images"]).contains(&unique("outputs")),
        "tarball outputs store no image"
    );
    let meta = metadata(&meta);
    let (ok, out) = tool(
        "skopeo",
        &["inspect", &format!("oci-archive:{}:1", oci.display())],
    );
    assert!(ok, "{out}");
    let oci_view: Value = serde_json::from_str(&out).unwrap();
    let (ok, out) = tool(
        "skopeo",
        &[
            "inspect",
            &format!("docker-archive:{}:{name}", docker_tar.display()),
        ],
    );
    assert!(ok, "{out}");
    // The metadata describes the last image output: the gzip docker tarball, whose manifest
    // differs from the plain one (compressed layers), while the image ID is the same.
    let docker_manifest = tar_manifest_digest(&docker_tar);
    assert_eq!(meta["containerimage.digest"], docker_manifest);
    assert_eq!(meta["containerimage.descriptor"]["digest"], docker_manifest);
    assert_ne!(oci_view["Digest"], docker_manifest);
    assert_eq!(meta["image.name"], name);

    for tar in [&oci, &docker_tar] {
        let (ok, out) = docker(&["load", "-i", tar.to_str().unwrap()]);
        assert!(ok, "{out}");
        let (ok, id) = docker(&["image", "inspect", "--format", "{{.Id}}", &name]);
        assert!(ok, "{id}");
        assert_eq!(id.trim(), meta["containerimage.config.digest"]);
        let (ok, out) = docker(&["run", "--rm", &name]);
        assert!(ok, "{out}");
        assert_eq!(out, "hi\n");
        docker(&["rmi", &name]);
    }
}

/// The manifest digest `index.json` of an image tarball names.
fn tar_manifest_digest(tar: &Path) -> String {
    let mut archive = tar::Archive::new(fs::File::open(tar).unwrap());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap() == Path::new("index.json") {
            let index: Value = serde_json::from_reader(&mut entry).unwrap();
            return index["manifests"][0]["digest"]
                .as_str()
                .unwrap()
                .to_string();
        }
    }
    panic!("no index.json in {}", tar.display());
}

#[test]
fn push_lands_in_the_registry_with_the_digest_the_metadata_file_reports() {
    let Some((env, context)) = env_and_context() else {
        return;
    };
    let Some(registry) = Registry::start() else {
        return;
    };
    let tagged = format!("{}/outputs/app:1", registry.addr);
    let meta_path = env.path("meta.json");
    env.ok(&[
        "build",
        "-t",
        &tagged,
        "--push",
        "--metadata-file",
        meta_path.to_str().unwrap(),
        &context,
    ]);
    let meta = metadata(&meta_path);
    let client = Client::new(RegistryOptions {
        auth: AuthSource::Anonymous,
        ..Default::default()
    })
    .unwrap();
    let fetched = client
        .get_manifest(&Remote::parse(&tagged).unwrap())
        .unwrap();
    assert_eq!(meta["containerimage.digest"], fetched.digest.to_string());
    assert_eq!(
        format!("sha256:{}", hex(&Sha256::digest(&fetched.bytes))),
        fetched.digest.to_string()
    );
    let descriptor = &meta["containerimage.descriptor"];
    assert_eq!(descriptor["size"], fetched.bytes.len());
    assert_eq!(descriptor["mediaType"], fetched.media_type);
    assert_eq!(
        descriptor["annotations"]["config.digest"],
        meta["containerimage.config.digest"]
    );
    assert_eq!(meta["image.name"], tagged);
    // As with `type=registry` in buildx's docker driver, the image is in the store too.
    let id = env.ok(&["inspect", "--format", "{{.Id}}", &tagged]);
    assert_eq!(id.trim(), meta["containerimage.config.digest"]);
    if have_tool("skopeo") {
        let (ok, raw) = tool(
            "skopeo",
            &[
                "inspect",
                "--raw",
                "--tls-verify=false",
                &format!("docker://{tagged}"),
            ],
        );
        assert!(ok, "{raw}");
        let digest = format!("sha256:{}", hex(&Sha256::digest(raw.as_bytes())));
        assert_eq!(meta["containerimage.digest"], digest);
    }

    // `type=registry,name=…` without -t: pushed under that name.
    let other = format!("{}/outputs/other:2", registry.addr);
    env.ok(&[
        "build",
        "-q",
        "-o",
        &format!("type=registry,name={other}"),
        "--metadata-file",
        meta_path.to_str().unwrap(),
        &context,
    ]);
    let fetched = client
        .get_manifest(&Remote::parse(&other).unwrap())
        .unwrap();
    assert_eq!(
        metadata(&meta_path)["containerimage.digest"],
        fetched.digest.to_string()
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
