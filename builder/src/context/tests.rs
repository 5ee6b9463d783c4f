use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};

use super::*;

fn context_with(files: &[(&str, &str)], ignore: Option<&str>) -> (tempfile::TempDir, BuildContext) {
    let dir = tempfile::tempdir().unwrap();
    for (path, content) in files {
        let full = dir.path().join(path);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(full, content).unwrap();
    }
    if let Some(text) = ignore {
        fs::write(dir.path().join(".dockerignore"), text).unwrap();
    }
    let ctx = BuildContext::open(dir.path(), None).unwrap();
    (dir, ctx)
}

fn rels(ctx: &BuildContext, source: &str) -> Vec<String> {
    ctx.resolve_source(source)
        .unwrap()
        .into_iter()
        .map(|m| m.rel)
        .collect()
}

#[test]
fn wildcards_expand_per_component_in_sorted_order() {
    let (_dir, ctx) = context_with(
        &[
            ("b.txt", ""),
            ("a.txt", ""),
            ("c.md", ""),
            ("src/x.txt", ""),
        ],
        None,
    );
    assert_eq!(rels(&ctx, "*.txt"), ["a.txt", "b.txt"]);
    assert_eq!(rels(&ctx, "./s*/*.txt"), ["src/x.txt"]);
    assert_eq!(rels(&ctx, "/src/../c.md"), ["c.md"]);
}

#[test]
fn a_missing_source_is_an_error_naming_it() {
    let (_dir, ctx) = context_with(&[("a", "")], None);
    let err = ctx.resolve_source("nope.txt").unwrap_err();
    assert_eq!(
        err.to_string(),
        "source `nope.txt` not found in the build context"
    );
    // A wildcard matching nothing is empty, not an error (docker accepts it next to others).
    assert!(ctx.resolve_source("*.none").unwrap().is_empty());
}

#[test]
fn an_ignored_source_gets_a_hint_naming_the_ignore_file() {
    let (_dir, ctx) = context_with(&[("secret.env", "x")], Some("*.env\n"));
    let err = ctx.resolve_source("secret.env").unwrap_err().to_string();
    assert!(err.contains("not found"), "{err}");
    assert!(err.contains("hint: it exists but is excluded by"), "{err}");
    assert!(err.contains(".dockerignore"), "{err}");
}

#[test]
fn dockerfile_specific_ignore_file_wins() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a"), "").unwrap();
    fs::write(dir.path().join(".dockerignore"), "a\n").unwrap();
    fs::write(dir.path().join("Dockerfile.dev"), "FROM scratch\n").unwrap();
    fs::write(dir.path().join("Dockerfile.dev.dockerignore"), "b\n").unwrap();
    let ctx = BuildContext::open(dir.path(), Some(&dir.path().join("Dockerfile.dev"))).unwrap();
    assert!(ctx.resolve_source("a").is_ok());
    assert!(ctx
        .ignore_file()
        .unwrap()
        .ends_with("Dockerfile.dev.dockerignore"));
}

#[test]
fn walking_skips_ignored_and_excluded_entries_but_honours_exceptions() {
    let (_dir, ctx) = context_with(
        &[
            ("app/main.sh", "main"),
            ("app/test.txt", "t"),
            ("app/node_modules/x.js", "x"),
            ("app/node_modules/keep.js", "k"),
        ],
        Some("app/node_modules\n!app/node_modules/keep.js\n"),
    );
    let source = ctx.resolve_source("app").unwrap().remove(0);
    let excludes = PatternSet::new(["*.txt"]).unwrap();
    let entries: Vec<String> = ctx
        .walk_source(&source, &excludes)
        .unwrap()
        .into_iter()
        .map(|e| e.rel)
        .collect();
    assert_eq!(
        entries,
        ["", "main.sh", "node_modules", "node_modules/keep.js"]
    );
}

#[test]
fn a_symlink_out_of_the_context_is_resolved_inside_it() {
    let (dir, ctx) = context_with(&[("etc/passwd", "context copy")], None);
    symlink("/etc/passwd", dir.path().join("link")).unwrap();
    let found = ctx.resolve_source("link").unwrap().remove(0);
    assert_eq!(fs::read_to_string(found.host_path).unwrap(), "context copy");
}

