//! Hostile registry inputs: a registry that answers a pull with a manifest of 1 GiB (claimed,
//! or really streamed), an image or build-cache config of 1 GiB, a blob longer or shorter than
//! its descriptor says, an error answer without end, or nothing at all (and, the other side
//! of the timeouts, a slow but steady one that must still get through).
//! The registry is a few lines of HTTP/1.1 on 127.0.0.1 (std::net) that makes its answers up
//! as it sends them, so no test needs the memory an attack would have taken; it counts what it
//! managed to send before strata hung up.
//!
//! The reference for the limits is docker's distribution client (docker 20.10): manifests over
//! 4 MiB (`maxManifestBodySize`) are refused, and blobs are verified against their descriptor.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::util::*;

/// The most a hostile answer sends before giving up on its own: enough to show a client that
/// reads everything, small enough that such a client (the code before the limits) does not
/// need gigabytes to fail the test.
const SEND_CAP: u64 = 64 << 20;

/// What strata may have read past a limit before hanging up: kernel socket buffers on
/// loopback, not the body.
const SLACK: u64 = 24 << 20;

/// How a path is answered.
#[derive(Clone)]
enum Answer {
    /// 200 with these bytes (and their length).
    Bytes(Vec<u8>),
    /// 200, `prefix` then `a`s without end (until [`SEND_CAP`] or strata hangs up); with a
    /// `Content-Length` of `claimed`, or chunked when `None`.
    Endless {
        prefix: Vec<u8>,
        claimed: Option<u64>,
    },
    /// [`Answer::Endless`] as a `500 Internal Server Error`.
    EndlessError { claimed: Option<u64> },
    /// 200, chunked, with exactly these bytes (no length announced up front).
    Chunked(Vec<u8>),
    /// 200, chunked, these bytes in pieces of `piece` bytes with `pause` before each.
    Slow {
        body: Vec<u8>,
        piece: usize,
        pause: Duration,
    },
    /// Accept the request, never answer.
    Hang,
    /// 404.
    NotFound,
}

/// A registry that answers each request as `route(method, path)` says.
struct Hostile {
    /// `127.0.0.1:PORT`.
    addr: String,
    /// Body bytes sent so far, over all answers.
    sent: Arc<AtomicU64>,
    /// The most body bytes sent in one answer.
    most: Arc<AtomicU64>,
}

impl Hostile {
    fn start(route: impl Fn(&str, &str) -> Answer + Send + Sync + 'static) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let sent = Arc::new(AtomicU64::new(0));
        let most = Arc::new(AtomicU64::new(0));
        let route = Arc::new(route);
        let (counter, record) = (sent.clone(), most.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let route = route.clone();
                let (counter, record) = (counter.clone(), record.clone());
                std::thread::spawn(move || serve(stream, &*route, &counter, &record));
            }
        });
        Hostile { addr, sent, most }
    }

    fn sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }

    fn most_in_one_answer(&self) -> u64 {
        self.most.load(Ordering::SeqCst)
    }
}

