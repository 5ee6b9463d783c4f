//! Test helpers: Debian's `docker-registry` started on a free 127.0.0.1 port with its storage in
//! a temp dir (optionally behind htpasswd basic auth), killed on drop; and a tiny TCP proxy
//! that misbehaves for its first connections (drops them, or answers 503).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::util::skip_unless;

const REGISTRY: &str = "/usr/bin/docker-registry";

/// A free port on 127.0.0.1 (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running registry.
pub struct Registry {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// The storage root (`docker/registry/v2/…` below it).
    pub storage: PathBuf,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// Starts a registry; `None` (with the reason printed) when the binary is missing.
    pub fn start() -> Option<Registry> {
        Registry::start_with(None, "127.0.0.1")
    }

    /// Starts a registry listening on every interface, named by `host` (a non-loopback address
    /// of this machine) in `addr`.
    pub fn start_on(host: &str) -> Option<Registry> {
        let mut registry = Registry::start_with(None, "0.0.0.0")?;
        let port = registry.addr.rsplit(':').next().unwrap().to_string();
        registry.addr = format!("{host}:{port}");
        Some(registry)
    }

    /// Starts a registry that wants basic auth for `user`/`password` (htpasswd, bcrypt).
    pub fn start_with_auth(user: &str, password: &str) -> Option<Registry> {
        if skip_unless(
            Path::new("/usr/bin/htpasswd").is_file(),
            "/usr/bin/htpasswd is missing (apt-get install apache2-utils)",
        ) {
            return None;
        }
        Registry::start_with(Some((user, password)), "127.0.0.1")
    }

    fn start_with(auth: Option<(&str, &str)>, listen: &str) -> Option<Registry> {
        if skip_unless(
            Path::new(REGISTRY).is_file(),
            "/usr/bin/docker-registry is missing (apt-get install docker-registry)",
        ) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).unwrap();
        let auth_section = match auth {
            Some((user, password)) => {
                let htpasswd = dir.path().join("htpasswd");
                let output = Command::new("/usr/bin/htpasswd")
                    .args(["-Bbn", user, password])
                    .output()
                    .unwrap();
                assert!(output.status.success());
                std::fs::write(&htpasswd, &output.stdout).unwrap();
                format!(
                    "auth:\n  htpasswd:\n    realm: strata-test\n    path: {}\n",
                    htpasswd.display()
                )
            }
            None => String::new(),
        };
        // A port taken between bind and the registry's listen is retried.
        for _ in 0..5 {
            let port = free_port();
            let addr = format!("127.0.0.1:{port}");
            let listen = format!("{listen}:{port}");
            let config = dir.path().join("config.yml");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {listen}\n{auth_section}",
                    storage.display()
                ),
            )
            .unwrap();
            let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
            let mut child = Command::new(REGISTRY)
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if http_status(&addr, "/v2/").is_some() {
                    return Some(Registry {
                        child,
                        addr,
                        storage,
                        _dir: dir,
                    });
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "docker-registry did not start: {}",
            std::fs::read_to_string(dir.path().join("registry.log")).unwrap_or_default()
        );
    }

    /// The file holding a blob's bytes in the registry's storage.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.storage
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The HTTP status of a plain GET, `None` when nothing answers.
pub fn http_status(addr: &str, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// How the proxy misbehaves for its first connections.
#[derive(Clone, Copy)]
pub enum Fault {
    /// Accept, then close without a word.
    Drop,
    /// Answer `503 Service Unavailable`.
    Unavailable,
}

/// A TCP proxy to a registry whose first `faulty` connections fail.
pub struct FlakyProxy {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// Connections accepted so far.
    pub connections: Arc<AtomicUsize>,
}

impl FlakyProxy {
    pub fn start(target: &str, fault: Fault, faulty: usize) -> FlakyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let connections = Arc::new(AtomicUsize::new(0));
        let count = connections.clone();
        let target = target.to_string();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { continue };
                let n = count.fetch_add(1, Ordering::SeqCst);
                if n < faulty {
                    match fault {
                        Fault::Drop => {
                            let _ = client.shutdown(Shutdown::Both);
                        }
                        Fault::Unavailable => {
                            // Read the request head, then refuse.
                            let mut buf = [0u8; 4096];
                            let _ = client.set_read_timeout(Some(Duration::from_secs(2)));
                            let _ = client.read(&mut buf);
                            let _ = client.write_all(
                                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                            );
                            let _ = client.shutdown(Shutdown::Both);
                        }
                    }
                    continue;
                }
                let Ok(upstream) = TcpStream::connect(&target) else {
                    continue;
                };
                let (mut a, mut b) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut a, &mut b);
                    let _ = b.shutdown(Shutdown::Write);
                });
                let (mut a, mut b) = (upstream, client);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut a, &mut b);
                    let _ = b.shutdown(Shutdown::Write);
                });
            }
        });
        FlakyProxy { addr, connections }
    }
}