#[test]
fn content_digests_follow_content_and_mode_but_not_mtime() {
    let (dir, ctx) = context_with(&[("d/a", "one"), ("d/b", "two")], None);
    let digest = |ctx: &BuildContext| {
        let source = ctx.resolve_source("d").unwrap().remove(0);
        let entries = ctx.walk_source(&source, &PatternSet::default()).unwrap();
        ContentDigester::new(&NoFileHashCache)
            .digest_entries(&entries)
            .unwrap()
    };
    let first = digest(&ctx);
    let file = dir.path().join("d/a");
    let meta = fs::metadata(&file).unwrap();
    let later = meta.modified().unwrap() + std::time::Duration::from_secs(60);
    fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(later)
        .unwrap();
    assert_eq!(digest(&ctx), first, "mtime must not change the digest");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
    let after_chmod = digest(&ctx);
    assert_ne!(after_chmod, first, "mode is part of the digest");
    fs::write(&file, "changed").unwrap();
    assert_ne!(digest(&ctx), after_chmod, "content is part of the digest");
}

#[test]
fn the_file_hash_cache_is_consulted_by_stat() {
    use std::collections::HashMap;
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    #[derive(Default)]
    struct Remembering(Mutex<HashMap<(PathBuf, FileStat), [u8; 32]>>);
    impl FileHashCache for Remembering {
        fn get(&self, path: &Path, stat: &FileStat) -> Option<[u8; 32]> {
            self.0.lock().unwrap().get(&(path.into(), *stat)).copied()
        }
        fn put(&self, path: &Path, stat: &FileStat, digest: [u8; 32]) {
            self.0.lock().unwrap().insert((path.into(), *stat), digest);
        }
    }

    let (dir, _ctx) = context_with(&[("f", "content")], None);
    let file = dir.path().join("f");
    // Old enough to be outside the racy window, so it is remembered.
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(old)
        .unwrap();
    // Setting the mtime touched the ctime: wait out the racy window.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let cache = Remembering::default();
    let digester = ContentDigester::new(&cache);
    let meta = EntryMeta::of(&fs::metadata(&file).unwrap());
    let real = digester.file_digest(&file, &meta).unwrap();
    assert_eq!(cache.0.lock().unwrap().len(), 1);
    // A poisoned cache entry proves the second lookup did not read the file.
    cache.put(&file, &FileStat::of(&meta), [7; 32]);
    assert_eq!(digester.file_digest(&file, &meta).unwrap(), [7; 32]);
    assert_ne!(real, [7; 32]);
}

#[test]
fn walked_facts_are_what_std_lstat_says() {
    // The walker stats children itself (relative to the open directory); the file-hash table
    // compares those facts with ones recorded earlier, so they must agree with std's `lstat`.
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("src/sub")).unwrap();
    fs::write(dir.path().join("src/sub/file"), "content").unwrap();
    fs::set_permissions(
        dir.path().join("src/sub/file"),
        fs::Permissions::from_mode(0o751),
    )
    .unwrap();
    symlink("sub/file", dir.path().join("src/link")).unwrap();
    let context = BuildContext::open(dir.path(), None).unwrap();
    let found = context.resolve_source("src").unwrap();
    let entries = context
        .walk_source(&found[0], &PatternSet::default())
        .unwrap();
    let rels: Vec<&str> = entries.iter().map(|e| e.rel.as_str()).collect();
    assert_eq!(rels, ["", "link", "sub", "sub/file"]);
    for entry in &entries {
        let std_meta = fs::symlink_metadata(&entry.host_path).unwrap();
        assert_eq!(entry.meta, EntryMeta::of(&std_meta), "{}", entry.rel);
    }
    assert_eq!(entries[3].meta.mode() & 0o7777, 0o751);
    assert_eq!(
        entries[1].kind,
        EntryKind::Symlink {
            target: "sub/file".into()
        }
    );
}

fn walked(ctx: &BuildContext, source: &str) -> Vec<String> {
    let found = ctx.resolve_source(source).unwrap().remove(0);
    ctx.walk_source(&found, &PatternSet::default())
        .unwrap()
        .into_iter()
        .map(|e| e.rel)
        .collect()
}

