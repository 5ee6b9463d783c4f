//! Registries, against Debian's `docker-registry` started by the tests on 127.0.0.1: push and
//! pull round trips (digests and image IDs kept), index platform resolution, docker pulling
//! and running what strata pushed and strata building FROM what docker pushed, basic auth
//! through docker's config.json and `strata login`, a tampered blob, and network faults.
//! Each test skips with a reason when the registry (or docker, or root) is missing.

pub(crate) mod server;

use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

use serde_json::{json, Value};
use server::{Fault, FlakyProxy, Registry};
use strata_oci::registry::{self as client, AuthSource, RegistryOptions, Remote};

use crate::exchange::docker;
use crate::util::{docker_available, env_with_imported_busybox, skip_unless, TestEnv};

const GREETING: &str = "hello from strata";

/// A store (root needed: snapshots keep root-owned files) with a busybox image named `name`
/// whose CMD prints [`GREETING`].
fn env_with_image(name: &str) -> Option<TestEnv> {
    env_with_imported_busybox(name, &format!("CMD [\"sh\", \"-c\", \"echo {GREETING}\"]"))
}

/// A registry started for the test and a root whose image `<registry>/<repo>` was pushed to it.
struct Pushed {
    registry: Registry,
    env: TestEnv,
    reference: String,
    /// The push's stdout and stderr.
    push: (String, String),
}

/// [`Pushed`], or `None` (the reason printed) where a tool the tests need is missing.
fn pushed(repo: &str) -> Option<Pushed> {
    let registry = Registry::start()?;
    let reference = format!("{}/{repo}", registry.addr);
    let env = env_with_image(&reference)?;
    let push = ok(&env, &["push", &reference]);
    Some(Pushed {
        registry,
        env,
        reference,
        push,
    })
}

/// Runs strata with `DOCKER_CONFIG` pointing at the env's own (empty) config dir, so the
/// host's credentials never leak in.
fn run(env: &TestEnv, args: &[&str]) -> Output {
    run_with(env, args, &env.path("docker-config"), None)
}

