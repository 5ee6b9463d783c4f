//! strata's tarball through skopeo and umoci, and skopeo's `oci-archive:` into strata.

use std::fs;

use super::{env_with_busybox, listing, tool};
use crate::util::{have_tool, skip_unless, TestEnv};

#[test]
fn skopeo_reads_both_views_and_umoci_unpacks_what_export_gives() {
    let Some(env) = env_with_busybox() else {
        return;
    };
    if skip_unless(
        have_tool("skopeo") && have_tool("umoci"),
        "skopeo or umoci missing",
    ) {
        return;
    }
    let dir = env.write_files(
        "app",
        &[(
            "Dockerfile",
            "FROM bb:1\nRUN echo hello > /hello && ln -s hello /link && mkdir -p /d/e && echo f > /d/e/f && rm /bin/ls\n",
        )],
    );
    env.ok(&["build", "-q", "-t", "xchg:1", dir.to_str().unwrap()]);
    env.ok(&["tag", "bb:1", "second:2"]);
    let tar = env.path("x.tar");
    env.ok(&["save", "-o", tar.to_str().unwrap(), "xchg:1", "second:2"]);
    // OCI references are the `ref.name` annotation, which Docker 25+ (and strata) set to the
    // tag; docker-archive references are RepoTags.
    for (transport, reference) in [
        ("oci-archive", "1"),
        ("oci-archive", "2"),
        ("docker-archive", "xchg:1"),
        ("docker-archive", "second:2"),
    ] {
        let (ok, out) = tool(
            "skopeo",
            &[
                "inspect",
                &format!("{transport}:{}:{reference}", tar.display()),
            ],
        );
        assert!(ok, "{transport}:{reference}: {out}");
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(json["Os"], "linux", "{out}");
    }
    let layout = env.path("layout");
    let (ok, out) = tool(
        "skopeo",
        &[
            "copy",
            &format!("oci-archive:{}:1", tar.display()),
            &format!("oci:{}:x", layout.display()),
        ],
    );
    assert!(ok, "{out}");
    let bundle = env.path("bundle");
    let (ok, out) = tool(
        "umoci",
        &[
            "unpack",
            "--image",
            &format!("{}:x", layout.display()),
            bundle.to_str().unwrap(),
        ],
    );
    assert!(ok, "{out}");
    let exported = env.path("export.tar");
    env.ok(&["export", "-o", exported.to_str().unwrap(), "xchg:1"]);
    let unpacked = env.path("exported");
    fs::create_dir(&unpacked).unwrap();
    let (ok, out) = tool(
        "tar",
        &[
            "-xf",
            exported.to_str().unwrap(),
            "-C",
            unpacked.to_str().unwrap(),
        ],
    );
    assert!(ok, "{out}");
    let ours = listing(&unpacked);
    assert!(
        ours.contains("./hello f") && !ours.contains("./bin/ls "),
        "{ours}"
    );
    assert_eq!(listing(&bundle.join("rootfs")), ours);
}

#[test]
fn skopeo_oci_archives_load_in_every_compression() {
    let Some(env) = env_with_busybox() else {
        return;
    };
    if skip_unless(have_tool("skopeo"), "skopeo is missing") {
        return;
    }
    let ours = env.path("ours.tar");
    env.ok(&["save", "-o", ours.to_str().unwrap(), "bb:1"]);
    // skopeo rewrites the config as an OCI one (a new image ID); the layers stay.
    let layers = env.ok(&["inspect", "--format", "{{json .RootFS.Layers}}", "bb:1"]);
    for (flags, label) in [
        (vec![], "gzip"),
        (vec!["--dest-compress-format", "zstd"], "zstd"),
        (vec!["--dest-oci-accept-uncompressed-layers"], "none"),
    ] {
        let oci = env.path(&format!("skopeo-{label}.tar"));
        let mut args = vec!["copy"];
        args.extend(flags);
        let source = format!("docker-archive:{}", ours.display());
        let dest = format!("oci-archive:{}:plain/oci:{label}", oci.display());
        args.extend([source.as_str(), dest.as_str()]);
        let (ok, out) = tool("skopeo", &args);
        assert!(ok, "{label}: {out}");
        let fresh = TestEnv::new();
        assert_eq!(
            fresh.ok(&["load", "-i", oci.to_str().unwrap()]).trim(),
            format!("Loaded image: plain/oci:{label}")
        );
        assert_eq!(
            fresh.ok(&[
                "inspect",
                "--format",
                "{{json .RootFS.Layers}}",
                &format!("plain/oci:{label}")
            ]),
            layers
        );
        let exported = fresh.path("rootfs.tar");
        fresh.ok(&[
            "export",
            "-o",
            exported.to_str().unwrap(),
            &format!("plain/oci:{label}"),
        ]);
        let (_, files) = tool("tar", &["-tf", exported.to_str().unwrap()]);
        assert!(
            files.lines().any(|l| l == "bin/busybox"),
            "{label}: {files}"
        );
    }
}