/// BuildKit resolves sources in the context it was sent, which has no excluded files: a
/// symlink may not lead to one (docker 20.10: `"/secret.txt" not found: not found`).
#[test]
fn a_symlink_never_leads_to_an_excluded_file() {
    let (dir, ctx) = context_with(
        &[
            ("secret.txt", "s"),
            ("pub.txt", "p"),
            ("sub/secret.txt", "s2"),
        ],
        Some("secret.txt\nsub/secret.txt\nhidden-link\n"),
    );
    symlink("secret.txt", dir.path().join("link")).unwrap();
    symlink(".", dir.path().join("dirlink")).unwrap();
    symlink("/sub", dir.path().join("sublink")).unwrap();
    symlink("pub.txt", dir.path().join("hidden-link")).unwrap();

    for source in [
        "link",
        "dirlink/secret.txt",
        "./dirlink/dirlink/secret.txt",
        "sublink/secret.txt",
    ] {
        let err = ctx.resolve_source(source).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("source `{source}` not found")),
            "{err}"
        );
        assert!(err.contains("which is excluded by"), "{source}: {err}");
    }
    // An excluded symlink is not there either, wherever it points.
    let err = ctx.resolve_source("hidden-link").unwrap_err().to_string();
    assert!(err.contains("hint: it exists but is excluded by"), "{err}");
    assert!(ctx.resolve_source("hidden-link/x").is_err());
    // A wildcard through a symlink matches only what is not excluded.
    assert_eq!(rels(&ctx, "dirlink/*.txt"), ["dirlink/pub.txt"]);
    // A directory reached through a symlink is walked under its target's rules (docker
    // copies `dirlink/`'s contents without `secret.txt`).
    let listing = walked(&ctx, "./dirlink/");
    assert!(
        !listing.iter().any(|rel| rel.ends_with("secret.txt")),
        "{listing:?}"
    );
    assert!(listing.contains(&"pub.txt".to_string()), "{listing:?}");
    let listing = walked(&ctx, "sublink");
    assert_eq!(listing, [""], "sub/secret.txt is excluded");
    // What is not excluded still resolves through links.
    assert_eq!(rels(&ctx, "dirlink/pub.txt"), ["dirlink/pub.txt"]);
}

/// `dir/d/d/…`: `depth` nested directories below `dir`, each with a file `f`.
fn deep_context(depth: usize, ignore: Option<&str>) -> (tempfile::TempDir, BuildContext) {
    let dir = tempfile::tempdir().unwrap();
    let mut path = dir.path().join("top");
    for _ in 0..depth {
        path.push("d");
    }
    fs::create_dir_all(&path).unwrap();
    let mut path = dir.path().join("top");
    for _ in 0..depth {
        path.push("d");
        fs::write(path.join("f"), "").unwrap();
        fs::write(path.join("x.tmp"), "").unwrap();
    }
    if let Some(text) = ignore {
        fs::write(dir.path().join(".dockerignore"), text).unwrap();
    }
    let ctx = BuildContext::open(dir.path(), None).unwrap();
    (dir, ctx)
}

#[test]
fn deep_trees_are_walked_in_order_past_the_parallel_depth() {
    // Deep enough for the sequential walk, on a small stack as rayon's threads have; an
    // excluded directory deep down is kept only for what an exception re-includes below it.
    let depth = 200;
    let (_dir, ctx) = deep_context(depth, Some("**/*.tmp\n**/d\n!**/f\n"));
    let listing = std::thread::Builder::new()
        .stack_size(512 << 10)
        .spawn(move || walked(&ctx, "top"))
        .unwrap()
        .join()
        .unwrap();
    let mut expected = vec![String::new()];
    let mut rel = String::new();
    for _ in 0..depth {
        rel = join_rel(&rel, "d");
        expected.push(rel.clone());
        expected.push(format!("{rel}/f"));
    }
    // Sorted as the walk lists them: a directory's `d` before its `f`.
    let mut sorted = expected.clone();
    sorted.sort_by(|a, b| a.split('/').cmp(b.split('/')));
    assert_eq!(listing, sorted);
}

