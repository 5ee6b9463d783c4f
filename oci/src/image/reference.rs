//! Image references as docker writes them: `name`, `name:tag`, `host:port/path/name:tag`,
//! `name@sha256:…`. The store keys tags by docker's *familiar* form — `busybox:latest`,
//! `me/app:1`, `localhost:5000/app:latest` — so `docker.io/library/busybox` and `busybox` are
//! one name, as in docker.

use strata_cache::Digest;

/// Docker Hub's domain as docker writes it in full names.
const HUB: &str = "docker.io";

/// A reference that does not follow docker's grammar, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid reference format `{text}`: {reason}")]
pub struct InvalidReference {
    /// The reference as given.
    pub text: String,
    /// What rule it breaks.
    pub reason: String,
}

/// A parsed reference, in familiar form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The repository: `busybox`, `me/app`, `localhost:5000/team/app`.
    pub name: String,
    /// The tag, when one was written.
    pub tag: Option<String>,
    /// The manifest digest, when one was written (`name@sha256:…`).
    pub digest: Option<Digest>,
}

impl Reference {
    /// Parses a reference with docker's grammar and normalisation: lower-case path components
    /// separated by `.`, `_`, `__` or dashes; a first component with a `.` or `:` (or
    /// `localhost`) is a registry host; tags are at most 128 word characters, dots and dashes;
    /// `docker.io/library/x` and `index.docker.io/x` are `x`.
    pub fn parse(text: &str) -> Result<Reference, InvalidReference> {
        let bad = |why: &str| {
            Err(InvalidReference {
                text: text.to_string(),
                reason: why.to_string(),
            })
        };
        if text.is_empty() {
            return bad("empty");
        }
        if text.len() > 255 + 1 + 128 + 72 {
            return bad("too long");
        }
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => match digest.parse::<Digest>() {
                Ok(d) => (rest, Some(d)),
                Err(e) => return bad(&format!("bad digest: {e}")),
            },
            None => (text, None),
        };
        // A tag is after the last `:` that comes after the last `/` (a host's port is not).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag {
            let ok = !tag.is_empty()
                && tag.len() <= 128
                && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                && tag
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
            if !ok {
                return bad("tags are at most 128 letters, digits, `_`, `.` or `-`");
            }
        }
        if name.len() > 255 {
            return bad("repository name must not be longer than 255 characters");
        }
        let (domain, path) = split_domain(name);
        if let Some(domain) = domain {
            let ok = !domain.is_empty()
                && domain
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c));
            if !ok {
                return bad("bad registry host");
            }
        }
        if path.is_empty() {
            return bad("a repository name is required");
        }
        if path.len() == 64 && path.chars().all(|c| c.is_ascii_hexdigit()) {
            return bad("cannot specify 64-byte hexadecimal strings");
        }
        for component in path.split('/') {
            if !valid_component(component) {
                return if component.chars().any(|c| c.is_ascii_uppercase()) {
                    bad("repository name must be lowercase")
                } else {
                    bad("repository names are lower-case letters and digits, separated by `.`, `_`, `__` or `-`")
                };
            }
        }
        let name = match domain {
            None | Some("docker.io") | Some("index.docker.io") => path
                .strip_prefix("library/")
                .filter(|p| !p.contains('/'))
                .unwrap_or(path)
                .to_string(),
            Some(domain) => format!("{domain}/{path}"),
        };
        Ok(Reference {
            name,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// The key the store names this reference by: `name:tag` (`latest` when no tag was given),
    /// or `name@sha256:…` when it has a digest.
    pub fn key(&self) -> String {
        match &self.digest {
            Some(d) => format!("{}@{d}", self.name),
            None => format!("{}:{}", self.name, self.tag.as_deref().unwrap_or("latest")),
        }
    }

    /// The full name containerd and Docker 25+ write (`docker.io/library/busybox:latest`).
    pub fn full(&self) -> String {
        let (domain, path) = split_domain(&self.name);
        let full = match domain {
            Some(_) => self.name.clone(),
            None if path.contains('/') => format!("{HUB}/{path}"),
            None => format!("{HUB}/library/{path}"),
        };
        match &self.digest {
            Some(d) => format!("{full}@{d}"),
            None => format!("{full}:{}", self.tag.as_deref().unwrap_or("latest")),
        }
    }
}

/// docker's registry-host rule, shared with the frontend (`strata_frontend::reference`), as
/// `(host, path)` with the whole name as the path when there is no host.
fn split_domain(name: &str) -> (Option<&str>, &str) {
    match strata_frontend::reference::split_domain(name) {
        Some((host, path)) => (Some(host), path),
        None => (None, name),
    }
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let ok = separator == "."
            || separator == "_"
            || separator == "__"
            || separator.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// A reference normalised to the store's key (see [`Reference::key`]); text that does not
/// parse is returned trimmed, so a lookup of it simply finds nothing.
pub fn normalize(reference: &str) -> String {
    let reference = reference.trim();
    Reference::parse(reference)
        .map(|r| r.key())
        .unwrap_or_else(|_| reference.to_string())
}

/// Checks a name given to `-t`, `tag`, `import` as docker does: a valid reference without a
/// digest.
pub fn validate_tag(tag: &str) -> Result<(), InvalidReference> {
    let parsed = Reference::parse(tag)?;
    if parsed.digest.is_some() {
        return Err(InvalidReference {
            text: tag.to_string(),
            reason: "a name to tag with cannot have a digest".into(),
        });
    }
    Ok(())
}

/// `repo:tag` → (`repo`, `tag`) for a store key (`latest` when it has none).
pub fn split_key(key: &str) -> (&str, &str) {
    let last_slash = key.rfind('/').map_or(0, |i| i + 1);
    match key[last_slash..].rfind(':') {
        Some(i) => (&key[..last_slash + i], &key[last_slash + i + 1..]),
        None => (key, "latest"),
    }
}

/// `app:1` → `docker.io/library/app:1`, as containerd names images.
pub(crate) fn full_name(key: &str) -> String {
    Reference::parse(key)
        .map(|r| r.full())
        .unwrap_or_else(|_| key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_normalise_like_docker() {
        assert_eq!(normalize("busybox"), "busybox:latest");
        assert_eq!(normalize("docker.io/library/busybox:1.36"), "busybox:1.36");
        assert_eq!(
            normalize("index.docker.io/library/busybox"),
            "busybox:latest"
        );
        assert_eq!(normalize("library/busybox"), "busybox:latest");
        assert_eq!(normalize("docker.io/me/app"), "me/app:latest");
        assert_eq!(normalize("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(
            normalize("registry.local:5000/team/app:1.0"),
            "registry.local:5000/team/app:1.0"
        );
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(normalize(&format!("app@{digest}")), format!("app@{digest}"));
        assert_eq!(
            normalize(&format!("app:1@{digest}")),
            format!("app@{digest}")
        );
    }

    #[test]
    fn full_names_are_containerd_s() {
        assert_eq!(full_name("app:1"), "docker.io/library/app:1");
        assert_eq!(full_name("me/app:1"), "docker.io/me/app:1");
        assert_eq!(full_name("localhost:5000/app:2"), "localhost:5000/app:2");
        assert_eq!(
            split_key("localhost:5000/app:2"),
            ("localhost:5000/app", "2")
        );
        assert_eq!(
            split_key("localhost:5000/app"),
            ("localhost:5000/app", "latest")
        );
    }

    #[test]
    fn tags_are_validated() {
        assert!(validate_tag("espy-docker").is_ok());
        assert!(validate_tag("registry.local:5000/team/app:1.0").is_ok());
        assert!(validate_tag("a__b/c-d.e_f:x").is_ok());
        assert!(validate_tag("Upper").is_err());
        assert!(validate_tag("app:bad tag").is_err());
        assert!(validate_tag("app:").is_err());
        assert!(validate_tag("app:.x").is_err());
        assert!(validate_tag("-app").is_err());
        assert!(validate_tag("a...b").is_err());
        assert!(validate_tag(&format!("app@sha256:{}", "a".repeat(64))).is_err());
        assert!(Reference::parse("app@sha256:short").is_err());
        assert!(Reference::parse(&format!("app:{}", "x".repeat(129))).is_err());
    }
}
