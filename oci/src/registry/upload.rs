//! Writing to a registry: manifests, blobs (files streamed in 1 MiB chunks, the deadline
//! extended by the size), cross-repository mounts, and the HEAD check that lets a push skip
//! a blob the repository has.

use std::io::Read;
use std::time::Duration;

use oci_client::errors::OciDistributionError;
use strata_cache::Digest;

use super::classify::registry_error;
use super::client::{BlobSource, Registry, UPLOAD_RATE};
use super::remote::Remote;
use super::retry::{Deadline, Failure};
use super::ErrorKind;
use crate::error::{Error, Result};

impl Registry {
    /// Stores a manifest (or index) under the reference's tag (or digest); returns its digest.
    pub fn put_manifest(&self, remote: &Remote, bytes: &[u8], media_type: &str) -> Result<Digest> {
        let registry = remote.registry.as_str();
        let client = self.client(registry);
        let reference = remote.oci();
        let content_type = reqwest::header::HeaderValue::from_str(media_type).map_err(|e| {
            registry_error(ErrorKind::Other, format!("media type `{media_type}`: {e}"))
        })?;
        let body = bytes::Bytes::copy_from_slice(bytes);
        self.with_retry(registry, |deadline| {
            let push = client.push_manifest_raw(&reference, body.clone(), content_type.clone());
            self.with_auth(registry, &client, &reference, deadline, async {
                push.await.map_err(|e| self.classify(registry, e))
            })
        })?;
        Ok(Digest::of(bytes))
    }

    /// Whether the repository has a blob (a HEAD request).
    pub fn has_blob(&self, remote: &Remote, digest: &Digest) -> Result<bool> {
        let registry = remote.registry.as_str();
        let client = self.client(registry);
        let reference = remote.oci();
        let digest = digest.to_string();
        self.with_retry(registry, |deadline| {
            self.with_auth(registry, &client, &reference, deadline, async {
                client
                    .blob_exists(&reference, &digest)
                    .await
                    .map_err(|e| self.classify(registry, e))
            })
        })
    }

    /// Uploads a blob to the repository (monolithic upload; files are streamed). The upload
    /// has the operation's deadline plus a second per [`UPLOAD_RATE`] bytes.
    pub fn put_blob(&self, remote: &Remote, digest: &Digest, source: &BlobSource) -> Result<()> {
        let registry = remote.registry.as_str();
        let client = self.upload_client(registry);
        let reference = remote.oci();
        let digest_text = digest.to_string();
        let bytes = match source {
            BlobSource::Bytes(bytes) => Some(bytes::Bytes::copy_from_slice(bytes)),
            BlobSource::File(_) => None,
        };
        let size = match source {
            BlobSource::Bytes(bytes) => bytes.len() as u64,
            BlobSource::File(path) => std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
        };
        let deadline = Deadline::new(self.timeouts.total);
        deadline.extend(Duration::from_secs(size / UPLOAD_RATE));
        self.with_retry_within(registry, &deadline, |deadline| {
            let stream = match source {
                BlobSource::File(path) => {
                    let file = std::fs::File::open(path).map_err(|source| Failure {
                        transient: false,
                        error: Error::Io {
                            path: path.clone(),
                            source,
                        },
                    })?;
                    let size = file.metadata().map(|m| m.len()).ok();
                    Some((file_stream(file), size))
                }
                BlobSource::Bytes(_) => None,
            };
            self.with_auth(registry, &client, &reference, deadline, async {
                match (stream, &bytes) {
                    (Some((stream, size)), _) => {
                        client
                            .push_blob_stream(&reference, stream, &digest_text, size)
                            .await
                    }
                    (None, Some(bytes)) => {
                        client
                            .push_blob(&reference, bytes.clone(), &digest_text)
                            .await
                    }
                    (None, None) => unreachable!("a blob source is bytes or a file"),
                }
                .map_err(|e| self.classify(registry, e))
            })
        })?;
        Ok(())
    }

    /// Asks the registry to link a blob from another repository of the same registry into
    /// this one (no upload); `false` when it would not (the caller uploads instead).
    pub fn mount_blob(&self, remote: &Remote, from: &Remote, digest: &Digest) -> Result<bool> {
        if remote.registry != from.registry {
            return Ok(false);
        }
        let registry = remote.registry.as_str();
        let client = self.client(registry);
        let reference = remote.oci();
        let source = from.oci();
        let digest_text = digest.to_string();
        self.with_retry(registry, |deadline| {
            self.with_auth(registry, &client, &reference, deadline, async {
                match client.mount_blob(&reference, &source, &digest_text).await {
                    Ok(()) => Ok(true),
                    Err(e) => {
                        let failure = self.classify(registry, e);
                        if failure.transient {
                            Err(failure)
                        } else {
                            Ok(false)
                        }
                    }
                }
            })
        })
    }
}

/// A file as a stream of 1 MiB chunks.
fn file_stream(
    file: std::fs::File,
) -> impl futures_util::Stream<Item = std::result::Result<bytes::Bytes, OciDistributionError>>
       + Send
       + 'static {
    futures_util::stream::unfold(Some(file), |state| async move {
        let mut file = state?;
        let mut buffer = vec![0u8; 1 << 20];
        let mut filled = 0;
        while filled < buffer.len() {
            match file.read(&mut buffer[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Some((Err(OciDistributionError::IoError(e)), None)),
            }
        }
        if filled == 0 {
            return None;
        }
        buffer.truncate(filled);
        Some((Ok(bytes::Bytes::from(buffer)), Some(file)))
    })
}