fn run_with(env: &TestEnv, args: &[&str], docker_config: &Path, stdin: Option<&str>) -> Output {
    let mut command = env.strata(args);
    command.env("DOCKER_CONFIG", docker_config);
    command.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("running strata");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn ok(env: &TestEnv, args: &[&str]) -> (String, String) {
    let output = run(env, args);
    let (stdout, stderr) = text(&output);
    assert!(
        output.status.success(),
        "strata {args:?} failed ({})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    (stdout, stderr)
}

fn fails(env: &TestEnv, args: &[&str]) -> String {
    let output = run(env, args);
    let (stdout, stderr) = text(&output);
    assert!(
        !output.status.success(),
        "strata {args:?} succeeded but should not\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stderr
}

fn image_id(env: &TestEnv, reference: &str) -> String {
    ok(env, &["inspect", "--format", "{{.Id}}", reference])
        .0
        .trim()
        .to_string()
}

/// The digest `strata push` printed (`TAG: digest: sha256:… size: N`).
fn pushed_digest(stdout: &str) -> String {
    let line = stdout
        .lines()
        .find(|l| l.contains(": digest: "))
        .expect("a digest line");
    let digest = line
        .split(": digest: ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    assert!(line.contains(" size: "), "{line}");
    digest.to_string()
}

fn client() -> client::Registry {
    client::Registry::new(RegistryOptions {
        auth: AuthSource::Anonymous,
        ..Default::default()
    })
    .unwrap()
}

/// Files under a directory (recursively), for "nothing was left behind".
fn files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            found.push(path.display().to_string());
            if path.is_dir() {
                found.extend(files_under(&path));
            }
        }
    }
    found
}

#[test]
fn push_then_pull_into_a_fresh_root_keeps_digest_and_image_id() {
    let Some(Pushed {
        registry,
        env,
        reference,
        push: (stdout, stderr),
    }) = pushed("app:1")
    else {
        return;
    };
    let digest = pushed_digest(&stdout);
    assert!(stdout.starts_with("1: digest: sha256:"), "{stdout}");
    assert!(stderr.contains(": Pushed"), "{stderr}");
    // Again: the registry has every blob.
    let (again, stderr) = ok(&env, &["push", &reference]);
    assert_eq!(pushed_digest(&again), digest);
    assert!(stderr.contains(": Layer already exists"), "{stderr}");
    assert!(!stderr.contains(": Pushed"), "{stderr}");
    // Another repository of the same registry: the layer is mounted, not uploaded.
    let other = format!("{}/other:1", registry.addr);
    ok(&env, &["tag", &reference, &other]);
    let (stdout, stderr) = ok(&env, &["push", &other]);
    assert_eq!(pushed_digest(&stdout), digest);
    assert!(stderr.contains(": Mounted from app"), "{stderr}");

    let fresh = TestEnv::new();
    let (stdout, stderr) = ok(&fresh, &["pull", &reference]);
    assert_eq!(stdout.trim(), reference);
    assert!(stderr.contains(&format!("Digest: {digest}")), "{stderr}");
    assert!(stderr.contains(": Pull complete"), "{stderr}");
    assert_eq!(image_id(&fresh, &reference), image_id(&env, &reference));
    let repo_digests = ok(
        &fresh,
        &["inspect", "--format", "{{json .RepoDigests}}", &reference],
    )
    .0;
    assert!(repo_digests.contains(&digest), "{repo_digests}");
    let (_, stderr) = ok(&fresh, &["pull", &reference]);
    assert!(stderr.contains("Image is up to date"), "{stderr}");
    // By digest, and a pushed-again pulled image keeps its manifest (and so its digest).
    let by_digest = format!("{}/app@{digest}", registry.addr);
    let other_root = TestEnv::new();
    ok(&other_root, &["pull", &by_digest]);
    assert_eq!(
        image_id(&other_root, &by_digest),
        image_id(&env, &reference)
    );
    let copy = format!("{}/copy:1", registry.addr);
    ok(&fresh, &["tag", &reference, &copy]);
    let (stdout, _) = ok(&fresh, &["push", &copy]);
    assert_eq!(pushed_digest(&stdout), digest);
}

#[test]
fn pull_of_an_index_resolves_the_platform() {
    if skip_unless(
        cfg!(target_arch = "x86_64"),
        "the default platform is linux/amd64 here",
    ) {
        return;
    }
    let Some(Pushed {
        registry,
        env,
        reference,
        ..
    }) = pushed("multi:amd64")
    else {
        return;
    };
    // An arm64 twin (same layer, another config) and an index over both.
    let api = client();
    let remote = Remote::parse(&reference).unwrap();
    let amd = api.get_manifest(&remote).unwrap();
    let mut manifest: Value = serde_json::from_slice(&amd.bytes).unwrap();
    let config_digest = manifest["config"]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut config: Value =
        serde_json::from_slice(&api.get_blob_bytes(&remote, &config_digest).unwrap()).unwrap();
    config["architecture"] = json!("arm64");
    config["variant"] = json!("v8");
    let arm_config = serde_json::to_vec(&config).unwrap();
    let arm_config_digest = strata_cache::Digest::of(&arm_config);
    api.put_blob(
        &remote,
        &arm_config_digest,
        &client::BlobSource::Bytes(arm_config.clone()),
    )
    .unwrap();
    manifest["config"]["digest"] = json!(arm_config_digest.to_string());
    manifest["config"]["size"] = json!(arm_config.len());
    let arm_manifest = serde_json::to_vec(&manifest).unwrap();
    let arm_digest = api
        .put_manifest(&remote.with_tag("arm64"), &arm_manifest, &amd.media_type)
        .unwrap();
    let entry = |digest: String, size: usize, arch: &str, variant: Option<&str>| {
        let mut platform = json!({"architecture": arch, "os": "linux"});
        if let Some(v) = variant {
            platform["variant"] = json!(v);
        }
        json!({"mediaType": amd.media_type, "digest": digest, "size": size, "platform": platform})
    };
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            entry(arm_digest.to_string(), arm_manifest.len(), "arm64", Some("v8")),
            entry(amd.digest.to_string(), amd.bytes.len(), "amd64", None),
            {
                "mediaType": amd.media_type, "digest": amd.digest.to_string(),
                "size": amd.bytes.len(),
                "platform": {"architecture": "unknown", "os": "unknown"}
            },
        ]
    }))
    .unwrap();
    let index_digest = api
        .put_manifest(
            &remote.with_tag("multi"),
            &index,
            "application/vnd.oci.image.index.v1+json",
        )
        .unwrap();
    let multi = format!("{}/multi:multi", registry.addr);

    let fresh = TestEnv::new();
    let (_, stderr) = ok(&fresh, &["pull", &multi]);
    assert!(
        stderr.contains(&format!("Digest: {index_digest}")),
        "{stderr}"
    );
    assert_eq!(image_id(&fresh, &multi), image_id(&env, &reference));
    let arm = TestEnv::new();
    ok(&arm, &["pull", "--platform", "linux/arm64", &multi]);
    assert_eq!(image_id(&arm, &multi), arm_config_digest.to_string());
    let stderr = fails(&arm, &["pull", "--platform", "linux/s390x", &multi]);
    assert!(
        stderr.contains("no matching manifest for linux/s390x")
            && stderr.contains("linux/arm64/v8"),
        "{stderr}"
    );
    // An index digest names the image it resolved to.
    let by_digest = format!("{}/multi@{index_digest}", registry.addr);
    ok(&arm, &["pull", &by_digest]);
    assert_eq!(image_id(&arm, &by_digest), image_id(&env, &reference));
}