#[test]
fn a_context_deeper_than_the_limit_is_refused_naming_the_path() {
    let (_dir, ctx) = deep_context(strata_oci::MAX_DEPTH + 5, None);
    let found = ctx.resolve_source("top").unwrap().remove(0);
    let err = std::thread::Builder::new()
        .stack_size(512 << 10)
        .spawn(move || ctx.walk_source(&found, &PatternSet::default()).unwrap_err())
        .unwrap()
        .join()
        .unwrap();
    assert!(
        matches!(err, Error::Oci(strata_oci::Error::TooDeep { .. })),
        "{err}"
    );
    let message = err.to_string();
    assert!(message.starts_with("`top/d/d/"), "{message}");
    assert!(
        message.contains("more than 512 directory levels deep"),
        "{message}"
    );
}

/// Exceptions inside an excluded directory, as current BuildKit decides them: fsutil's walker
/// (since tonistiigi/fsutil d7eeb96, Dec 2021: BuildKit v0.10, docker 23 and later) enters an
/// excluded directory when an exception could match inside it — one whose path starts with
/// the directory's, or any exception with a wildcard — and matches what is inside together
/// with its parents (moby/patternmatcher `MatchesOrParentMatches`). docker 20.10 (fsutil of
/// 2020-11) entered only for exceptions starting with the directory's path, so there `!*/keep*`
/// and `!**/keep*` re-include nothing in `gen`; this pins the newer behaviour. The cases both
/// agree on are also the differential case `91-dockerignore-excluded-dir-exceptions`.
#[test]
fn exceptions_inside_excluded_directories_follow_current_buildkit() {
    let files = [
        ("gen/keep.txt", ""),
        ("gen/drop.txt", ""),
        ("gen/sub/keep2.txt", ""),
        ("other/keep.txt", ""),
        ("keep.txt", ""),
    ];
    let listing = |ignore: &str| -> Vec<String> {
        let (_dir, ctx) = context_with(&files, Some(ignore));
        walked(&ctx, ".")
            .into_iter()
            .filter(|rel| !rel.is_empty() && rel != ".dockerignore")
            .collect()
    };
    let rest = ["keep.txt", "other", "other/keep.txt"];
    let with = |inside: &[&str]| -> Vec<String> {
        inside.iter().chain(&rest).map(|s| s.to_string()).collect()
    };
    // Wildcard exceptions reach inside (`*` stays within one component).
    assert_eq!(listing("gen\n!*/keep*\n"), with(&["gen", "gen/keep.txt"]));
    assert_eq!(
        listing("gen\n!**/keep*\n"),
        with(&["gen", "gen/keep.txt", "gen/sub", "gen/sub/keep2.txt"])
    );
    // With the directory's path as prefix; without it, a plain name re-includes nothing inside.
    assert_eq!(
        listing("gen\n!gen/keep.txt\n"),
        with(&["gen", "gen/keep.txt"])
    );
    assert_eq!(listing("gen\n!keep.txt\n"), with(&[]));
    // Trailing slashes and `/**` name the directory's contents.
    assert_eq!(
        listing("gen/\n!gen/sub/\n"),
        with(&["gen", "gen/sub", "gen/sub/keep2.txt"])
    );
    assert_eq!(
        listing("gen/**\n!gen/sub/**\n"),
        with(&["gen", "gen/sub", "gen/sub/keep2.txt"])
    );
    // Everything out but one directory deep down: its parents come along.
    assert_eq!(
        listing("*\n!gen/sub\n"),
        ["gen", "gen/sub", "gen/sub/keep2.txt"]
    );
}

/// An excluded directory that holds a re-included file is sent with just that file, so it can
/// be copied by name (docker 20.10: `COPY gen /g/` gives `/g/keep.txt`); with nothing
/// re-included it is not there.
#[test]
fn an_excluded_directory_with_an_exception_inside_can_be_copied() {
    let (_dir, ctx) = context_with(
        &[("gen/keep.txt", ""), ("gen/drop.txt", ""), ("none/x", "")],
        Some("gen\n!gen/keep.txt\nnone\n"),
    );
    assert_eq!(walked(&ctx, "gen"), ["", "keep.txt"]);
    let err = ctx.resolve_source("none").unwrap_err().to_string();
    assert!(err.contains("hint: it exists but is excluded by"), "{err}");
}
