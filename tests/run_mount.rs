//! `RUN --mount` end to end, as BuildKit runs it: cache mounts that outlive builds, bind mounts
//! of the context (through `.dockerignore`) and of stages, tmpfs, secrets from `--secret`,
//! heredoc scripts with `#!` — and none of it, nor its mount points, in the image.

use std::fs;

use crate::build::{build, env_with_base};
use crate::util::TestEnv;

/// The paths in the flattened image (`strata export`).
fn image_paths(env: &TestEnv, image: &str) -> Vec<String> {
    let out = env.path(&format!("{}.tar", image.replace([':', '/'], "_")));
    env.ok(&["export", image, "-o", out.to_str().unwrap()]);
    let mut archive = tar::Archive::new(fs::File::open(&out).unwrap());
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path().unwrap().to_string_lossy().into_owned();
            format!("/{}", path.trim_start_matches("./").trim_end_matches('/'))
        })
        .collect()
}

fn assert_absent(paths: &[String], absent: &[&str]) {
    for path in absent {
        assert!(
            !paths
                .iter()
                .any(|p| p == path || p.starts_with(&format!("{path}/"))),
            "`{path}` must not be in the image: {paths:?}"
        );
    }
}

#[test]
fn cache_mounts_outlive_builds_and_stay_out_of_the_image() {
    let Some(env) = env_with_base() else { return };
    let dir = env.write_files(
        "cache",
        &[(
            "Dockerfile",
            "FROM base:1\nARG N\n\
             RUN --mount=type=cache,target=/var/cache/app,uid=1000,mode=0700 \
                 echo $N >> /var/cache/app/log && cp /var/cache/app/log /seen \
                 && test \"$(stat -c '%u %a' /var/cache/app)\" = '1000 700'\n\
             RUN --mount=type=cache,id=shared,target=/c1 --mount=type=cache,id=shared,target=/c2,sharing=shared \
                 touch /c1/x && test -e /c2/x\n\
             RUN --mount=type=cache,id=l,target=/l1,sharing=locked --mount=type=cache,id=l,target=/l2,sharing=locked \
                 touch /l1/y && test -e /l2/y\n",
        )],
    );
    let (ok, _, stderr) = build(&env, &dir, &["-t", "cache:1", "--build-arg", "N=1"]);
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = build(&env, &dir, &["-t", "cache:2", "--build-arg", "N=2"]);
    assert!(ok, "{stderr}");
    let out = env.path("seen.tar");
    env.ok(&["export", "cache:2", "-o", out.to_str().unwrap()]);
    let mut archive = tar::Archive::new(fs::File::open(&out).unwrap());
    let seen = archive
        .entries()
        .unwrap()
        .map(Result::unwrap)
        .find(|e| e.path().unwrap().to_string_lossy().trim_start_matches("./") == "seen")
        .map(|mut e| {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut e, &mut text).unwrap();
            text
        });
    assert_eq!(
        seen.as_deref(),
        Some("1\n2\n"),
        "the cache kept the first build's line"
    );
    assert_absent(
        &image_paths(&env, "cache:2"),
        &["/var/cache", "/c1", "/c2", "/l1", "/l2"],
    );

    // The store owns the cache mounts: du counts them, prune --all removes them.
    let du: serde_json::Value = serde_json::from_str(&env.ok(&["du", "--format", "json"])).unwrap();
    assert_eq!(du["cache_mounts"]["count"], 3, "{du}");
    assert!(du["cache_mounts"]["bytes"].as_u64().unwrap() > 0, "{du}");
    assert!(env.ok(&["du"]).contains("cache mounts"));
    let pruned = env.ok(&["prune", "--all"]);
    assert!(pruned.contains(", 3 cache mounts"), "{pruned}");
    let du: serde_json::Value = serde_json::from_str(&env.ok(&["du", "--format", "json"])).unwrap();
    assert_eq!(du["cache_mounts"]["count"], 0, "{du}");
    let left = fs::read_dir(env.root().join("cache-mounts"))
        .unwrap()
        .count();
    assert_eq!(left, 0);
}

