use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use super::*;
use crate::context::{BuildContext, PatternSet};

struct Fixture {
    _context_dir: tempfile::TempDir,
    context: BuildContext,
    image_dir: tempfile::TempDir,
    upper: tempfile::TempDir,
}

fn fixture(files: &[(&str, &str)]) -> Fixture {
    let context_dir = tempfile::tempdir().unwrap();
    for (path, content) in files {
        let full = context_dir.path().join(path);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(full, content).unwrap();
    }
    let context = BuildContext::open(context_dir.path(), None).unwrap();
    let image_dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(image_dir.path().join("etc")).unwrap();
    fs::set_permissions(
        image_dir.path().join("etc"),
        fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    Fixture {
        _context_dir: context_dir,
        context,
        image_dir,
        upper: tempfile::tempdir().unwrap(),
    }
}

impl Fixture {
    fn sources(&self, written: &[&str]) -> Vec<CopySource> {
        written
            .iter()
            .flat_map(|w| self.context.resolve_source(w).unwrap())
            .map(|m| CopySource {
                name: m.rel.rsplit('/').next().unwrap().to_string(),
                entries: self
                    .context
                    .walk_source(&m, &PatternSet::default())
                    .unwrap(),
                rel: m.rel,
                keep_owner: false,
                content: Vec::new(),
                unpack: true,
            })
            .collect()
    }

    fn copy(&self, written: &[&str], options: CopyOptions) -> Result<()> {
        let image = LayerStack::new(vec![self.image_dir.path().to_path_buf()]);
        copy_into_layer(&self.sources(written), &options, &image, self.upper.path())
    }

    fn read(&self, path: &str) -> String {
        fs::read_to_string(self.upper.path().join(path.trim_start_matches('/'))).unwrap()
    }

    fn meta(&self, path: &str) -> fs::Metadata {
        fs::symlink_metadata(self.upper.path().join(path.trim_start_matches('/'))).unwrap()
    }
}

fn to(dest: &str) -> CopyOptions {
    CopyOptions {
        dest: dest.into(),
        workdir: "/".into(),
        ..CopyOptions::default()
    }
}

#[test]
fn a_directory_source_copies_its_contents_not_itself() {
    let f = fixture(&[("src/a.txt", "a"), ("src/sub/b.txt", "b")]);
    f.copy(&["src"], to("/app")).unwrap();
    assert_eq!(f.read("/app/a.txt"), "a");
    assert_eq!(f.read("/app/sub/b.txt"), "b");
    assert!(!f.upper.path().join("app/src").exists());
}

#[test]
fn a_file_goes_into_a_slash_destination_or_becomes_the_destination() {
    let f = fixture(&[("a.txt", "a")]);
    f.copy(&["a.txt"], to("/dir/")).unwrap();
    assert_eq!(f.read("/dir/a.txt"), "a");
    f.copy(&["a.txt"], to("/renamed")).unwrap();
    assert_eq!(f.read("/renamed"), "a");
    // An existing image directory is a directory destination even without a slash.
    f.copy(&["a.txt"], to("/etc")).unwrap();
    assert_eq!(f.read("/etc/a.txt"), "a");
}

#[test]
fn several_sources_need_a_directory_destination() {
    let f = fixture(&[("a", "a"), ("b", "b")]);
    let err = f.copy(&["a", "b"], to("/out")).unwrap_err().to_string();
    assert!(
        err.contains("must be a directory and end with a `/`"),
        "{err}"
    );
    f.copy(&["a", "b"], to("/out/")).unwrap();
    assert_eq!(f.read("/out/b"), "b");
}

#[test]
fn relative_destinations_follow_the_workdir() {
    let f = fixture(&[("a", "a")]);
    let options = CopyOptions {
        dest: "conf/".into(),
        workdir: "/srv/app".into(),
        ..CopyOptions::default()
    };
    f.copy(&["a"], options).unwrap();
    assert_eq!(f.read("/srv/app/conf/a"), "a");
    assert_eq!(absolute_dest(".", "/w"), "/w/");
}

#[test]
fn existing_parents_keep_the_image_metadata_and_new_ones_are_0755() {
    let f = fixture(&[("a", "a")]);
    f.copy(&["a"], to("/etc/new/dir/")).unwrap();
    assert_eq!(f.meta("/etc").mode() & 0o7777, 0o700);
    assert_eq!(f.meta("/etc/new").mode() & 0o7777, 0o755);
}

#[test]
fn chown_and_chmod_apply_to_copied_entries_and_created_dirs() {
    let f = fixture(&[("d/x", "x")]);
    let options = CopyOptions {
        chown: Some((1000, 1001)),
        chmod: Some(0o640),
        ..to("/made/d")
    };
    f.copy(&["d"], options).unwrap();
    let x = f.meta("/made/d/x");
    assert_eq!((x.uid(), x.gid(), x.mode() & 0o7777), (1000, 1001, 0o640));
    let made = f.meta("/made");
    assert_eq!((made.uid(), made.gid()), (1000, 1001));
}

#[test]
fn context_files_become_root_owned() {
    let f = fixture(&[("a", "a")]);
    std::os::unix::fs::chown(f.context.root().join("a"), Some(1234), Some(1234)).unwrap();
    let sources = f.sources(&["a"]);
    let image = LayerStack::new(vec![f.image_dir.path().to_path_buf()]);
    copy_into_layer(&sources, &to("/a"), &image, f.upper.path()).unwrap();
    assert_eq!(f.meta("/a").uid(), 0);
}

#[test]
fn parents_keeps_the_source_path() {
    let f = fixture(&[("x/y/a.txt", "a")]);
    let options = CopyOptions {
        parents: true,
        ..to("/out/")
    };
    f.copy(&["x/y/a.txt"], options).unwrap();
    assert_eq!(f.read("/out/x/y/a.txt"), "a");
}

/// Sources with their content digests filled in, as the scheduler hands them over.
fn digested(f: &Fixture, written: &[&str]) -> Vec<CopySource> {
    let digester = crate::context::ContentDigester::new(&crate::context::NoFileHashCache);
    f.sources(written)
        .into_iter()
        .map(|mut source| {
            source.content = digester
                .digest_entries_and_files(&source.entries)
                .unwrap()
                .1;
            source
        })
        .collect()
}

fn layer_digest(dir: &Path) -> strata_cache::Digest {
    strata_oci::write_layer(dir, &Default::default(), &mut std::io::sink())
        .unwrap()
        .diff_id
}

#[test]
fn unchanged_files_are_linked_from_the_earlier_snapshot_and_changed_ones_copied() {
    let f = fixture(&[
        ("src/a", "same"),
        ("src/b", "old"),
        ("src/sub/c", "same too"),
    ]);
    let image = LayerStack::new(vec![f.image_dir.path().to_path_buf()]);
    let first = tempfile::tempdir().unwrap();
    let written = copy_into_layer_reusing(
        &digested(&f, &["src"]),
        &to("/app"),
        &image,
        first.path(),
        None,
    )
    .unwrap();
    assert_eq!(
        written.len(),
        3,
        "every regular file is recorded: {written:?}"
    );
    // b changes content; c keeps content but gets another mtime (a touch): it must not be
    // linked, the layer would carry the old mtime.
    let root = f.context.root();
    fs::write(root.join("src/b"), "new").unwrap();
    let c = root.join("src/sub/c");
    let later = filetime(&c) + 100;
    set_time(&c, later);
    let reuse = Reuse {
        snapshot: first.path().to_path_buf(),
        files: written,
    };
    let second = tempfile::tempdir().unwrap();
    let sources = digested(&f, &["src"]);
    let again = copy_into_layer_reusing(&sources, &to("/app"), &image, second.path(), Some(&reuse))
        .unwrap();
    let ino = |dir: &Path, p: &str| fs::metadata(dir.join(p)).unwrap().ino();
    assert_eq!(
        ino(first.path(), "app/a"),
        ino(second.path(), "app/a"),
        "a is linked"
    );
    assert_ne!(ino(first.path(), "app/b"), ino(second.path(), "app/b"));
    assert_eq!(
        fs::read_to_string(second.path().join("app/b")).unwrap(),
        "new"
    );
    assert_ne!(
        ino(first.path(), "app/sub/c"),
        ino(second.path(), "app/sub/c")
    );
    assert_eq!(
        fs::read_to_string(first.path().join("app/b")).unwrap(),
        "old"
    );
    assert_eq!(again.len(), 3);
    // The layer is the one a plain copy makes.
    let plain = tempfile::tempdir().unwrap();
    copy_into_layer(&sources, &to("/app"), &image, plain.path()).unwrap();
    assert_eq!(layer_digest(second.path()), layer_digest(plain.path()));
}

#[test]
fn a_reuse_record_that_disagrees_with_the_snapshot_is_not_trusted() {
    let f = fixture(&[("a", "content")]);
    let image = LayerStack::new(vec![f.image_dir.path().to_path_buf()]);
    let sources = digested(&f, &["a"]);
    let digest = sources[0].content[0].unwrap();
    // The record claims the content, but the file there has another mode.
    let old = tempfile::tempdir().unwrap();
    fs::write(old.path().join("a"), "content").unwrap();
    fs::set_permissions(old.path().join("a"), fs::Permissions::from_mode(0o600)).unwrap();
    let reuse = Reuse {
        snapshot: old.path().to_path_buf(),
        files: [(b"a".to_vec(), digest)].into_iter().collect(),
    };
    let upper = tempfile::tempdir().unwrap();
    copy_into_layer_reusing(&sources, &to("/a"), &image, upper.path(), Some(&reuse)).unwrap();
    let linked = fs::metadata(upper.path().join("a")).unwrap();
    assert_eq!(linked.nlink(), 1, "copied, not linked");
    assert_eq!(linked.mode() & 0o7777, 0o644);
}

#[test]
fn copied_directories_keep_their_source_mtime() {
    let f = fixture(&[("src/sub/x", "x")]);
    let sub = f.context.root().join("src/sub");
    set_time(&sub, 1_000_000_000);
    f.copy(&["src"], to("/app")).unwrap();
    assert_eq!(f.meta("/app/sub").mtime(), 1_000_000_000);
}

fn filetime(path: &Path) -> i64 {
    fs::metadata(path).unwrap().mtime()
}

fn set_time(path: &Path, secs: i64) {
    set_mtime(path, secs).unwrap();
}
