//! `ADD <url>` end to end against a small HTTP server on loopback: what docker build (BuildKit's
//! HTTP source) does — name from the URL path, mode 0600, mtime from `Last-Modified`, never
//! unpacked, `--checksum` verified — and the cache following the downloaded content.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use crate::build::{build, env_with_base};

/// What the server answers for a path: the body and its `Last-Modified` header.
type Files = Arc<Mutex<HashMap<String, (Vec<u8>, Option<String>)>>>;

/// Serves `path → (body, Last-Modified)`; anything else is a 404. The map can change between
/// builds to model a server whose file changed.
struct Server {
    port: u16,
    files: Files,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let files: Files = Arc::default();
        let served = Arc::clone(&files);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                let path = request_line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("")
                    .to_string();
                let mut header = String::new();
                while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                    header.clear();
                }
                let answer = served.lock().unwrap().get(&path).cloned();
                let _ = match answer {
                    Some((body, modified)) => {
                        let modified = modified
                            .map(|m| format!("Last-Modified: {m}\r\n"))
                            .unwrap_or_default();
                        write!(
                            stream,
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n{modified}Connection: close\r\n\r\n",
                            body.len()
                        )
                        .and_then(|_| stream.write_all(&body))
                    }
                    None => stream.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    ),
                };
            }
        });
        Server { port, files }
    }

    fn put(&self, path: &str, body: &[u8], modified: Option<&str>) {
        self.files.lock().unwrap().insert(
            path.to_string(),
            (body.to_vec(), modified.map(str::to_string)),
        );
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// A gzip'd tar, so a test can see it is *not* unpacked (BuildKit unpacks local archives only).
fn tar_gz() -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    let mut header = tar::Header::new_gnu();
    header.set_size(5);
    header.set_mode(0o644);
    header.set_cksum();
    builder
        .append_data(&mut header, "inside.txt", &b"hello"[..])
        .unwrap();
    builder.into_inner().unwrap().finish().unwrap()
}

#[test]
fn add_url_downloads_like_buildkit_and_caches_by_content() {
    let Some(env) = env_with_base() else { return };
    let server = Server::start();
    let archive = tar_gz();
    // Last-Modified: Wed, 21 Oct 2015 07:28:00 GMT is 1445412480 seconds after the epoch.
    server.put(
        "/files/app.tar.gz",
        &archive,
        Some("Wed, 21 Oct 2015 07:28:00 GMT"),
    );
    server.put("/plain", b"v1", None);
    let dockerfile = format!(
        "FROM base:1\n\
         ADD {} /opt/\n\
         ADD {} /etc/plain.txt\n\
         RUN test \"$(stat -c '%a %Y %s' /opt/app.tar.gz)\" = '600 1445412480 {}' \
             && test ! -e /opt/inside.txt && cat /etc/plain.txt > /seen\n",
        server.url("/files/app.tar.gz"),
        server.url("/plain"),
        archive.len()
    );
    let dir = env.write_files("app", &[("Dockerfile", &dockerfile)]);

    let (ok, _, first) = build(&env, &dir, &["-t", "url:1"]);
    assert!(ok, "{first}");
    assert_eq!(first.matches("CACHED").count(), 0, "{first}");

    let (ok, _, second) = build(&env, &dir, &["-t", "url:1"]);
    assert!(ok, "{second}");
    assert_eq!(
        second.matches("CACHED").count(),
        3,
        "same downloads: every step is a hit\n{second}"
    );

    server.put("/plain", b"v2", None);
    let (ok, _, third) = build(&env, &dir, &["-t", "url:1"]);
    assert!(ok, "{third}");
    assert_eq!(
        third.matches("CACHED").count(),
        1,
        "a changed download re-runs its ADD and what follows\n{third}"
    );
}

#[test]
fn add_url_checksum_and_http_errors_name_the_url() {
    let Some(env) = env_with_base() else { return };
    let server = Server::start();
    server.put("/tool", b"binary", None);
    let wrong = "sha256:d1a3ad4e3bdd2d8d1c2f8a0e0c8e0a3b10a83a4a70e22a0e6d0ae2f2fcab1dba";
    let right = format!(
        "sha256:{}",
        sha256_hex(b"binary") // what the server sends
    );
    assert_ne!(wrong, right);

    let ok_file = format!(
        "FROM base:1\nADD --checksum={right} {} /tool\nRUN test \"$(cat /tool)\" = binary\n",
        server.url("/tool")
    );
    let dir = env.write_files("ok", &[("Dockerfile", &ok_file)]);
    let (ok, _, stderr) = build(&env, &dir, &[]);
    assert!(ok, "{stderr}");

    let bad_file = format!(
        "FROM base:1\nADD --checksum={wrong} {} /tool\n",
        server.url("/tool")
    );
    let dir = env.write_files("bad", &[("Dockerfile", &bad_file)]);
    let (ok, _, stderr) = build(&env, &dir, &[]);
    assert!(!ok, "{stderr}");
    assert!(
        stderr.contains(&format!("digest mismatch {wrong}: {right}"))
            && stderr.contains(&server.url("/tool"))
            && stderr.contains("Dockerfile:2: "),
        "{stderr}"
    );

    let missing = format!("FROM base:1\nADD {} /x\n", server.url("/nothing"));
    let dir = env.write_files("missing", &[("Dockerfile", &missing)]);
    let (ok, _, stderr) = build(&env, &dir, &[]);
    assert!(!ok, "{stderr}");
    assert!(
        stderr.contains("404") && stderr.contains(&server.url("/nothing")),
        "{stderr}"
    );
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
