//! What a run leaves in its upper dir — exactly what the command changed — and the layer tar
//! made from it. Mount points never leak, long chains mount, identical runs give identical
//! DiffIDs.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use super::*;
use strata_oci::{extract_layer, write_layer, LayerOptions};
use strata_oci::{is_opaque, is_whiteout, LayerStack};

const EPOCH: LayerOptions = LayerOptions {
    source_date_epoch: Some(1_700_000_000),
};

/// A lower layer made of `files` (path, content); a content of `None` makes a directory.
fn layer(f: &Fixture, files: &[(&str, Option<&str>)]) -> PathBuf {
    let dir = f.fresh_dir("layer");
    for (path, content) in files {
        let host = dir.join(path);
        match content {
            Some(text) => {
                fs::create_dir_all(host.parent().unwrap()).unwrap();
                fs::write(&host, text).unwrap();
            }
            None => fs::create_dir_all(&host).unwrap(),
        }
    }
    dir
}

fn tar_entries(bytes: &[u8]) -> Vec<(String, tar::EntryType, u64, u64, u32, String)> {
    tar::Archive::new(bytes)
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            let link = e
                .link_name()
                .unwrap()
                .map(|l| l.display().to_string())
                .unwrap_or_default();
            (
                e.path().unwrap().display().to_string(),
                h.entry_type(),
                h.uid().unwrap(),
                h.gid().unwrap(),
                h.mode().unwrap(),
                link,
            )
        })
        .collect()
}

#[test]
fn changes_land_in_the_upper_dir_and_become_oci_layer_entries() {
    let Some(f) = fixture() else { return };
    let doomed = layer(&f, &[("doomed/a/b", Some("b")), ("doomed/c", Some("c"))]);
    let run = f
        .sh(
            "echo new > /new && chown 1000:50 /new && chmod 640 /new && rm /gone \
             && rm -rf /doomed && rm -rf /old/sub && mkdir /old/sub && echo f > /old/sub/fresh \
             && echo changed > /old/file && mkdir /tmp/t && ln /new /tmp/t/hard \
             && ln -s ../new /tmp/t/soft",
        )
        .over(&[doomed])
        .run();
    run.result.unwrap();
    let upper = &run.upper;
    assert_eq!(fs::read_to_string(upper.join("new")).unwrap(), "new\n");
    assert_eq!(
        fs::read_to_string(upper.join("old/file")).unwrap(),
        "changed\n"
    );
    assert!(is_whiteout(
        &fs::symlink_metadata(upper.join("gone")).unwrap()
    ));
    assert!(
        is_whiteout(&fs::symlink_metadata(upper.join("doomed")).unwrap()),
        "a deleted directory is one whiteout"
    );
    assert!(
        is_opaque(&upper.join("old/sub")),
        "a re-created directory is opaque"
    );
    assert!(
        !is_opaque(&upper.join("old")),
        "its parent is merely copied up"
    );
    let new = fs::metadata(upper.join("new")).unwrap();
    assert_eq!(
        (new.uid(), new.gid(), new.permissions().mode() & 0o7777),
        (1000, 50, 0o640)
    );
    let mut bytes = Vec::new();
    let summary = write_layer(upper, &EPOCH, &mut bytes).unwrap();
    use tar::EntryType as T;
    let expected: Vec<(&str, T, u64, u64, u32, &str)> = vec![
        (".wh.doomed", T::Regular, 0, 0, 0, ""),
        (".wh.gone", T::Regular, 0, 0, 0, ""),
        ("new", T::Regular, 1000, 50, 0o640, ""),
        ("old/", T::Directory, 0, 0, 0o755, ""),
        ("old/file", T::Regular, 0, 0, 0o644, ""),
        ("old/sub/", T::Directory, 0, 0, 0o755, ""),
        ("old/sub/.wh..wh..opq", T::Regular, 0, 0, 0, ""),
        ("old/sub/fresh", T::Regular, 0, 0, 0o644, ""),
        ("tmp/", T::Directory, 0, 0, 0o755, ""),
        ("tmp/t/", T::Directory, 0, 0, 0o755, ""),
        ("tmp/t/hard", T::Link, 1000, 50, 0o640, "new"),
        ("tmp/t/soft", T::Symlink, 0, 0, 0o777, "../new"),
    ];
    let got = tar_entries(&bytes);
    let got: Vec<(&str, T, u64, u64, u32, &str)> = got
        .iter()
        .map(|(p, t, u, g, m, l)| (p.as_str(), *t, *u, *g, *m, l.as_str()))
        .collect();
    assert_eq!(got, expected);
    // Round trip: the extracted snapshot is the same tree (whiteouts and opaque dirs included).
    let back = f.fresh_dir("extracted");
    let report = extract_layer(&bytes[..], &back).unwrap();
    assert_eq!(report.diff_id, summary.diff_id);
    assert!(is_whiteout(
        &fs::symlink_metadata(back.join("doomed")).unwrap()
    ));
    assert!(is_opaque(&back.join("old/sub")));
    let mut again = Vec::new();
    write_layer(&back, &EPOCH, &mut again).unwrap();
    assert_eq!(again, bytes);
}

