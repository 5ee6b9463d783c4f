//! Loading layers the store already has (the same tarball twice, or a tarball of an image
//! built here): nothing is unpacked again, nothing new is stored, and the archive's bytes are
//! still checked — a tampered layer is refused although its DiffID's snapshot exists.

use super::*;
use crate::archive::load;
use crate::archive::load::Written;
use crate::archive::spool::spool;

/// A docker-archive (`manifest.json` over `blobs/sha256/…`) with one image over `layers`,
/// each stored under `names` (their own digests when `None`), its config claiming `diff_ids`.
fn named_archive(
    layers: &[Vec<u8>],
    names: Option<&[Digest]>,
    diff_ids: &[Digest],
    tag: &str,
) -> Vec<u8> {
    let config = config_json(diff_ids, "repeat");
    let own: Vec<Digest> = layers.iter().map(|l| Digest::of(l)).collect();
    let names = names.unwrap_or(&own);
    let path = |digest: &Digest| format!("blobs/sha256/{}", digest.hex());
    let manifest = json!([{
        "Config": path(&Digest::of(&config)),
        "RepoTags": [tag],
        "Layers": names.iter().map(path).collect::<Vec<_>>(),
    }]);
    let mut entries: Vec<RawEntry> = layers
        .iter()
        .zip(names)
        .map(|(layer, name)| file(&path(name), layer.clone()))
        .collect();
    entries.push(file(&path(&Digest::of(&config)), config));
    entries.push(file(
        "manifest.json",
        serde_json::to_vec(&manifest).unwrap(),
    ));
    raw_tar(&entries)
}

/// docker's legacy layout (`<id>/layer.tar`, `<config hex>.json`): no layer is named by its
/// digest, so the spool cannot tell a layer it has before hashing it.
fn legacy_archive(layers: &[Vec<u8>], diff_ids: &[Digest], tag: &str) -> Vec<u8> {
    let config = config_json(diff_ids, "repeat");
    let ids: Vec<String> = (0..layers.len())
        .map(|n| format!("{n}").repeat(64))
        .collect();
    let manifest = json!([{
        "Config": format!("{}.json", Digest::of(&config).hex()),
        "RepoTags": [tag],
        "Layers": ids.iter().map(|id| format!("{id}/layer.tar")).collect::<Vec<_>>(),
    }]);
    let mut entries: Vec<RawEntry> = ids
        .iter()
        .zip(layers)
        .map(|(id, layer)| file(&format!("{id}/layer.tar"), layer.clone()))
        .collect();
    entries.push(file(&format!("{}.json", Digest::of(&config).hex()), config));
    entries.push(file(
        "manifest.json",
        serde_json::to_vec(&manifest).unwrap(),
    ));
    raw_tar(&entries)
}

/// Spools `archive` into `store` as a load would and undoes what that wrote; returns how many
/// layers were unpacked and which were recognised (content digest → DiffID).
fn spool_only(store: &Store, archive: &[u8]) -> (usize, Vec<(Digest, Digest)>) {
    let mut written = Written::default();
    let spooled = spool(store, archive, None, &mut written).unwrap();
    let unpacked = spooled.unpacked.len();
    let known = spooled.known.into_iter().collect();
    drop(spooled.unpacked);
    written.undo(store);
    (unpacked, known)
}

#[test]
fn a_repeat_load_unpacks_nothing_and_stores_nothing_new_in_every_format() {
    let source = store();
    let base = imported(
        &source.store,
        "base:1",
        &[("bin/", b""), ("bin/tool", b"#!/bin/sh\necho tool\n")],
    );
    let app = with_layer(&source.store, &base, "app:1", |dir| {
        std::fs::write(dir.join("app"), "main\n".repeat(1000)).unwrap();
    });
    let strata_tar = saved(&source.store, &[("app:1", &app)], None);
    let gzip_tar = saved(&source.store, &[("app:1", &app)], Some(Compression::Gzip));
    let layers: Vec<Vec<u8>> = app
        .diff_ids
        .iter()
        .map(|d| {
            let mut tar = Vec::new();
            crate::layer::write_layer(
                &source.store.snapshots().path(d),
                &Default::default(),
                &mut tar,
            )
            .unwrap();
            tar
        })
        .collect();
    let legacy_tar = legacy_archive(&layers, &app.diff_ids, "app:1");

    for (format, archive) in [
        ("strata save", &strata_tar),
        ("strata save --compress gzip", &gzip_tar),
        ("docker legacy", &legacy_tar),
    ] {
        let target = store();
        let first = load(&target.store, archive.as_slice()).unwrap();
        let (unpacked, known) = spool_only(&target.store, archive);
        assert_eq!(unpacked, 0, "{format}: nothing is unpacked again");
        let recognised: Vec<Digest> = known.iter().map(|(_, diff_id)| *diff_id).collect();
        let mut expected = app.diff_ids.clone();
        expected.sort();
        let mut recognised = recognised;
        recognised.sort();
        assert_eq!(recognised, expected, "{format}: every layer is recognised");

        let before = inventory(&target.store);
        let again = load(&target.store, archive.as_slice()).unwrap();
        assert_eq!(again, first, "{format}");
        assert_eq!(inventory(&target.store), before, "{format}: nothing new");
    }

    // The image's own store: a tarball of what was built here unpacks nothing either.
    let (unpacked, known) = spool_only(&source.store, &strata_tar);
    assert_eq!((unpacked, known.len()), (0, 2));
}