#[test]
fn docker_runs_what_strata_pushed_and_strata_builds_from_what_docker_pushed() {
    if skip_unless(
        docker_available(),
        "docker is not available (scripts/start-dockerd)",
    ) {
        return;
    }
    let tag = format!("{}", std::process::id());
    let Some(Pushed {
        registry,
        env,
        reference,
        ..
    }) = pushed(&format!("from-strata:{tag}"))
    else {
        return;
    };
    let (pulled, out) = docker(&["pull", &reference]);
    assert!(pulled, "docker pull: {out}");
    let (ran, out) = docker(&["run", "--rm", &reference]);
    docker(&["rmi", "-f", &reference]);
    assert!(ran, "docker run: {out}");
    assert!(out.contains(GREETING), "{out}");

    // docker's side: an image docker imported and pushed.
    let base = format!("{}/from-docker:{tag}", registry.addr);
    let rootfs_tar = env.path("rootfs.tar");
    let (imported, out) = docker(&[
        "import",
        "--change",
        "CMD [\"sh\", \"-c\", \"echo from docker\"]",
        "--change",
        "ENV PATH=/bin",
        rootfs_tar.to_str().unwrap(),
        &base,
    ]);
    assert!(imported, "docker import: {out}");
    let (pushed, out) = docker(&["push", &base]);
    let docker_id = docker(&["inspect", "--format", "{{.Id}}", &base]).1;
    docker(&["rmi", "-f", &base]);
    assert!(pushed, "docker push: {out}");

    let puller = TestEnv::new();
    ok(&puller, &["pull", &base]);
    assert_eq!(image_id(&puller, &base), docker_id.trim());

    // FROM pulls what the store lacks, with progress in the build output.
    let builder = TestEnv::new();
    let context = builder.write_files(
        "ctx",
        &[(
            "Dockerfile",
            &format!(
                "FROM {base}\nRUN echo built-on-docker-base > /built\nCMD [\"cat\", \"/built\"]\n"
            ),
        )],
    );
    let app = format!("{}/built:{tag}", registry.addr);
    let (stdout, stderr) = ok(
        &builder,
        &[
            "build",
            "--progress",
            "plain",
            "-t",
            &app,
            context.to_str().unwrap(),
        ],
    );
    let output = format!("{stdout}{stderr}");
    assert!(output.contains(&format!("pulling {base}")), "{output}");
    assert!(output.contains("Pull complete"), "{output}");
    // --pull asks the registry again; the base is unchanged, the steps are cached.
    let (stdout, stderr) = ok(
        &builder,
        &[
            "build",
            "--pull",
            "--progress",
            "plain",
            context.to_str().unwrap(),
        ],
    );
    let output = format!("{stdout}{stderr}");
    assert!(output.contains("Image is up to date"), "{output}");
    assert!(output.contains("CACHED"), "{output}");
    // And docker runs the result.
    ok(&builder, &["push", &app]);
    let (ran, out) = docker(&["run", "--rm", &app]);
    docker(&["rmi", "-f", &app]);
    assert!(ran, "docker run: {out}");
    assert!(out.contains("built-on-docker-base"), "{out}");
}

fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn basic_auth_through_docker_config_and_login() {
    let Some(registry) = Registry::start_with_auth("tester", "s3cret") else {
        return;
    };
    let reference = format!("{}/private:1", registry.addr);
    let Some(env) = env_with_image(&reference) else {
        return;
    };
    let addr = registry.addr.as_str();

    // No credentials: a clear refusal naming the registry.
    let stderr = fails(&env, &["push", &reference]);
    assert!(
        stderr.contains("authentication") && stderr.contains(addr),
        "{stderr}"
    );

    // A config.json `auths` entry, as docker writes it.
    let config_dir = env.path("with-auths");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(
        config_dir.join("config.json"),
        json!({"auths": {addr: {"auth": base64(b"tester:s3cret")}}}).to_string(),
    )
    .unwrap();
    let output = run_with(&env, &["push", &reference], &config_dir, None);
    assert!(output.status.success(), "{:?}", text(&output));
    let fresh = TestEnv::new();
    let stderr = text(&run(&fresh, &["pull", &reference])).1;
    assert!(
        stderr.contains("authentication") && stderr.contains(addr),
        "{stderr}"
    );
    let output = run_with(&fresh, &["pull", &reference], &config_dir, None);
    assert!(output.status.success(), "{:?}", text(&output));

    // Wrong credentials in the file: rejected, said so.
    let wrong_dir = env.path("wrong");
    std::fs::create_dir_all(&wrong_dir).unwrap();
    std::fs::write(
        wrong_dir.join("config.json"),
        json!({"auths": {addr: {"auth": base64(b"tester:nope")}}}).to_string(),
    )
    .unwrap();
    let output = run_with(&TestEnv::new(), &["pull", &reference], &wrong_dir, None);
    let stderr = text(&output).1;
    assert!(!output.status.success());
    assert!(
        stderr.contains("authentication failed") && stderr.contains(addr),
        "{stderr}"
    );

    // strata login checks, then writes the file; logout removes the entry.
    let login_dir = env.path("login");
    let login = ["login", "-u", "tester", "--password-stdin", addr];
    let output = run_with(&env, &login, &login_dir, Some("wrong\n"));
    assert!(!output.status.success());
    let stderr = text(&output).1;
    assert!(
        stderr.contains("authentication") && stderr.contains(addr),
        "{stderr}"
    );
    assert!(!login_dir.join("config.json").exists());
    let output = run_with(&env, &login, &login_dir, Some("s3cret\n"));
    assert!(output.status.success(), "{:?}", text(&output));
    assert!(text(&output).0.contains("Login Succeeded"));
    let config: Value =
        serde_json::from_slice(&std::fs::read(login_dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["auths"][addr]["auth"], base64(b"tester:s3cret"));
    let other = TestEnv::new();
    let output = run_with(&other, &["pull", &reference], &login_dir, None);
    assert!(output.status.success(), "{:?}", text(&output));
    let output = run_with(&env, &["logout", addr], &login_dir, None);
    assert!(text(&output)
        .0
        .contains(&format!("Removing login credentials for {addr}")));
    let config: Value =
        serde_json::from_slice(&std::fs::read(login_dir.join("config.json")).unwrap()).unwrap();
    assert!(config["auths"].get(addr).is_none(), "{config}");
    let output = run_with(&TestEnv::new(), &["pull", &reference], &login_dir, None);
    assert!(!output.status.success());

    // A credential helper named by `credsStore`: login stores through it, pulls ask it, logout
    // erases.
    let helper_dir = env.path("helper");
    std::fs::create_dir_all(&helper_dir).unwrap();
    let helper = helper_dir.join("docker-credential-strata-test");
    std::fs::write(
        &helper,
        "#!/bin/sh\nstore=\"$(dirname \"$0\")/store.json\"\ncase \"$1\" in\n  get) read url; echo \"$url\" >> \"$(dirname \"$0\")/asked\"; [ -f \"$store\" ] && cat \"$store\" || { echo 'credentials not found in native keychain'; exit 1; } ;;\n  store) cat > \"$store\" ;;\n  erase) rm -f \"$store\" ;;\nesac\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let helper_config = env.path("helper-config");
    std::fs::create_dir_all(&helper_config).unwrap();
    std::fs::write(
        helper_config.join("config.json"),
        r#"{"credsStore": "strata-test"}"#,
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        helper_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let with_helper = |env: &TestEnv, args: &[&str], stdin: Option<&str>| {
        let mut command = env.strata(args);
        command
            .env("DOCKER_CONFIG", &helper_config)
            .env("PATH", &path)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        child.wait_with_output().unwrap()
    };
    let output = with_helper(&env, &login, Some("s3cret\n"));
    assert!(output.status.success(), "{:?}", text(&output));
    let stored: Value =
        serde_json::from_slice(&std::fs::read(helper_dir.join("store.json")).unwrap()).unwrap();
    assert_eq!(stored["Username"], "tester");
    assert_eq!(stored["Secret"], "s3cret");
    let config = std::fs::read_to_string(helper_config.join("config.json")).unwrap();
    assert!(
        !config.contains("s3cret") && !config.contains("auth\""),
        "{config}"
    );
    let output = with_helper(&TestEnv::new(), &["pull", &reference], None);
    assert!(output.status.success(), "{:?}", text(&output));
    let asked = std::fs::read_to_string(helper_dir.join("asked")).unwrap();
    assert!(asked.lines().any(|l| l == addr), "{asked}");
    let output = with_helper(&env, &["logout", addr], None);
    assert!(output.status.success(), "{:?}", text(&output));
    assert!(!helper_dir.join("store.json").exists());
    let output = with_helper(&TestEnv::new(), &["pull", &reference], None);
    assert!(!output.status.success());
}

#[test]
fn only_insecure_registries_are_spoken_to_over_http() {
    let Some(host) = crate::util::external_address() else {
        crate::util::skip("no non-loopback IPv4 address");
        return;
    };
    let Some(registry) = Registry::start_on(&host) else {
        return;
    };
    let reference = format!("{}/plain:1", registry.addr);
    let Some(env) = env_with_image(&reference) else {
        return;
    };
    // HTTPS first: the registry answers in plain HTTP, said so at once (no retries).
    let stderr = fails(&env, &["push", &reference]);
    assert!(
        stderr.contains(&format!("registry {} does not speak HTTPS", registry.addr))
            && stderr.contains(&format!("--insecure-registry {}", registry.addr))
            && !stderr.contains("retrying"),
        "{stderr}"
    );
    ok(
        &env,
        &["--insecure-registry", &registry.addr, "push", &reference],
    );
    let fresh = TestEnv::new();
    let mut command = fresh.strata(&["pull", &reference]);
    command.env(
        "STRATA_INSECURE_REGISTRIES",
        format!("other.example,{host}"),
    );
    command.env("DOCKER_CONFIG", fresh.path("docker-config"));
    let output = command.output().unwrap();
    assert!(output.status.success(), "{:?}", text(&output));
    assert_eq!(image_id(&fresh, &reference), image_id(&env, &reference));
}

#[test]
fn a_tampered_blob_is_detected_and_nothing_is_stored() {
    let Some(Pushed {
        registry,
        reference,
        ..
    }) = pushed("tampered:1")
    else {
        return;
    };
    let manifest = client()
        .get_manifest(&Remote::parse(&reference).unwrap())
        .unwrap();
    let manifest: Value = serde_json::from_slice(&manifest.bytes).unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    let file = registry.blob_file(layer);
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();

    let fresh = TestEnv::new();
    let stderr = fails(&fresh, &["pull", &reference]);
    assert!(stderr.contains(&format!("pulling {reference}")), "{stderr}");
    assert!(stderr.contains("digest mismatch"), "{stderr}");
    assert!(stderr.contains(layer), "{stderr}");
    assert_eq!(ok(&fresh, &["images", "-q"]).0.trim(), "");
    let root = fresh.root();
    assert_eq!(
        files_under(&root.join("blobs"))
            .iter()
            .filter(|f| !f.ends_with("/sha256"))
            .count(),
        0,
        "{:?}",
        files_under(&root.join("blobs"))
    );
    assert_eq!(files_under(&root.join("snapshots")), Vec::<String>::new());
}

#[test]
fn transient_failures_are_retried_and_others_fail_clearly() {
    let Some(Pushed {
        registry,
        env,
        reference,
        ..
    }) = pushed("flaky:1")
    else {
        return;
    };
    let id = image_id(&env, &reference);

    // Dropped connections, then 503s: the pull gets through.
    let dropping = FlakyProxy::start(&registry.addr, Fault::Drop, 2);
    let through = format!("{}/flaky:1", dropping.addr);
    let fresh = TestEnv::new();
    let (_, stderr) = ok(&fresh, &["pull", &through]);
    assert!(stderr.contains("retrying"), "{stderr}");
    assert!(
        dropping
            .connections
            .load(std::sync::atomic::Ordering::SeqCst)
            > 2
    );
    assert_eq!(image_id(&fresh, &through), id);
    let unavailable = FlakyProxy::start(&registry.addr, Fault::Unavailable, 2);
    let through = format!("{}/flaky:1", unavailable.addr);
    let fresh = TestEnv::new();
    let (_, stderr) = ok(&fresh, &["pull", &through]);
    assert!(
        stderr.contains("503") && stderr.contains("retrying"),
        "{stderr}"
    );
    assert_eq!(image_id(&fresh, &through), id);
    // A push through a registry that stumbles once.
    let stumbling = FlakyProxy::start(&registry.addr, Fault::Unavailable, 1);
    let target = format!("{}/pushed-through:1", stumbling.addr);
    ok(&env, &["tag", &reference, &target]);
    ok(&env, &["push", &target]);

    // Nothing listening: retried, then a clear error naming registry and reference.
    let port = server::free_port();
    let unreachable = format!("127.0.0.1:{port}/app:1");
    let stderr = fails(&fresh, &["pull", &unreachable]);
    assert!(
        stderr.contains(&format!("pulling {unreachable}")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("cannot reach registry 127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(stderr.contains("after 4 attempts"), "{stderr}");
    // Not found is not retried.
    let missing = format!("{}/flaky:nope", registry.addr);
    let stderr = fails(&fresh, &["pull", &missing]);
    assert!(
        stderr.contains(&format!("pulling {missing}: manifest unknown")),
        "{stderr}"
    );
    assert!(!stderr.contains("retrying"), "{stderr}");
}