/// One connection: one request, one answer, then close (`Connection: close`).
fn serve(
    stream: TcpStream,
    route: &dyn Fn(&str, &str) -> Answer,
    sent: &AtomicU64,
    most: &AtomicU64,
) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(20)));
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => {}
        }
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut out = stream;
    let head = |status: &str, length: Option<u64>| {
        let length = match length {
            Some(n) => format!("Content-Length: {n}\r\n"),
            None => "Transfer-Encoding: chunked\r\n".to_string(),
        };
        format!("HTTP/1.1 {status}\r\nContent-Type: application/octet-stream\r\n{length}Connection: close\r\n\r\n")
    };
    let head_only = method == "HEAD";
    match route(&method, &path) {
        Answer::Bytes(body) => {
            let _ = out.write_all(head("200 OK", Some(body.len() as u64)).as_bytes());
            if !head_only {
                let _ = out.write_all(&body);
            }
        }
        Answer::Chunked(body) => {
            let _ = out.write_all(head("200 OK", None).as_bytes());
            if !head_only {
                for chunk in body.chunks(1000) {
                    let _ = write!(out, "{:x}\r\n", chunk.len());
                    let _ = out.write_all(chunk);
                    let _ = out.write_all(b"\r\n");
                }
                let _ = out.write_all(b"0\r\n\r\n");
            }
        }
        answer @ (Answer::Endless { .. } | Answer::EndlessError { .. }) => {
            let (status, prefix, claimed) = match answer {
                Answer::Endless { prefix, claimed } => ("200 OK", prefix, claimed),
                Answer::EndlessError { claimed } => {
                    ("500 Internal Server Error", Vec::new(), claimed)
                }
                _ => unreachable!(),
            };
            let _ = out.write_all(head(status, claimed).as_bytes());
            if head_only {
                return;
            }
            let filler = vec![b'a'; 64 << 10];
            let mut this_answer = 0u64;
            let mut next: &[u8] = if prefix.is_empty() { &filler } else { &prefix };
            while this_answer < SEND_CAP {
                let written = if claimed.is_some() {
                    out.write_all(next)
                } else {
                    write!(out, "{:x}\r\n", next.len())
                        .and_then(|()| out.write_all(next))
                        .and_then(|()| out.write_all(b"\r\n"))
                };
                if written.is_err() {
                    break;
                }
                this_answer += next.len() as u64;
                sent.fetch_add(next.len() as u64, Ordering::SeqCst);
                next = &filler;
            }
            most.fetch_max(this_answer, Ordering::SeqCst);
        }
        Answer::Slow { body, piece, pause } => {
            let _ = out.write_all(head("200 OK", None).as_bytes());
            for chunk in body.chunks(piece) {
                std::thread::sleep(pause);
                let _ = write!(out, "{:x}\r\n", chunk.len());
                let _ = out.write_all(chunk);
                let _ = out.write_all(b"\r\n");
                let _ = out.flush();
            }
            let _ = out.write_all(b"0\r\n\r\n");
        }
        Answer::Hang => {
            // Hold the connection open, silent, longer than any test waits.
            std::thread::sleep(Duration::from_secs(600));
        }
        Answer::NotFound => {
            let body = br#"{"errors":[{"code":"NOT_FOUND","message":"not here"}]}"#;
            let _ = out.write_all(head("404 Not Found", Some(body.len() as u64)).as_bytes());
            let _ = out.write_all(body);
        }
    }
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// An image the hostile registry serves: its manifest, and its config and layer by digest.
struct Image {
    manifest: Vec<u8>,
    config: Vec<u8>,
    config_digest: String,
    layer_digest: String,
}

/// A one-layer image whose layer (an uncompressed tar holding `/hello`) is `layer` and whose
/// layer descriptor says `layer_size` bytes and digest `layer_digest` (the real ones unless
/// the test lies).
fn image(layer: &[u8], layer_size: u64, layer_digest: &str) -> Image {
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [sha256(layer)]},
    }))
    .unwrap();
    let config_digest = sha256(&config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": layer_digest,
            "size": layer_size,
        }],
    }))
    .unwrap();
    Image {
        manifest,
        config,
        config_digest,
        layer_digest: layer_digest.to_string(),
    }
}

/// A small tar holding one file.
fn layer_tar() -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let data = b"hello\n";
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    builder
        .append_data(&mut header, "hello", &data[..])
        .unwrap();
    builder.into_inner().unwrap()
}

/// Serves `image` at `app:1`, answering its layer blob with `layer` instead.
fn serve_image(image: Image, layer: Answer) -> Hostile {
    Hostile::start(move |_, path| {
        if path == "/v2/" {
            Answer::Bytes(b"{}".to_vec())
        } else if path.ends_with("/manifests/1") {
            Answer::Bytes(image.manifest.clone())
        } else if path.ends_with(&format!("/blobs/{}", image.config_digest)) {
            Answer::Bytes(image.config.clone())
        } else if path.ends_with(&format!("/blobs/{}", image.layer_digest)) {
            layer.clone()
        } else {
            Answer::NotFound
        }
    })
}

