//! `--cache-to` / `--cache-from`: a second store with nothing but the base image gets every
//! step from an exported cache, runs no RUN, and ends with the same image digest; a cache that
//! cannot be used warns and the build goes on. Needs root and busybox-static (skipped with a
//! reason otherwise, as the build tests).

use std::fs;
use std::path::{Path, PathBuf};

use crate::build::env_with_base;
use crate::registry::server::{free_port, Registry};
use crate::util::TestEnv;

/// Root A with `base:1` built, and a fresh root B holding only `base:1` (loaded from A, so the
/// base's manifest, part of every cache key, is the same).
struct Roots {
    a: TestEnv,
    b: TestEnv,
    base_tar: PathBuf,
}

impl Roots {
    fn new() -> Option<Self> {
        let a = env_with_base()?;
        let base_tar = a.path("base.tar");
        a.ok(&["save", "base:1", "-o", base_tar.to_str().unwrap()]);
        let b = fresh_root(&base_tar);
        Some(Roots { a, b, base_tar })
    }
}

fn fresh_root(base_tar: &Path) -> TestEnv {
    let env = TestEnv::new();
    env.ok(&["load", "-i", base_tar.to_str().unwrap()]);
    env
}

/// Builds with plain progress; returns (success, stderr, image ID from `--iidfile`).
pub(crate) fn build(env: &TestEnv, dir: &Path, extra: &[&str]) -> (bool, String, String) {
    let iid = env.path("iid");
    let _ = fs::remove_file(&iid);
    let mut args = vec![
        "build",
        "--progress",
        "plain",
        "--iidfile",
        iid.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args.push(dir.to_str().unwrap());
    let output = env.run(&args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let id = fs::read_to_string(&iid).unwrap_or_default();
    (output.status.success(), stderr, id)
}

/// Whether a RUN printed `word` (a `#N 0.123 word` output line, not the step's name).
fn ran(log: &str, word: &str) -> bool {
    log.lines().any(|line| {
        let mut parts = line.splitn(3, ' ');
        parts.next().is_some_and(|t| t.starts_with('#'))
            && parts.next().is_some_and(|t| t.parse::<f64>().is_ok())
            && parts.next() == Some(word)
    })
}

/// Whether any RUN printed anything.
fn any_ran(log: &str) -> bool {
    [
        "ran-one",
        "ran-two",
        "ran-three",
        "ran-build",
        "ran-more",
        "ran-final",
    ]
    .iter()
    .any(|w| ran(log, w))
}

const SINGLE_STAGE: &str = "FROM base:1\nRUN echo one > /one && echo ran-one\nCOPY a.txt /a.txt\nRUN cat /a.txt > /copy && echo ran-two\nENV X=1\nCOPY b.txt /b.txt\nRUN ls / > /listing && echo ran-three\n";

fn app(env: &TestEnv) -> PathBuf {
    env.write_files(
        "app",
        &[
            ("Dockerfile", SINGLE_STAGE),
            ("a.txt", "first"),
            ("b.txt", "other"),
        ],
    )
}

fn arg(prefix: &str, path: &Path) -> String {
    format!("{prefix}{}", path.display())
}

#[test]
fn a_fresh_root_gets_every_step_from_a_local_cache_and_a_change_reruns_from_there() {
    let Some(roots) = Roots::new() else { return };
    let dir = app(&roots.a);
    let cache = roots.a.path("cache");
    let (ok, log_a, id_a) = build(
        &roots.a,
        &dir,
        &["--cache-to", &arg("type=local,dest=", &cache)],
    );
    assert!(ok, "{log_a}");
    assert!(ran(&log_a, "ran-three"), "{log_a}");
    assert!(cache.join("index.json").is_file() && cache.join("oci-layout").is_file());

    // B's checkout is elsewhere: keys hash paths inside the context, not where it lives.
    let from = arg("type=local,src=", &cache);
    let elsewhere = app(&roots.b);
    let (ok, log_b, id_b) = build(&roots.b, &elsewhere, &["--cache-from", &from]);
    assert!(ok, "{log_b}");
    assert_eq!(
        log_b.matches("CACHED").count(),
        5,
        "every step is a hit: {log_b}"
    );
    assert!(!any_ran(&log_b), "no RUN ran: {log_b}");
    assert!(!log_b.contains("WARNING"), "{log_b}");
    assert_eq!(
        id_a, id_b,
        "the same image as the build that exported the cache"
    );
    assert!(id_b.starts_with("sha256:"));

    // The hits are now local: without --cache-from the image is the same, nothing runs.
    let (ok, log, id) = build(&roots.b, &dir, &[]);
    assert!(ok && id == id_a && !any_ran(&log), "{log}");

    // One COPY input changes: that step and those after it run, the ones before stay hits.
    let c = fresh_root(&roots.base_tar);
    fs::write(dir.join("a.txt"), "changed").unwrap();
    let (ok, log_c, id_c) = build(&c, &dir, &["--cache-from", &from]);
    assert!(ok, "{log_c}");
    assert_eq!(
        log_c.matches("CACHED").count(),
        1,
        "only the first RUN hits: {log_c}"
    );
    assert!(!ran(&log_c, "ran-one"), "{log_c}");
    assert!(
        ran(&log_c, "ran-two") && ran(&log_c, "ran-three"),
        "{log_c}"
    );
    assert_ne!(id_c, id_a);
}

#[test]
fn only_mode_max_exports_the_steps_of_an_intermediate_stage() {
    let Some(roots) = Roots::new() else { return };
    let dir = roots.a.write_files(
        "multi",
        &[(
            "Dockerfile",
            "FROM base:1 AS build\nRUN echo built > /artifact && echo ran-build\nRUN echo more >> /artifact && echo ran-more\n\nFROM base:1\nCOPY --from=build /artifact /artifact\nRUN cat /artifact > /final && echo ran-final\n",
        )],
    );
    let (min, max) = (roots.a.path("min"), roots.a.path("max"));
    let (ok, log_a, id_a) = build(
        &roots.a,
        &dir,
        &[
            "--cache-to",
            &arg("type=local,dest=", &min),
            "--cache-to",
            &arg("type=local,mode=max,dest=", &max),
        ],
    );
    assert!(ok, "{log_a}");

    let (ok, log_min, id_min) = build(
        &roots.b,
        &dir,
        &["--cache-from", &arg("type=local,src=", &min)],
    );
    assert!(ok, "{log_min}");
    assert!(
        ran(&log_min, "ran-build") && ran(&log_min, "ran-more"),
        "mode=min has no record of the build stage: {log_min}"
    );
    assert!(
        !ran(&log_min, "ran-final"),
        "the final stage's steps hit: {log_min}"
    );
    assert_eq!(log_min.matches("CACHED").count(), 2, "{log_min}");
    assert_eq!(id_min, id_a);

    let c = fresh_root(&roots.base_tar);
    let (ok, log_max, id_max) = build(&c, &dir, &["--cache-from", &arg("type=local,src=", &max)]);
    assert!(ok, "{log_max}");
    assert!(!any_ran(&log_max), "mode=max has every stage: {log_max}");
    assert_eq!(log_max.matches("CACHED").count(), 4, "{log_max}");
    assert_eq!(id_max, id_a);
}

#[test]
fn a_corrupt_or_missing_cache_warns_and_the_build_goes_on() {
    let Some(roots) = Roots::new() else { return };
    let dir = app(&roots.a);
    let cache = roots.a.path("cache");
    let (ok, log, _) = build(
        &roots.a,
        &dir,
        &["--cache-to", &arg("type=local,dest=", &cache)],
    );
    assert!(ok, "{log}");
    let from = arg("type=local,src=", &cache);

    // Layer blobs whose bytes no longer match their names: detected when fetched, nothing of
    // them stored, and the build starts again without the cache.
    let blobs = cache.join("blobs/sha256");
    let hex = |digest: &serde_json::Value| digest.as_str().unwrap()["sha256:".len()..].to_string();
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(cache.join("index.json")).unwrap()).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(
        &fs::read(blobs.join(hex(&index["manifests"][0]["digest"]))).unwrap(),
    )
    .unwrap();
    let layers: Vec<String> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| hex(&l["digest"]))
        .collect();
    assert_eq!(layers.len(), 5, "{manifest}");
    for layer in &layers {
        let mut bytes = fs::read(blobs.join(layer)).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(blobs.join(layer), bytes).unwrap();
    }
    let (ok, log_b, _) = build(&roots.b, &dir, &["--cache-from", &from]);
    assert!(ok, "{log_b}");
    assert!(
        log_b.contains("WARNING: importing cache failed, building without it"),
        "{log_b}"
    );
    assert!(
        layers.iter().any(|l| log_b.contains(l.as_str())),
        "the warning names the blob: {log_b}"
    );
    assert!(
        ran(&log_b, "ran-one") && ran(&log_b, "ran-three"),
        "{log_b}"
    );
    for layer in &layers {
        assert!(
            !roots.b.root().join("blobs/sha256").join(layer).exists(),
            "a bad blob is not stored"
        );
    }

    // A cache whose index is not JSON, and one that does not exist.
    fs::write(cache.join("index.json"), "{not json").unwrap();
    let c = fresh_root(&roots.base_tar);
    let missing = roots.a.path("nowhere");
    let (ok, log_c, _) = build(
        &c,
        &dir,
        &[
            "--cache-from",
            &from,
            "--cache-from",
            &arg("type=local,src=", &missing),
        ],
    );
    assert!(ok, "{log_c}");
    assert!(log_c.contains("index.json"), "{log_c}");
    assert!(log_c.contains("no cache there"), "{log_c}");
    assert!(ran(&log_c, "ran-three"), "{log_c}");

    // An export that cannot be written warns too (a file where the directory should be).
    let blocked = roots.a.path("blocked");
    fs::write(&blocked, "a file").unwrap();
    let (ok, log_d, _) = build(
        &c,
        &dir,
        &["--cache-to", &arg("type=local,dest=", &blocked)],
    );
    assert!(ok, "{log_d}");
    assert!(log_d.contains("WARNING: exporting cache failed"), "{log_d}");
}

