//! One RUN step end to end over a 3-layer base: sandbox setup (namespaces, overlay, /proc,
//! /dev, /sys), the command, the diff of the upper dir and the commit into the store.
//! Goal: ≤ 25 ms median for `true` (docker build spends ~300 ms per RUN step here).
//! Needs root and Debian's busybox-static; skipped otherwise.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use strata_builder::sandbox::{
    sandbox_available, Executor, NativeSandbox, Network, RunRequest, Security,
};
use strata_cache::{OpenOptions, Store};
use strata_oci::commit_dir;
use strata_oci::LayerOptions;

fn base_layers(store: &Store) -> Vec<std::path::PathBuf> {
    let options = LayerOptions::default();
    let busybox = store.snapshots().scratch("base").unwrap();
    for dir in ["bin", "etc", "tmp", "proc", "dev", "sys"] {
        fs::create_dir_all(busybox.path().join(dir)).unwrap();
    }
    fs::copy("/bin/busybox", busybox.path().join("bin/busybox")).unwrap();
    for applet in ["sh", "true", "echo"] {
        symlink("busybox", busybox.path().join("bin").join(applet)).unwrap();
    }
    for file in ["passwd", "group", "hosts", "resolv.conf", "hostname"] {
        fs::write(
            busybox.path().join("etc").join(file),
            "root:x:0:0:root:/root:/bin/sh\n",
        )
        .unwrap();
    }
    let mut layers = vec![commit_dir(store, busybox, &options).unwrap().unwrap()];
    for n in 0..2 {
        let layer = store.snapshots().scratch("layer").unwrap();
        fs::create_dir_all(layer.path().join(format!("app{n}"))).unwrap();
        fs::write(
            layer.path().join(format!("app{n}/file")),
            format!("layer {n}"),
        )
        .unwrap();
        layers.push(commit_dir(store, layer, &options).unwrap().unwrap());
    }
    layers.reverse();
    layers.iter().map(|d| store.snapshots().path(d)).collect()
}

fn run_step(c: &mut Criterion) {
    if !sandbox_available() || !Path::new("/bin/busybox").is_file() {
        eprintln!("skipping: needs root, overlayfs and /bin/busybox");
        return;
    }
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-tmp");
    fs::create_dir_all(&base).unwrap();
    let dir = tempfile::tempdir_in(base).unwrap();
    let store = Store::open(dir.path(), &OpenOptions::default()).unwrap();
    let lowers = base_layers(&store);
    let sandbox = NativeSandbox::new(dir.path().join("tmp"));
    let env = vec![("PATH".to_string(), "/bin".to_string())];
    let options = LayerOptions {
        source_date_epoch: Some(1_700_000_000),
    };
    let mut group = c.benchmark_group("run-step");
    for (name, script) in [("true", "true"), ("write-a-file", "echo built > /artifact")] {
        let argv = vec!["/bin/sh".to_string(), "-c".to_string(), script.to_string()];
        group.bench_function(name, |b| {
            b.iter(|| {
                let upper = store.snapshots().scratch("upper").unwrap();
                let work = store.snapshots().scratch("work").unwrap();
                let request = RunRequest {
                    argv: &argv,
                    env: &env,
                    cwd: "/",
                    user: "",
                    network: Network::Host,
                    security: Security::Sandbox,
                    lowers: &lowers,
                    upper: upper.path(),
                    work: work.path(),
                    mounts: &[],
                };
                sandbox.run(&request, &|_, _| {}).unwrap();
                commit_dir(&store, upper, &options).unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, run_step);
criterion_main!(benches);