/// Runs strata with extra environment, killed if it outlives `limit`; the output and how
/// long it ran.
fn run_within(
    env: &TestEnv,
    args: &[&str],
    vars: &[(&str, &str)],
    limit: Duration,
) -> (Output, Duration) {
    let started = Instant::now();
    let mut command: Command = env.strata(args);
    command
        .env_remove("STRATA_REGISTRY_TIMEOUT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in vars {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("running strata");
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "strata {args:?} still ran after {limit:?}; stderr:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (child.wait_with_output().unwrap(), started.elapsed())
}

/// Runs a pull that must fail within a minute; its stderr.
fn failed_pull(env: &TestEnv, reference: &str) -> String {
    let (output, _) = run_within(env, &["pull", reference], &[], Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "the pull succeeded:\n{stderr}");
    stderr
}

/// Files (not directories) under a directory, recursively.
fn files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                found.extend(files_under(&path));
            } else {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

/// The store holds no image, blob or snapshot after a failed pull.
fn assert_nothing_stored(env: &TestEnv) {
    assert_eq!(env.ok(&["images", "-q"]).trim(), "");
    let root = env.root();
    assert_eq!(files_under(&root.join("blobs")), Vec::<String>::new());
    assert_eq!(files_under(&root.join("snapshots")), Vec::<String>::new());
}

fn manifest_prefix() -> Vec<u8> {
    br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","annotations":{"x":""#.to_vec()
}

#[test]
fn a_manifest_announced_as_1_gib_is_refused_without_reading_it() {
    let registry = Hostile::start(|_, path| {
        if path == "/v2/" {
            Answer::Bytes(b"{}".to_vec())
        } else {
            Answer::Endless {
                prefix: manifest_prefix(),
                claimed: Some(1 << 30),
            }
        }
    });
    let env = TestEnv::new();
    let reference = format!("{}/big:1", registry.addr);
    let stderr = failed_pull(&env, &reference);
    assert!(stderr.contains(&format!("pulling {reference}")), "{stderr}");
    assert!(
        stderr.contains(&format!("registry {}", registry.addr))
            && stderr.contains("announced 1073741824 bytes")
            && stderr.contains("over the 4 MiB limit for manifests"),
        "{stderr}"
    );
    assert!(
        registry.sent() < SLACK,
        "strata read {} bytes of a 1 GiB manifest",
        registry.sent()
    );
    assert_nothing_stored(&env);
}

#[test]
fn a_manifest_streamed_past_4_mib_is_cut_off() {
    // No length announced: the body itself has to be cut off at the limit.
    let registry = Hostile::start(|_, path| {
        if path == "/v2/" {
            Answer::Bytes(b"{}".to_vec())
        } else {
            Answer::Endless {
                prefix: manifest_prefix(),
                claimed: None,
            }
        }
    });
    let env = TestEnv::new();
    let reference = format!("{}/big:1", registry.addr);
    let stderr = failed_pull(&env, &reference);
    assert!(
        stderr.contains(&format!("manifest {reference}"))
            && stderr.contains("sent more than 4194304 bytes, over the 4 MiB limit for manifests"),
        "{stderr}"
    );
    assert!(!stderr.contains("retrying"), "{stderr}");
    assert!(
        registry.sent() < 4 * 1024 * 1024 + SLACK,
        "strata read {} bytes of an endless manifest",
        registry.sent()
    );
    assert_nothing_stored(&env);
}

#[test]
fn an_image_config_over_4_mib_is_refused_before_downloading_it() {
    let layer = layer_tar();
    let mut image = image(&layer, layer.len() as u64, &sha256(&layer));
    // The manifest claims a 1 GiB config; the registry would stream it.
    let mut manifest: serde_json::Value = serde_json::from_slice(&image.manifest).unwrap();
    manifest["config"]["size"] = json!(1u64 << 30);
    image.manifest = serde_json::to_vec(&manifest).unwrap();
    image.config = Vec::new();
    let config_digest = image.config_digest.clone();
    let registry = Hostile::start(move |_, path| {
        if path == "/v2/" {
            Answer::Bytes(b"{}".to_vec())
        } else if path.ends_with("/manifests/1") {
            Answer::Bytes(image.manifest.clone())
        } else {
            Answer::Endless {
                prefix: b"{".to_vec(),
                claimed: Some(1 << 30),
            }
        }
    });
    let env = TestEnv::new();
    let reference = format!("{}/app:1", registry.addr);
    let stderr = failed_pull(&env, &reference);
    assert!(
        stderr.contains(&format!(
            "config {config_digest} is 1073741824 bytes by its descriptor, over the 4 MiB limit"
        )),
        "{stderr}"
    );
    assert_eq!(registry.sent(), 0, "the config was downloaded");
    assert_nothing_stored(&env);
}

#[test]
fn a_blob_longer_than_its_descriptor_is_cut_off_at_its_size() {
    let layer = layer_tar();
    let digest = sha256(&layer);
    // The layer's real bytes, then no end (chunked: no length to refuse up front).
    let registry = serve_image(
        image(&layer, layer.len() as u64, &digest),
        Answer::Endless {
            prefix: layer.clone(),
            claimed: None,
        },
    );
    let env = TestEnv::new();
    let reference = format!("{}/app:1", registry.addr);
    let stderr = failed_pull(&env, &reference);
    assert!(
        stderr.contains(&format!(
            "size mismatch: registry {} sent more than {} bytes for blob {digest}, its descriptor says {}",
            registry.addr,
            layer.len(),
            layer.len()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("retrying"), "{stderr}");
    assert!(
        registry.sent() < SLACK,
        "strata read {} bytes of a {}-byte blob",
        registry.sent(),
        layer.len()
    );
    assert_nothing_stored(&env);
}

#[test]
fn a_blob_shorter_than_its_descriptor_is_refused() {
    // The digest is the real one of what is sent; only the size gives the lie away.
    let layer = layer_tar();
    let digest = sha256(&layer);
    let claimed = layer.len() as u64 + 512;
    let registry = serve_image(
        image(&layer, claimed, &digest),
        Answer::Chunked(layer.clone()),
    );
    let env = TestEnv::new();
    let reference = format!("{}/app:1", registry.addr);
    let stderr = failed_pull(&env, &reference);
    assert!(
        stderr.contains(&format!(
            "size mismatch: registry {} sent {} bytes for blob {digest}, its descriptor says {claimed}",
            registry.addr,
            layer.len()
        )),
        "{stderr}"
    );
    assert_nothing_stored(&env);

    // The same image with an honest descriptor pulls: the server is not the problem.
    let registry = serve_image(
        image(&layer, layer.len() as u64, &digest),
        Answer::Chunked(layer.clone()),
    );
    let reference = format!("{}/app:1", registry.addr);
    let (output, _) = run_within(&env, &["pull", &reference], &[], Duration::from_secs(60));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_registry_that_never_answers_times_out_quickly() {
    let registry = Hostile::start(|_, _| Answer::Hang);
    let env = TestEnv::new();
    let reference = format!("{}/app:1", registry.addr);
    // 1 s per attempt: the pull gives up after about 2 s (twice that, across retries). Before
    // the timeout was configurable it waited 4 × 120 s.
    let (output, took) = run_within(
        &env,
        &["pull", &reference],
        &[("STRATA_REGISTRY_TIMEOUT", "1s")],
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(took < Duration::from_secs(10), "took {took:?}: {stderr}");
    assert!(
        stderr.contains(&format!("pulling {reference}"))
            && stderr.contains(&format!("registry {} timed out", registry.addr)),
        "{stderr}"
    );
    assert!(stderr.contains("gave up after"), "{stderr}");
    assert_nothing_stored(&env);

    // The flag does the same, and a timeout of nothing is refused.
    let started = Instant::now();
    let output = env.run(&["--registry-timeout", "1s", "pull", &reference]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10), "{stderr}");
    assert!(stderr.contains("timed out"), "{stderr}");
    let output = env.run(&["--registry-timeout", "0s", "pull", &reference]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--registry-timeout: must be at least 1s"),
        "{stderr}"
    );
}

#[test]
fn a_registry_cache_config_over_4_mib_is_refused_before_downloading_it() {
    // `--cache-from type=registry`: the cache's config is read into memory like an image's.
    let config_digest = sha256(b"{}");
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.strata.cache.config.v1+json",
            "digest": config_digest,
            "size": 1u64 << 30,
        },
        "layers": [],
    }))
    .unwrap();
    let registry = Hostile::start(move |_, path| {
        if path == "/v2/" {
            Answer::Bytes(b"{}".to_vec())
        } else if path.ends_with("/manifests/x") {
            Answer::Bytes(manifest.clone())
        } else {
            Answer::Endless {
                prefix: b"{".to_vec(),
                claimed: Some(1 << 30),
            }
        }
    });
    let env = TestEnv::new();
    let dir = env.write_files("app", &[("Dockerfile", "FROM scratch\nENV A=1\n")]);
    let spec = format!("type=registry,ref={}/cache:x", registry.addr);
    let (output, _) = run_within(
        &env,
        &[
            "build",
            "--progress",
            "plain",
            "--cache-from",
            &spec,
            dir.to_str().unwrap(),
        ],
        &[],
        Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("importing cache failed")
            && stderr.contains(&format!(
                "cache config {config_digest} is 1073741824 bytes by its descriptor, over the 4 MiB limit"
            )),
        "{stderr}"
    );
    assert_eq!(registry.sent(), 0, "the cache config was downloaded");
}