#[test]
fn bad_cache_specs_are_refused_with_the_reason() {
    let env = TestEnv::new();
    let dir = env.write_files("app", &[("Dockerfile", "FROM scratch\n")]);
    for (flag, spec, expected) in [
        (
            "--cache-to",
            "type=s3,bucket=x",
            "unsupported cache type `s3`",
        ),
        (
            "--cache-to",
            "type=local,src=/x",
            "unknown key `src` for a local cache",
        ),
        ("--cache-to", "type=local", "`dest` is required"),
        (
            "--cache-to",
            "type=registry,ref=r,mode=all",
            "invalid mode `all`",
        ),
        ("--cache-from", "type=local,dest=/x", "unknown key `dest`"),
    ] {
        let output = env.run(&["build", flag, spec, dir.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{spec}: {stderr}");
        assert!(stderr.contains(expected), "{spec}: {stderr}");
        assert!(
            stderr.contains(&format!("invalid {flag} `{spec}`")),
            "{stderr}"
        );
    }
}

#[test]
fn a_fresh_root_gets_every_step_from_a_registry_cache() {
    let Some(roots) = Roots::new() else { return };
    let Some(registry) = Registry::start() else {
        return;
    };
    let dir = app(&roots.a);
    let spec = format!("type=registry,ref={}/cache/app:buildcache", registry.addr);
    let (ok, log_a, id_a) = build(&roots.a, &dir, &["--cache-to", &format!("{spec},mode=max")]);
    assert!(ok, "{log_a}");
    assert!(!log_a.contains("WARNING"), "{log_a}");

    let (ok, log_b, id_b) = build(&roots.b, &dir, &["--cache-from", &spec]);
    assert!(ok, "{log_b}");
    assert_eq!(
        log_b.matches("CACHED").count(),
        5,
        "every step is a hit: {log_b}"
    );
    assert!(!any_ran(&log_b), "no RUN ran: {log_b}");
    assert!(!log_b.contains("WARNING"), "{log_b}");
    assert_eq!(id_a, id_b);

    // Exporting again from B sends no layer: the repository has them all.
    let (ok, log, _) = build(&roots.b, &dir, &["--cache-to", &spec]);
    assert!(ok, "{log}");
    assert!(log.contains("(0 sent)"), "{log}");
}

#[test]
fn an_unreachable_or_empty_cache_registry_warns_and_the_build_goes_on() {
    let Some(env) = env_with_base() else { return };
    let dir = app(&env);
    let nowhere = format!("type=registry,ref=127.0.0.1:{}/cache/app:x", free_port());
    let (ok, log, id) = build(
        &env,
        &dir,
        &["--cache-from", &nowhere, "--cache-to", &nowhere],
    );
    assert!(ok, "{log}");
    assert!(
        log.contains("WARNING: importing cache failed, building without it"),
        "{log}"
    );
    assert!(log.contains("WARNING: exporting cache failed"), "{log}");
    assert!(
        log.contains("127.0.0.1:"),
        "the warning names the registry: {log}"
    );
    assert!(ran(&log, "ran-three") && id.starts_with("sha256:"), "{log}");

    // A registry that has no such reference: a warning, then local hits.
    if let Some(registry) = Registry::start() {
        let missing = format!("type=registry,ref={}/cache/none:x", registry.addr);
        let (ok, log, _) = build(&env, &dir, &["--cache-from", &missing]);
        assert!(ok, "{log}");
        assert!(log.contains("WARNING: importing cache failed"), "{log}");
        assert!(log.contains("cache/none:x"), "{log}");
    }
}
