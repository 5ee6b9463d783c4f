//! A cache in an OCI image layout directory (`--cache-to type=local,dest=DIR`, as BuildKit's
//! local cache): `oci-layout`, `index.json` naming the cache manifest, `blobs/sha256/<hex>`.
//!
//! Blobs are written to a temp file beside their final name and renamed; `index.json` is
//! replaced last, the same way, so a reader (or a crash) never sees a manifest whose blobs are
//! missing. Old blobs stay (another build's index may have named them), as BuildKit leaves
//! them.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use strata_cache::Digest;

use super::CacheBackend;
use crate::error::{Error, Result};
use crate::image::manifest::{self, OCI_MANIFEST};

/// The annotation that names an index entry (BuildKit's local cache uses `latest`).
const REF_NAME: &str = "org.opencontainers.image.ref.name";
const TAG: &str = "latest";

/// An OCI layout directory holding a cache.
pub struct LocalCache {
    dir: PathBuf,
}

impl LocalCache {
    /// The cache in `dir` (created when written to).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        LocalCache { dir: dir.into() }
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.dir.join("blobs/sha256").join(digest.hex())
    }

    fn error(&self, reason: impl Into<String>) -> Error {
        Error::Cache {
            location: self.location(),
            reason: reason.into(),
        }
    }

    fn io(&self, path: &Path, source: io::Error) -> Error {
        Error::CacheTransfer {
            location: self.location(),
            source: Box::new(Error::Io {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Writes `path` atomically from `fill` (temp file in the same dir, fsync, rename).
    fn write_atomic(
        &self,
        path: &Path,
        fill: &mut dyn FnMut(&mut File) -> io::Result<()>,
    ) -> Result<()> {
        let parent = path.parent().expect("cache paths have a parent");
        fs::create_dir_all(parent).map_err(|e| self.io(parent, e))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(parent)
            .map_err(|e| self.io(parent, e))?;
        fill(tmp.as_file_mut())
            .and_then(|()| tmp.as_file_mut().sync_data())
            .map_err(|e| self.io(tmp.path(), e))?;
        tmp.persist(path).map_err(|e| self.io(path, e.error))?;
        Ok(())
    }
}

impl CacheBackend for LocalCache {
    fn location(&self) -> String {
        format!("local cache `{}`", self.dir.display())
    }

    fn manifest(&self) -> Result<Vec<u8>> {
        let index_path = self.dir.join("index.json");
        let index = fs::read(&index_path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => self.error("no cache there (index.json is missing)"),
            _ => self.io(&index_path, e),
        })?;
        let entries =
            manifest::parse_index(&index).map_err(|e| self.error(format!("index.json: {e}")))?;
        let entry = entries
            .iter()
            .find(|e| e.annotations.get(REF_NAME).map(String::as_str) == Some(TAG))
            .or_else(|| entries.first())
            .ok_or_else(|| self.error("index.json names no manifest"))?;
        let mut bytes = Vec::new();
        self.get_blob(&entry.desc.digest, &mut bytes)?;
        if Digest::of(&bytes) != entry.desc.digest {
            return Err(self.error(format!(
                "manifest {} does not match its digest",
                entry.desc.digest
            )));
        }
        Ok(bytes)
    }

    fn get_blob(&self, digest: &Digest, out: &mut dyn Write) -> Result<u64> {
        let path = self.blob_path(digest);
        let mut file = File::open(&path).map_err(|e| self.io(&path, e))?;
        io::copy(&mut file, out).map_err(|e| self.io(&path, e))
    }

    fn has_blob(&self, digest: &Digest, size: u64) -> Result<bool> {
        Ok(fs::metadata(self.blob_path(digest)).is_ok_and(|m| m.is_file() && m.len() == size))
    }

    fn put_blob(&self, digest: &Digest, _size: u64, source: &Path) -> Result<()> {
        let mut input = File::open(source).map_err(|e| self.io(source, e))?;
        self.write_atomic(&self.blob_path(digest), &mut |out| {
            io::copy(&mut input, out).map(|_| ())
        })
    }

    fn put_manifest(&self, bytes: &[u8]) -> Result<()> {
        let digest = Digest::of(bytes);
        self.write_atomic(&self.blob_path(&digest), &mut |out| out.write_all(bytes))?;
        let index = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{digest}","size":{},"annotations":{{"{REF_NAME}":"{TAG}"}}}}]}}"#,
            bytes.len()
        );
        self.write_atomic(&self.dir.join("oci-layout"), &mut |out| {
            out.write_all(br#"{"imageLayoutVersion":"1.0.0"}"#)
        })?;
        self.write_atomic(&self.dir.join("index.json"), &mut |out| {
            out.write_all(index.as_bytes())
        })
    }
}
