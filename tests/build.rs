//! `strata build` end to end: real sandbox, real store. Needs root and Debian's busybox-static
//! (the base image is built from it); skipped with a reason otherwise.

use std::fs;

use crate::util::{is_root, skip_unless, TestEnv};

/// A store with `base:1`, a busybox image built by strata itself (FROM scratch + COPY).
pub(crate) fn env_with_base() -> Option<TestEnv> {
    if skip_unless(is_root(), "strata build needs root (namespaces, overlayfs)")
        || skip_unless(
            std::path::Path::new("/bin/busybox").is_file(),
            "/bin/busybox missing (busybox-static)",
        )
    {
        return None;
    }
    let env = TestEnv::new();
    let dir = env.write_files(
        "base",
        &[(
            "Dockerfile",
            "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nRUN mkdir -p /etc /tmp && echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd && echo 'root:x:0:' > /etc/group && echo 'app:x:1000:1000::/home/app:/bin/sh' >> /etc/passwd && echo 'app:x:1000:' >> /etc/group\nENV PATH=/bin\n",
        )],
    );
    fs::copy("/bin/busybox", dir.join("busybox")).unwrap();
    env.ok(&["build", "-q", "-t", "base:1", dir.to_str().unwrap()]);
    Some(env)
}

pub(crate) fn build(
    env: &TestEnv,
    dir: &std::path::Path,
    extra: &[&str],
) -> (bool, String, String) {
    let mut args = vec!["build", "--progress", "plain"];
    args.extend_from_slice(extra);
    args.push(dir.to_str().unwrap());
    let output = env.run(&args);
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn unchanged_steps_are_cached_and_a_change_reruns_from_there() {
    let Some(env) = env_with_base() else { return };
    let dir = env.write_files(
        "app",
        &[
            (
                "Dockerfile",
                "FROM base:1\nRUN echo one > /one\nCOPY a.txt /a.txt\nRUN cat /a.txt > /copy\n",
            ),
            ("a.txt", "first"),
        ],
    );
    let (ok, _, first) = build(&env, &dir, &["-t", "app:1"]);
    assert!(ok, "{first}");
    assert_eq!(first.matches("CACHED").count(), 0, "{first}");
    let (ok, _, second) = build(&env, &dir, &["-t", "app:1"]);
    assert!(ok, "{second}");
    assert_eq!(second.matches("CACHED").count(), 3, "{second}");
    let id = |log: &str| {
        log.lines()
            .find(|l| l.starts_with("writing image"))
            .unwrap()
            .split(' ')
            .nth(2)
            .unwrap()
            .to_string()
    };
    assert_eq!(
        id(&first),
        id(&second),
        "a cached rebuild gives the same image"
    );
    // Only the mtime changes: content-based keys still hit.
    let file = dir.join("a.txt");
    fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .unwrap();
    let (_, _, touched) = build(&env, &dir, &[]);
    assert_eq!(
        touched.matches("CACHED").count(),
        3,
        "mtime is not content: {touched}"
    );
    fs::write(&file, "second").unwrap();
    let (ok, _, third) = build(&env, &dir, &[]);
    assert!(ok, "{third}");
    assert_eq!(
        third.matches("CACHED").count(),
        1,
        "the RUN before the changed COPY stays cached: {third}"
    );
    let (ok, _, fresh) = build(&env, &dir, &["--no-cache"]);
    assert!(ok);
    assert_eq!(fresh.matches("CACHED").count(), 0, "{fresh}");
}

#[test]
fn quiet_prints_only_the_image_id_and_iidfile_records_it() {
    let Some(env) = env_with_base() else { return };
    let dir = env.write_files("app", &[("Dockerfile", "FROM base:1\nRUN true\n")]);
    let iid = env.path("iid");
    let out = env.ok(&[
        "build",
        "-q",
        "--iidfile",
        iid.to_str().unwrap(),
        dir.to_str().unwrap(),
    ]);
    let id = out.trim();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{out}");
    assert_eq!(fs::read_to_string(iid).unwrap(), id);
    // Untagged, as docker's dangling image: usable by ID, listed as <none>, named later.
    assert_eq!(env.ok(&["inspect", "--format", "{{.Id}}", id]).trim(), id);
    assert!(env.ok(&["images"]).contains("<none>"));
    env.ok(&["build", "-q", "-t", "named:1", dir.to_str().unwrap()]);
    assert!(!env.ok(&["images"]).contains("<none>"));
    // As docker: when the name moves to a new image, the old one stays as <none>.
    fs::write(
        dir.join("Dockerfile"),
        "FROM base:1\nRUN echo moved > /moved\n",
    )
    .unwrap();
    let moved = env.ok(&["build", "-q", "-t", "named:1", dir.to_str().unwrap()]);
    assert_ne!(moved.trim(), id);
    let images = env.ok(&["images"]);
    let short = &id["sha256:".len().."sha256:".len() + 12];
    let old_row = images.lines().find(|l| l.contains(short));
    assert!(
        old_row.is_some_and(|row| row.starts_with("<none>")),
        "{images}"
    );
    assert_eq!(env.ok(&["inspect", "--format", "{{.Id}}", id]).trim(), id);
}

#[test]
fn a_failing_run_names_the_step_and_line_and_exits_non_zero() {
    let Some(env) = env_with_base() else { return };
    let dir = env.write_files(
        "app",
        &[(
            "build/Dockerfile.ci",
            "FROM base:1\n# setup\nRUN true\n\nENV A=1\n\n  RUN echo about to fail && exit 7\n",
        )],
    );
    let file = dir.join("build/Dockerfile.ci");
    let (ok, _, stderr) = build(&env, &dir, &["-f", file.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        stderr.contains("#2 0."),
        "RUN output is streamed with timings: {stderr}"
    );
    assert!(stderr.contains("about to fail"), "{stderr}");
    // The file the user named, the line, the step, the cause; then the line and carets, as
    // Dockerfile errors are shown.
    assert!(
        stderr.contains(&format!(
            "{}:7: [3/3] RUN echo about to fail && exit 7: process",
            file.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            " 7 |   RUN echo about to fail && exit 7\n   |   ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("exit code: 7"), "{stderr}");
    assert_eq!(
        stderr.matches("exit code: 7").count(),
        2,
        "once in the step's log line, once in the error: {stderr}"
    );
}

/// Issue 13's acceptance: under `-f build/Dockerfile.ci`, given relative to the working
/// directory, a failed RUN names that path (not `Dockerfile`) with its line, and shows the line
/// with carets under it.
#[test]
fn a_failing_run_under_dash_f_names_the_file_as_given_with_line_and_caret() {
    let Some(env) = env_with_base() else { return };
    let dir = env.write_files(
        "app",
        &[(
            "build/Dockerfile.ci",
            "FROM base:1\n# setup\nRUN true\n\nENV A=1\n\nRUN exit 3\n",
        )],
    );
    let output = env
        .strata(&[
            "build",
            "--progress",
            "plain",
            "-f",
            "build/Dockerfile.ci",
            ".",
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("error: build/Dockerfile.ci:7: [3/3] RUN exit 3: process"),
        "{stderr}"
    );
    assert!(
        stderr.contains("\n   |\n 7 | RUN exit 3\n   | ^^^^^^^^^^\n"),
        "{stderr}"
    );
}

#[test]
fn an_ignored_copy_source_gets_a_hint() {
    let Some(env) = env_with_base() else { return };
    let dir = env.write_files(
        "app",
        &[
            ("Dockerfile", "FROM base:1\nCOPY secret.env /\n"),
            ("secret.env", "x"),
            (".dockerignore", "*.env\n"),
        ],
    );
    let (ok, _, stderr) = build(&env, &dir, &[]);
    assert!(!ok);
    assert!(
        stderr.contains("source `secret.env` not found in the build context"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: it exists but is excluded by"),
        "{stderr}"
    );
}

#[test]
fn a_missing_base_image_says_how_to_load_one() {
    let env = TestEnv::new();
    let dir = env.write_files("app", &[("Dockerfile", "FROM nowhere:1\nRUN true\n")]);
    let (ok, _, stderr) = build(&env, &dir, &[]);
    assert!(!ok);
    assert!(
        stderr.contains("image `nowhere:1` is not in the local store"),
        "{stderr}"
    );
    assert!(stderr.contains("strata load"), "{stderr}");
}

#[test]
fn multi_stage_copy_from_and_target() {
    let Some(env) = env_with_base() else { return };
    let dir = env.write_files(
        "app",
        &[(
            "Dockerfile",
            "FROM base:1 AS build\nRUN mkdir /out && echo built > /out/artifact && chown 1000:1000 /out/artifact\nFROM base:1 AS test\nRUN false\nFROM base:1\nCOPY --from=build /out/ /dist/\nRUN test \"$(cat /dist/artifact)\" = built && test \"$(stat -c %u /dist/artifact)\" = 1000\n",
        )],
    );
    let (ok, _, stderr) = build(&env, &dir, &["-t", "multi:1"]);
    assert!(ok, "the unused failing stage must not run: {stderr}");
    let (ok, _, stderr) = build(&env, &dir, &["--target", "test"]);
    assert!(!ok, "{stderr}");
}

#[test]
fn dockerfile_from_stdin_without_context() {
    let Some(env) = env_with_base() else { return };
    let output = env.run_with_stdin(&["build", "-q", "-"], b"FROM base:1\nRUN echo hi > /hi\n");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("sha256:"));
}

#[test]
fn a_same_size_same_mtime_edit_is_still_a_miss_and_only_its_readers_rerun() {
    let Some(env) = env_with_base() else { return };
    let dir = env.write_files(
        "app",
        &[
            (
                "Dockerfile",
                "FROM base:1\nCOPY one.txt /one\nCOPY two.txt /two\nRUN cat /one /two > /both\n",
            ),
            ("one.txt", "aaaa"),
            ("two.txt", "bbbb"),
        ],
    );
    let (ok, _, log) = build(&env, &dir, &[]);
    assert!(ok, "{log}");
    let file = dir.join("two.txt");
    let mtime = fs::metadata(&file).unwrap().modified().unwrap();
    // Wait out the racy window, then change content but keep size and mtime.
    std::thread::sleep(std::time::Duration::from_millis(300));
    fs::write(&file, "cccc").unwrap();
    fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let (ok, _, log) = build(&env, &dir, &[]);
    assert!(ok, "{log}");
    let one = log
        .lines()
        .position(|l| l.ends_with("COPY one.txt /one"))
        .expect("the COPY one.txt step");
    assert!(
        log.lines()
            .nth(one + 1)
            .is_some_and(|l| l.ends_with("CACHED")),
        "the step that does not read two.txt stays cached: {log}"
    );
    assert_eq!(
        log.matches("CACHED").count(),
        1,
        "COPY two.txt and the RUN after it re-run: {log}"
    );
}

#[test]
fn a_cached_rebuild_equals_a_no_cache_build_byte_for_byte() {
    let Some(env) = env_with_base() else { return };
    let dir = env.write_files(
        "app",
        &[("Dockerfile", "FROM base:1\nCOPY a /a\nRUN mkdir -p /out && echo made > /out/file && touch /out/stamp\n"), ("a", "x")],
    );
    let id = |extra: &[&str]| {
        let mut args = vec!["build", "-q"];
        args.extend_from_slice(extra);
        args.push(dir.to_str().unwrap());
        env.strata(&args)
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .output()
            .unwrap()
    };
    let first = id(&[]);
    let cached = id(&[]);
    let fresh = id(&["--no-cache"]);
    assert!(first.status.success() && fresh.status.success());
    assert_eq!(first.stdout, cached.stdout);
    assert_eq!(
        cached.stdout, fresh.stdout,
        "same config and layers, so the same image ID"
    );
}

#[test]
fn an_edit_in_a_copied_tree_relinks_the_rest_and_equals_a_no_cache_build() {
    let Some(env) = env_with_base() else { return };
    let dir = env.write_files(
        "app",
        &[
            (
                "Dockerfile",
                "FROM base:1\nCOPY src /src\nRUN cat /src/b > /b\n",
            ),
            ("src/a", "unchanged"),
            ("src/b", "before"),
            ("src/sub/c", "unchanged too"),
        ],
    );
    let rootfs = |tag: &str| env.ok(&["inspect", "--format", "{{json .RootFS}}", tag]);
    let (ok, _, log) = build(&env, &dir, &["-t", "app:1"]);
    assert!(ok, "{log}");
    // Out of the racy window, so the file-hash index remembers the unchanged files.
    std::thread::sleep(std::time::Duration::from_millis(300));
    fs::write(dir.join("src/b"), "after!").unwrap();
    let (ok, _, log) = build(&env, &dir, &["-t", "app:2"]);
    assert!(ok, "{log}");
    assert_eq!(
        log.matches("CACHED").count(),
        0,
        "the COPY and the RUN re-run: {log}"
    );
    let (ok, _, log) = build(&env, &dir, &["--no-cache", "-t", "app:3"]);
    assert!(ok, "{log}");
    // Every layer but the RUN's: /b gets the time of the run (to the second in the tar), so
    // two runs a second boundary apart differ there, in docker's images as in ours.
    let copied_layers = |tag: &str| {
        let rootfs: serde_json::Value = serde_json::from_str(&rootfs(tag)).unwrap();
        let layers = rootfs["Layers"].as_array().unwrap().clone();
        layers[..layers.len() - 1].to_vec()
    };
    assert_eq!(
        copied_layers("app:2"),
        copied_layers("app:3"),
        "the relinked layer is the layer a fresh copy makes (directory mtimes included)"
    );
    assert_ne!(rootfs("app:1"), rootfs("app:2"));
    // The unchanged files of the second COPY share their inodes with the first one's.
    let shared = walk_files(&env.root().join("snapshots"))
        .iter()
        .filter(|p| p.ends_with("src/a") || p.ends_with("src/sub/c"))
        .filter(|p| {
            use std::os::unix::fs::MetadataExt;
            fs::metadata(p).unwrap().nlink() > 1
        })
        .count();
    assert!(
        shared >= 2,
        "unchanged files were linked, not copied ({shared})"
    );
}

fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            out.extend(walk_files(&path));
        } else if meta.is_file() {
            out.push(path);
        }
    }
    out
}