#[test]
fn a_repeat_load_still_refuses_a_tampered_layer_and_stores_nothing() {
    let s = store();
    let good = raw_tar(&[file("etc/motd", "good")]);
    let evil = raw_tar(&[file("etc/motd", "evil")]);
    assert_eq!(good.len(), evil.len());
    let other = raw_tar(&[file("other", "another layer the store has")]);
    let (d_good, d_evil, d_other) = (Digest::of(&good), Digest::of(&evil), Digest::of(&other));
    load(
        &s.store,
        named_archive(std::slice::from_ref(&good), None, &[d_good], "app:1").as_slice(),
    )
    .unwrap();
    load(
        &s.store,
        named_archive(std::slice::from_ref(&other), None, &[d_other], "other:1").as_slice(),
    )
    .unwrap();
    let mut gzip = Vec::new();
    crate::layer::compress(Compression::Gzip, &mut good.as_slice(), &mut gzip).unwrap();
    load(
        &s.store,
        named_archive(std::slice::from_ref(&gzip), None, &[d_good], "gz:1").as_slice(),
    )
    .unwrap();
    let mut evil_gzip = gzip.clone();
    let last = evil_gzip.len() - 1;
    evil_gzip[last] ^= 1;

    let before = inventory(&s.store);
    let cases: Vec<(&str, Vec<u8>, String)> = vec![
        (
            // Other bytes under the known layer's name.
            "bytes under a known name",
            named_archive(
                std::slice::from_ref(&evil),
                Some(&[d_good]),
                &[d_good],
                "app:1",
            ),
            "does not match its digest".into(),
        ),
        (
            "a compressed blob under a known name",
            named_archive(
                std::slice::from_ref(&evil_gzip),
                Some(&[Digest::of(&gzip)]),
                &[d_good],
                "gz:1",
            ),
            "does not match its digest".into(),
        ),
        (
            // Named honestly, but the config claims the layer the store has.
            "a new layer claiming a known DiffID",
            named_archive(std::slice::from_ref(&evil), None, &[d_good], "app:1"),
            format!("has DiffID {d_evil} but the config says {d_good}"),
        ),
        (
            // A layer the store has, in place of the one the config names.
            "another known layer",
            named_archive(std::slice::from_ref(&other), None, &[d_good], "app:1"),
            format!("has DiffID {d_other} but the config says {d_good}"),
        ),
        (
            // Unnamed, and as long as the known layer: hashed first, then found to be new.
            "legacy layer.tar",
            legacy_archive(std::slice::from_ref(&evil), &[d_good], "app:1"),
            format!("has DiffID {d_evil} but the config says {d_good}"),
        ),
    ];
    for (name, archive, reason) in cases {
        let err = load(&s.store, archive.as_slice()).unwrap_err().to_string();
        assert!(err.contains(&reason), "{name}: {err}");
        assert_eq!(
            inventory(&s.store),
            before,
            "{name}: the store is as it was"
        );
    }
    assert!(!s.store.snapshots().exists(&d_evil));
}

/// Writes `archive` to a file after some leading bytes, positioned where it starts.
fn archive_file(dir: &Path, archive: &[u8]) -> std::fs::File {
    use std::io::{Seek, SeekFrom, Write};
    let mut file = std::fs::File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(dir.join(format!("archive-{}.tar", Digest::of(archive).hex())))
        .unwrap();
    file.write_all(b"not part of the archive").unwrap();
    file.write_all(archive).unwrap();
    file.seek(SeekFrom::Start(23)).unwrap();
    file
}

#[test]
fn from_a_file_a_layer_that_might_be_known_is_hashed_first_and_read_again_if_new() {
    let s = store();
    let good = raw_tar(&[file("etc/motd", "good")]);
    let new = raw_tar(&[file("etc/motd", "news")]);
    assert_eq!(good.len(), new.len());
    let (d_good, d_new) = (Digest::of(&good), Digest::of(&new));
    let first = legacy_archive(std::slice::from_ref(&good), &[d_good], "app:1");
    load::load_file(&s.store, &archive_file(s.dir.path(), &first)).unwrap();

    // Loaded again from a file: hashed in place, nothing unpacked, nothing new.
    let before = inventory(&s.store);
    let again = archive_file(s.dir.path(), &legacy_archive(&[good], &[d_good], "app:2"));
    let reread = crate::archive::checks::Reread::of(&again);
    let mut written = Written::default();
    let spooled = spool(&s.store, &again, reread, &mut written).unwrap();
    assert!(spooled.unpacked.is_empty());
    assert_eq!(spooled.known.values().collect::<Vec<_>>(), [&d_good]);
    drop(spooled);
    written.undo(&s.store);
    assert_eq!(inventory(&s.store), before);

    // As long as the known layer but new: read again from the file and unpacked.
    let newer = legacy_archive(std::slice::from_ref(&new), &[d_new], "app:3");
    load::load_file(&s.store, &archive_file(s.dir.path(), &newer)).unwrap();
    let motd = s.store.snapshots().path(&d_new).join("etc/motd");
    assert_eq!(std::fs::read(motd).unwrap(), b"news");
    assert_eq!(
        image::find(&s.store, "app:3").unwrap().unwrap().diff_ids,
        [d_new]
    );

    // And one that claims the known layer's DiffID is refused, the store as it was.
    let before = inventory(&s.store);
    let evil = raw_tar(&[file("etc/motd", "evil")]);
    let claimed = legacy_archive(std::slice::from_ref(&evil), &[d_good], "app:1");
    let err = load::load_file(&s.store, &archive_file(s.dir.path(), &claimed)).unwrap_err();
    let reason = format!("but the config says {d_good}");
    assert!(err.to_string().contains(&reason), "{err}");
    assert_eq!(inventory(&s.store), before);
}