#[test]
fn an_error_answer_with_an_endless_body_is_not_read_whole() {
    // oci-client reads the body of an error answer whole, for its message: for a manifest,
    // then for a layer blob.
    let manifest_fails = Hostile::start(|_, path| {
        if path == "/v2/" {
            Answer::Bytes(b"{}".to_vec())
        } else {
            Answer::EndlessError {
                claimed: Some(1 << 30),
            }
        }
    });
    let layer = layer_tar();
    let blob_fails = serve_image(
        image(&layer, layer.len() as u64, &sha256(&layer)),
        Answer::EndlessError { claimed: None },
    );
    for registry in [manifest_fails, blob_fails] {
        let env = TestEnv::new();
        let reference = format!("{}/app:1", registry.addr);
        let stderr = failed_pull(&env, &reference);
        assert!(
            stderr.contains(&format!("registry {} answered HTTP 500", registry.addr)),
            "{stderr}"
        );
        // Each attempt hangs up after 64 KiB of the body (plus what the kernel buffered).
        assert!(
            registry.most_in_one_answer() < SLACK,
            "strata read {} bytes of one error answer",
            registry.most_in_one_answer()
        );
        assert_nothing_stored(&env);
    }
}

#[test]
fn a_slow_but_steady_blob_is_not_cut_off_by_the_deadline() {
    // The other side of the timeouts: a layer that takes longer than an operation's deadline
    // (2 s with a 1 s timeout) but never pauses for a whole timeout still arrives.
    let layer = layer_tar();
    let registry = serve_image(
        image(&layer, layer.len() as u64, &sha256(&layer)),
        Answer::Slow {
            body: layer.clone(),
            piece: layer.len() / 8,
            pause: Duration::from_millis(400),
        },
    );
    let env = TestEnv::new();
    let reference = format!("{}/app:1", registry.addr);
    let (output, took) = run_within(
        &env,
        &["pull", &reference],
        &[("STRATA_REGISTRY_TIMEOUT", "1s")],
        Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(took > Duration::from_secs(3), "took {took:?}");
    assert!(!stderr.contains("retrying"), "{stderr}");
}
