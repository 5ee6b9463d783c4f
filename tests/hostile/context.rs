//! Hostile context inputs: symlinks that lead to what `.dockerignore` excludes, trees deep
//! enough to exhaust a stack, and file names that read as whiteouts once in a layer.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use crate::util::*;

/// Builds `dir` tagged `tag`; returns whether it succeeded, the exit code and stderr.
fn build(env: &TestEnv, dir: &Path, tag: &str) -> (bool, Option<i32>, String) {
    let output = env.run(&[
        "build",
        "--progress",
        "plain",
        "-t",
        tag,
        dir.to_str().unwrap(),
    ]);
    (
        output.status.success(),
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Every regular file of an image's flattened filesystem, with its content.
fn image_files(env: &TestEnv, image: &str) -> Vec<(String, Vec<u8>)> {
    use std::io::Read as _;
    let out = env.path(&format!("{}.tar", image.replace([':', '/'], "_")));
    env.ok(&["export", image, "-o", out.to_str().unwrap()]);
    let mut archive = tar::Archive::new(fs::File::open(&out).unwrap());
    let mut files = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        files.push((format!("/{}", path.trim_start_matches("./")), content));
    }
    files
}

const SECRET: &str = "TOP-SECRET-CONTENT";

/// A context where `secret.txt` is ignored, with `link -> secret.txt` and `dirlink -> .`.
fn context_with_links(env: &TestEnv, name: &str, dockerfile: &str) -> std::path::PathBuf {
    let dir = env.write_files(
        name,
        &[
            ("Dockerfile", dockerfile),
            ("secret.txt", SECRET),
            ("pub.txt", "public"),
            (".dockerignore", "secret.txt\n"),
        ],
    );
    symlink("secret.txt", dir.join("link")).unwrap();
    symlink(".", dir.join("dirlink")).unwrap();
    dir
}

fn assert_no_secret(env: &TestEnv, image: &str) {
    for (path, content) in image_files(env, image) {
        assert!(
            !String::from_utf8_lossy(&content).contains(SECRET),
            "`{path}` in `{image}` holds the ignored file's content"
        );
    }
}

/// docker 20.10 (BuildKit) refuses a source that leads to an excluded file:
/// `"/secret.txt" not found: not found`, and copies a linked directory without it.
#[test]
fn dockerignore_is_not_bypassed_through_symlinks() {
    let Some(env) = env_with_imported_busybox("bb:1", "CMD [\"sh\"]") else {
        return;
    };
    for (name, line) in [
        ("file-link", "COPY link /"),
        ("dir-link-path", "COPY dirlink/secret.txt /"),
    ] {
        let dir = context_with_links(&env, name, &format!("FROM scratch\n{line}\n"));
        let (ok, code, stderr) = build(&env, &dir, name);
        assert!(!ok && code == Some(1), "{line} must fail: {stderr}");
        assert!(
            stderr.contains("not found in the build context")
                && stderr.contains("which is excluded by"),
            "{line}: {stderr}"
        );
    }

    // A linked directory is copied as its target's contents, which exclude `secret.txt`.
    let dir = context_with_links(&env, "dir-link", "FROM scratch\nCOPY ./dirlink/ /x/\n");
    let (ok, _, stderr) = build(&env, &dir, "dir-link:1");
    assert!(ok, "{stderr}");
    let files = image_files(&env, "dir-link:1");
    assert!(
        files.iter().any(|(path, _)| path == "/x/pub.txt"),
        "{files:?}"
    );
    assert_no_secret(&env, "dir-link:1");

    // A bind mount of the linked directory shows the context as sent, without `secret.txt`.
    let dir = context_with_links(
        &env,
        "bind-link",
        "FROM bb:1\n\
         RUN --mount=type=bind,source=dirlink,target=/m \
             (cat /m/secret.txt || true) > /leak && ls /m > /listing\n",
    );
    let (ok, _, stderr) = build(&env, &dir, "bind-link:1");
    assert!(ok, "{stderr}");
    let files = image_files(&env, "bind-link:1");
    let listing = files.iter().find(|(path, _)| path == "/listing").unwrap();
    assert!(
        String::from_utf8_lossy(&listing.1).contains("pub.txt"),
        "the mount shows the context: {listing:?}"
    );
    assert_no_secret(&env, "bind-link:1");
}

/// `dir/d/d/…/f`, `depth` components below `dir`.
fn deep_tree(dir: &Path, depth: usize) {
    let parent = (1..depth).fold(dir.to_path_buf(), |path, _| path.join("d"));
    fs::create_dir_all(&parent).unwrap();
    fs::write(parent.join("f"), "bottom").unwrap();
}

/// A tree deeper than strata takes (512 levels; the walk overflowed its stack at ~220 before)
/// is refused with a message naming it, not an abort (exit 134, no message).
#[test]
fn a_deep_context_is_refused_with_a_message_not_a_stack_overflow() {
    if skip_unless(is_root(), "strata build needs root") {
        return;
    }
    let env = TestEnv::new();
    let dir = env.write_files("deep", &[("Dockerfile", "FROM scratch\nCOPY . /c/\n")]);
    deep_tree(&dir.join("tree"), 600);
    let (ok, code, stderr) = build(&env, &dir, "deep:1");
    assert!(!ok && code == Some(1), "exit {code:?}: {stderr}");
    assert!(
        stderr.contains("`tree/d/d/d/") && stderr.contains("more than 512 directory levels deep"),
        "{stderr}"
    );
}

/// The same for a layer tar with a very deep path (`strata import`; `load` reads layers the
/// same way) and for a tree a RUN step makes.
#[test]
fn a_deep_layer_is_refused_on_import_and_when_a_run_makes_one() {
    let Some(env) = env_with_imported_busybox("bb:1", "CMD [\"sh\"]") else {
        return;
    };
    let tarball = env.path("deep.tar");
    {
        let mut builder = tar::Builder::new(fs::File::create(&tarball).unwrap());
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_size(1);
        let path = vec!["d"; 2100].join("/");
        builder.append_data(&mut header, &path, &b"x"[..]).unwrap();
        builder.finish().unwrap();
    }
    let output = env.run(&["import", tarball.to_str().unwrap(), "deep:1"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("more than 512 directory levels deep"),
        "{stderr}"
    );

    let dir = env.write_files(
        "deep-run",
        &[(
            "Dockerfile",
            "FROM bb:1\nRUN d=/deep; i=0; while [ $i -lt 600 ]; do d=$d/d; i=$((i+1)); done; mkdir -p $d\n",
        )],
    );
    let (ok, code, stderr) = build(&env, &dir, "deep-run:1");
    assert!(!ok && code == Some(1), "exit {code:?}: {stderr}");
    assert!(
        stderr.contains("`/deep/d/d/") && stderr.contains("more than 512 directory levels deep"),
        "{stderr}"
    );
}

/// A file named `.wh.*` is a whiteout once in a layer: after save and load it would delete its
/// sibling instead of being there. Refused with the path, as containerd refuses such names.
#[test]
fn files_named_like_whiteouts_are_refused_naming_the_path() {
    let Some(env) = env_with_imported_busybox("bb:1", "CMD [\"sh\"]") else {
        return;
    };
    let dir = env.write_files(
        "wh-copy",
        &[
            ("Dockerfile", "FROM scratch\nCOPY . /app/\n"),
            ("a.txt", "a"),
            (".wh.a.txt", "not a whiteout"),
        ],
    );
    let (ok, code, stderr) = build(&env, &dir, "wh-copy:1");
    assert!(!ok && code == Some(1), "{stderr}");
    assert!(
        stderr.contains("`/app/.wh.a.txt`: file names starting with `.wh.` are reserved"),
        "{stderr}"
    );

    let dir = env.write_files(
        "wh-run",
        &[(
            "Dockerfile",
            "FROM bb:1\nRUN mkdir /data && touch /data/.wh.x\n",
        )],
    );
    let (ok, code, stderr) = build(&env, &dir, "wh-run:1");
    assert!(!ok && code == Some(1), "{stderr}");
    assert!(stderr.contains("`/data/.wh.x`"), "{stderr}");
}
