//! References to things in a registry: docker's reference grammar (via
//! [`crate::image::reference::Reference`]) mapped to a registry host, a repository path and a
//! tag or digest, and from there to `oci-client`'s reference type.

use strata_cache::Digest;
use strata_frontend::reference::split_domain;

use crate::error::Result;
use crate::image::reference::Reference;

/// Docker Hub's registry name as strata keeps it (`oci-client` talks to `index.docker.io`).
pub const DOCKER_HUB: &str = "docker.io";

/// Where an image (or a blob's repository) lives: `registry/repository[:tag|@digest]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Remote {
    /// The registry host with its port: `docker.io`, `127.0.0.1:5000`, `ghcr.io`.
    pub registry: String,
    /// The repository path inside the registry: `library/busybox`, `team/app`.
    pub repository: String,
    /// The tag, when one was written (or `latest` when neither a tag nor a digest was).
    pub tag: Option<String>,
    /// The manifest digest, when one was written.
    pub digest: Option<Digest>,
}

impl Remote {
    /// Parses a reference as docker does (`busybox`, `me/app:1`,
    /// `127.0.0.1:5000/team/app@sha256:…`): no host means docker.io, single names get
    /// `library/`, no tag and no digest means `latest`.
    pub fn parse(text: &str) -> Result<Remote> {
        let reference = Reference::parse(text.trim())?;
        Ok(Remote::from_reference(&reference))
    }

    /// The remote a parsed reference names.
    pub fn from_reference(reference: &Reference) -> Remote {
        let (registry, repository) = match split_domain(&reference.name) {
            Some((host, rest)) => (host.to_string(), rest.to_string()),
            None if reference.name.contains('/') => {
                (DOCKER_HUB.to_string(), reference.name.clone())
            }
            None => (
                DOCKER_HUB.to_string(),
                format!("library/{}", reference.name),
            ),
        };
        let tag = match (&reference.tag, &reference.digest) {
            (Some(tag), _) => Some(tag.clone()),
            (None, Some(_)) => None,
            (None, None) => Some("latest".to_string()),
        };
        Remote {
            registry,
            repository,
            tag,
            digest: reference.digest,
        }
    }

    /// The same repository with another tag (and no digest).
    pub fn with_tag(&self, tag: &str) -> Remote {
        Remote {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        }
    }

    /// The same repository at a manifest digest (and no tag).
    pub fn with_digest(&self, digest: Digest) -> Remote {
        Remote {
            tag: None,
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// The familiar name of the repository, as docker prints it: `busybox`, `me/app`,
    /// `127.0.0.1:5000/app`.
    pub fn name(&self) -> String {
        if self.registry == DOCKER_HUB {
            match self.repository.strip_prefix("library/") {
                Some(rest) if !rest.contains('/') => rest.to_string(),
                _ => self.repository.clone(),
            }
        } else {
            format!("{}/{}", self.registry, self.repository)
        }
    }

    /// The store key for this reference: `name:tag`, or `name@sha256:…` for a digest only.
    pub fn key(&self) -> String {
        match (&self.tag, &self.digest) {
            (Some(tag), _) => format!("{}:{tag}", self.name()),
            (None, Some(digest)) => format!("{}@{digest}", self.name()),
            (None, None) => format!("{}:latest", self.name()),
        }
    }

    /// `registry/repository`, the key blobs' whereabouts are remembered under.
    pub fn location(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The reference as `oci-client` wants it; a digest wins over a tag.
    pub(crate) fn oci(&self) -> oci_client::Reference {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => oci_client::Reference::with_digest(
                self.registry.clone(),
                self.repository.clone(),
                digest.to_string(),
            ),
            (None, tag) => oci_client::Reference::with_tag(
                self.registry.clone(),
                self.repository.clone(),
                tag.clone().unwrap_or_else(|| "latest".into()),
            ),
        }
    }
}

impl std::fmt::Display for Remote {
    /// The familiar form: `127.0.0.1:5000/app:1`, `busybox:latest`, `app@sha256:…`
    /// (tag and digest both when both were written).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_map_to_registry_and_repository() {
        let r = Remote::parse("busybox").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("docker.io", "library/busybox", Some("latest"))
        );
        assert_eq!(r.key(), "busybox:latest");
        let r = Remote::parse("me/app:1").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("docker.io", "me/app")
        );
        let r = Remote::parse("127.0.0.1:5000/team/app:2").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("127.0.0.1:5000", "team/app", Some("2"))
        );
        assert_eq!(r.to_string(), "127.0.0.1:5000/team/app:2");
        assert_eq!(r.key(), "127.0.0.1:5000/team/app:2");
        let digest = format!("sha256:{}", "a".repeat(64));
        let r = Remote::parse(&format!("localhost:5000/app@{digest}")).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.oci().digest(), Some(digest.as_str()));
        assert_eq!(r.key(), format!("localhost:5000/app@{digest}"));
        assert!(Remote::parse("Bad Name").is_err());
    }
}