#[test]
fn bind_mounts_read_the_context_through_dockerignore_and_key_the_step() {
    let Some(env) = env_with_base() else { return };
    let dir = env.write_files(
        "bind",
        &[
            (
                "Dockerfile",
                "FROM base:1 AS stage\nRUN mkdir /out && echo from-stage > /out/f\n\
                 FROM base:1\n\
                 RUN --mount=type=bind,source=src,target=/src cat /src/a.txt > /a-copy \
                     && test ! -e /src/secret.txt && ! touch /src/new 2>/dev/null\n\
                 RUN --mount=type=bind,target=/ctx,rw touch /ctx/written && rm /ctx/unrelated.txt\n\
                 RUN --mount=type=bind,from=stage,source=/out/f,target=/opt/f cp /opt/f /f-copy\n\
                 RUN --mount=type=tmpfs,target=/tmp/t,size=1m echo x > /tmp/t/y && ! test -e /tmp/t/z\n",
            ),
            ("src/a.txt", "one"),
            ("src/secret.txt", "ignored"),
            ("unrelated.txt", "u"),
            (".dockerignore", "src/secret.txt\n"),
        ],
    );
    let (ok, _, first) = build(&env, &dir, &["-t", "bind:1"]);
    assert!(ok, "{first}");
    assert!(
        !dir.join("written").exists() && dir.join("unrelated.txt").exists(),
        "a rw bind mount's writes are thrown away, never reaching the context"
    );
    let paths = image_paths(&env, "bind:1");
    assert!(paths.iter().any(|p| p == "/a-copy") && paths.iter().any(|p| p == "/f-copy"));
    assert_absent(&paths, &["/src", "/ctx", "/opt", "/tmp/t"]);

    // The bound files are in the step's key: an edit re-runs it, an ignored file does not.
    fs::write(dir.join("src/secret.txt"), "changed but ignored").unwrap();
    let (ok, _, second) = build(&env, &dir, &["-t", "bind:1"]);
    assert!(ok, "{second}");
    assert_eq!(second.matches("CACHED").count(), 5, "{second}");
    fs::write(dir.join("src/a.txt"), "two").unwrap();
    let (ok, _, third) = build(&env, &dir, &["-t", "bind:1"]);
    assert!(ok, "{third}");
    assert_eq!(
        third.matches("CACHED").count(),
        1,
        "only the other stage's step is a hit\n{third}"
    );
}

#[test]
fn secrets_come_from_the_command_line_and_never_reach_the_image() {
    let Some(env) = env_with_base() else { return };
    let secret_file = env.path("token.txt");
    fs::write(&secret_file, "s3cr3t").unwrap();
    let dir = env.write_files(
        "secret",
        &[(
            "Dockerfile",
            "FROM base:1\n\
             RUN --mount=type=secret,id=tok test \"$(cat /run/secrets/tok)\" = s3cr3t \
                 && test \"$(stat -c %a /run/secrets/tok)\" = 400 && touch /done\n\
             RUN --mount=type=secret,id=tok,env=TOKEN,target=/etc/tok test \"$TOKEN\" = s3cr3t && test -s /etc/tok\n\
             RUN --mount=type=secret,id=absent echo optional secrets may be missing\n",
        )],
    );
    let src = format!("id=tok,src={}", secret_file.display());
    let (ok, _, stderr) = build(&env, &dir, &["-t", "secret:1", "--secret", &src]);
    assert!(ok, "{stderr}");
    let paths = image_paths(&env, "secret:1");
    assert!(paths.iter().any(|p| p == "/done"));
    assert_absent(&paths, &["/run/secrets", "/etc/tok"]);

    let required = env.write_files(
        "required",
        &[(
            "Dockerfile",
            "FROM base:1\nRUN --mount=type=secret,id=tok,required true\n",
        )],
    );
    let (ok, _, stderr) = build(&env, &required, &[]);
    assert!(!ok);
    assert!(
        stderr.contains("secret `tok`") && stderr.contains("--secret id=tok"),
        "{stderr}"
    );
    let (ok, _, stderr) = build(
        &env,
        &required,
        &["--secret", "id=tok,src=/nonexistent/tok"],
    );
    assert!(!ok);
    assert!(stderr.contains("/nonexistent/tok"), "{stderr}");
}

#[test]
fn heredoc_scripts_with_a_shebang_run_from_dev_pipes() {
    let Some(env) = env_with_base() else { return };
    let dir = env.write_files(
        "heredoc",
        &[(
            "Dockerfile",
            "FROM base:1\nRUN <<EOF\n#!/bin/sh\necho \"$0\" > /script-name\nEOF\n",
        )],
    );
    let (ok, _, stderr) = build(&env, &dir, &["-t", "heredoc:1"]);
    assert!(ok, "{stderr}");
    let paths = image_paths(&env, "heredoc:1");
    assert!(paths.iter().any(|p| p == "/script-name"), "{paths:?}");
    assert_absent(&paths, &["/dev/pipes"]);
}