#[test]
fn mount_points_do_not_leak_into_the_layer() {
    let Some(f) = fixture() else { return };
    // The base has no /proc, /dev, /sys, /etc/hosts, /etc/resolv.conf, /etc/hostname.
    let run = f.run(
        "cat /etc/hostname /etc/hosts /etc/resolv.conf > /dev/null && ls /proc/self /sys > /dev/null",
    );
    run.result.unwrap();
    assert_eq!(names_in(&run.upper), Vec::<String>::new());
    // A command that edits /etc copies /etc up with the image's metadata, and the mount stubs
    // stay out.
    let etc = f.base.join("etc");
    fs::set_permissions(&etc, fs::Permissions::from_mode(0o751)).unwrap();
    let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    fs::File::open(&etc).unwrap().set_modified(old).unwrap();
    let run = f.run("echo extra >> /etc/passwd && echo more > /etc/hosts");
    run.result.unwrap();
    assert_eq!(names_in(&run.upper), ["etc"]);
    assert_eq!(names_in(&run.upper.join("etc")), ["passwd"]);
    let (image, layer) = (
        fs::metadata(&etc).unwrap(),
        fs::metadata(run.upper.join("etc")).unwrap(),
    );
    assert_eq!(layer.mode(), image.mode());
    assert_eq!(
        (layer.mtime(), layer.mtime_nsec()),
        (image.mtime(), image.mtime_nsec()),
        "the copied-up /etc keeps the image's mtime"
    );
}

#[test]
fn mount_points_that_are_symlinks_in_the_image_are_shadowed() {
    let Some(f) = fixture() else { return };
    let top = layer(&f, &[("etc", None), ("hosts.real", Some("real hosts\n"))]);
    std::os::unix::fs::symlink(
        "/run/systemd/resolve/stub-resolv.conf",
        top.join("etc/resolv.conf"),
    )
    .unwrap();
    std::os::unix::fs::symlink("../hosts.real", top.join("etc/hosts")).unwrap();
    let run = f
        .sh("grep -c buildkitsandbox /etc/hosts; cat /hosts.real; test -f /etc/resolv.conf && echo file")
        .over(std::slice::from_ref(&top))
        .run();
    run.result.unwrap();
    assert_eq!(run.stdout, "1\nreal hosts\nfile\n");
    assert_eq!(names_in(&run.upper), Vec::<String>::new());

    // `/etc` itself a symlink: the files go where it points, inside the image.
    let linked = layer(
        &f,
        &[("private/etc/passwd", Some("root:x:0:0::/root:/bin/sh\n"))],
    );
    std::os::unix::fs::symlink("private/etc", linked.join("etc")).unwrap();
    let run = f
        .sh("cat /etc/hostname; test -L /etc && echo link; echo x > /etc/new")
        .over(&[linked])
        .run();
    run.result.unwrap();
    assert_eq!(run.stdout, "buildkitsandbox\nlink\n");
    assert_eq!(names_in(&run.upper.join("private/etc")), ["new"]);
    assert_eq!(names_in(&run.upper), ["private"]);
}

