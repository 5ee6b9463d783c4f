//! Extra mounts (`RUN --mount`): where they appear, what writes do, and that neither they nor
//! their mount points reach the layer.

use std::fs;

use super::*;

/// Every path in the upper dir (the layer), relative.
fn layer_paths(upper: &Path) -> Vec<String> {
    walkdir(upper)
        .into_iter()
        .map(|p| p.strip_prefix(upper).unwrap().display().to_string())
        .collect()
}

fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() && !path.is_symlink() {
            out.extend(walkdir(&path));
        }
        out.push(path);
    }
    out
}

#[test]
fn mount_targets_resolve_in_the_image_and_leave_no_stub_in_the_layer() {
    let Some(f) = fixture() else { return };
    // `/link` → `/old/sub` in the image: a mount at `/link/m` lands at `/old/sub/m` inside,
    // never at the host's `/old/sub`.
    let over = f.fresh_dir("layer");
    symlink("/old/sub", over.join("link")).unwrap();
    let host = f.fresh_dir("host");
    fs::write(host.join("in-host"), "h").unwrap();
    let run = f
        .sh(
            "test -e /old/sub/m/in-host && echo w > /old/sub/m/written && test -e /old/sub/deep \
             && ! touch /ro/x 2>/dev/null && echo t > /tmpfs/t/file",
        )
        .over(&[over])
        .mount("/link/m", MountFrom::Host(host.clone()), false)
        .mount("/ro", MountFrom::Host(f.fresh_dir("ro")), true)
        .mount(
            "/tmpfs/t",
            MountFrom::Tmpfs {
                size: Some(1 << 20),
            },
            false,
        )
        .run();
    run.result.unwrap();
    assert_eq!(fs::read_to_string(host.join("written")).unwrap(), "w\n");
    assert!(!Path::new("/old/sub/m").exists());
    assert_eq!(layer_paths(&run.upper), Vec::<String>::new());
}

#[test]
fn a_layers_mount_discards_writes_and_shows_only_its_path() {
    let Some(f) = fixture() else { return };
    let stage = f.fresh_dir("stage");
    fs::create_dir_all(stage.join("out")).unwrap();
    fs::write(stage.join("out/artifact"), "built").unwrap();
    let source = MountFrom::Layers {
        lowers: vec![stage.clone()],
        path: "/out/artifact".into(),
    };
    let run = f
        .sh("test \"$(cat /usr/app)\" = built && echo changed > /usr/app && cp /usr/app /copied")
        .mount("/usr/app", source, false)
        .run();
    run.result.unwrap();
    assert_eq!(
        fs::read_to_string(stage.join("out/artifact")).unwrap(),
        "built"
    );
    assert_eq!(layer_paths(&run.upper), vec!["copied".to_string()]);

    let missing = MountFrom::Layers {
        lowers: vec![stage],
        path: "/nope".into(),
    };
    let run = f.sh("true").mount("/x", missing, true).run();
    let err = run.result.unwrap_err().to_string();
    assert!(err.contains("/nope") && err.contains("not found"), "{err}");
}