#[test]
fn an_image_with_every_mount_point_needs_no_init_layer() {
    let Some(f) = fixture() else { return };
    let full = layer(
        &f,
        &[
            ("proc", None),
            ("dev", None),
            ("sys", None),
            ("etc/hosts", Some("")),
            ("etc/resolv.conf", Some("")),
            ("etc/hostname", Some("")),
        ],
    );
    let image = LayerStack::new(vec![full.clone(), f.base.clone()]);
    let mounts = stubs::init_layer(&image, &f.dir.path().join("init-none"), &[]).unwrap();
    assert!(mounts.init.is_none());
    assert_eq!(mounts.etc, "etc");
    let run = f.sh("cat /etc/hostname").over(&[full]).run();
    run.result.unwrap();
    assert_eq!(run.stdout, "buildkitsandbox\n");
    assert_eq!(names_in(&run.upper), Vec::<String>::new());
}

#[test]
fn identical_runs_give_identical_layers() {
    let Some(f) = fixture() else { return };
    let mut diff_ids = Vec::new();
    for _ in 0..2 {
        let run = f.run("echo same > /file && mkdir -p /a/b && echo x > /a/b/c && rm /gone");
        run.result.unwrap();
        let mut sink = std::io::sink();
        diff_ids.push(write_layer(&run.upper, &EPOCH, &mut sink).unwrap().diff_id);
    }
    assert_eq!(diff_ids[0], diff_ids[1]);
    assert_eq!(leaked_mounts(&f), Vec::<String>::new());
}

fn long_chain(f: &Fixture, count: usize) -> Vec<PathBuf> {
    (0..count)
        .map(|i| {
            let layer = f
                .dir
                .path()
                .join(format!("layer-with-a-long-name-to-fill-the-options-{i:04}"));
            fs::create_dir(&layer).unwrap();
            fs::write(layer.join(format!("f{i}")), "x").unwrap();
            layer
        })
        .collect()
}

#[test]
fn long_layer_chains_mount_with_lowerdir_plus_and_with_the_legacy_string() {
    let Some(f) = fixture() else { return };
    let chain = long_chain(&f, 220);
    let run = f.sh("cat /f0 /f219 && echo new > /f7").over(&chain).run();
    run.result.unwrap();
    assert_eq!(run.stdout, "xx");
    assert_eq!(names_in(&run.upper), ["f7"]);
    // Kernels before 6.8: 220 long paths do not fit in a page, so short relative names do.
    let run = f
        .sh("cat /f0 /f219 && echo new > /f9")
        .over(&chain)
        .legacy_mount()
        .run();
    run.result.unwrap();
    assert_eq!(run.stdout, "xx");
    assert_eq!(names_in(&run.upper), ["f9"]);
    let run = f.sh("cat /old/file").legacy_mount().run();
    run.result.unwrap();
    assert_eq!(run.stdout, "old");
    assert_eq!(leaked_mounts(&f), Vec::<String>::new());
}

#[test]
fn more_layers_than_overlay_stacks_are_refused_clearly() {
    let Some(f) = fixture() else { return };
    let chain: Vec<PathBuf> = (0..MAX_LOWER_DIRS)
        .map(|i| {
            let dir = f.dir.path().join(format!("l{i}"));
            fs::create_dir(&dir).unwrap();
            dir
        })
        .collect();
    // 500 layers plus the base (plus the init layer): one too many.
    let run = f.run("true");
    run.result.unwrap();
    let run = f.sh("true").over(&chain).run();
    let err = run.result.unwrap_err().to_string();
    assert!(err.contains("at most 500 lower dirs"), "{err}");
}
