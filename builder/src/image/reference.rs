//! Image references as docker writes them, normalised to the short form the store uses as its
//! tag key: `busybox` → `busybox:latest`, `docker.io/library/busybox:1` → `busybox:1`,
//! `localhost:5000/app` → `localhost:5000/app:latest`; `name@sha256:…` keeps its digest.

/// A reference normalised for lookups in the store.
pub fn normalize(reference: &str) -> String {
    let reference = reference.trim();
    let (name, digest) = match reference.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (reference, None),
    };
    let mut name = name
        .strip_prefix("docker.io/library/")
        .or_else(|| name.strip_prefix("index.docker.io/library/"))
        .or_else(|| name.strip_prefix("docker.io/"))
        .unwrap_or(name)
        .to_string();
    if let Some(digest) = digest {
        return format!("{name}@{digest}");
    }
    let last = name.rsplit('/').next().unwrap_or(&name);
    if !last.contains(':') {
        name.push_str(":latest");
    }
    name
}

/// Checks a tag given with `-t` as docker does (lower-case name components, a tag of at most
/// 128 word characters, dots and dashes).
pub fn validate_tag(tag: &str) -> Result<(), String> {
    let normalized = normalize(tag);
    let (name, tag_part) = match normalized.rsplit_once(':') {
        Some((name, t)) if !t.contains('/') => (name, t),
        _ => (normalized.as_str(), "latest"),
    };
    let bad = |why: &str| Err(format!("invalid reference format `{tag}`: {why}"));
    if name.is_empty() || name.contains('@') {
        return bad("a name is required");
    }
    let path = match name.split_once('/') {
        Some((host, rest)) if host.contains(['.', ':']) || host == "localhost" => rest,
        _ => name,
    };
    for component in path.split('/') {
        let ok = !component.is_empty()
            && component
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
            && component.starts_with(|c: char| c.is_ascii_alphanumeric());
        if !ok {
            return bad("repository names must be lower-case letters, digits and separators");
        }
    }
    if tag_part.is_empty()
        || tag_part.len() > 128
        || !tag_part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    {
        return bad("tags are at most 128 letters, digits, `_`, `.` or `-`");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_normalise_like_docker() {
        assert_eq!(normalize("busybox"), "busybox:latest");
        assert_eq!(normalize("docker.io/library/busybox:1.36"), "busybox:1.36");
        assert_eq!(normalize("docker.io/me/app"), "me/app:latest");
        assert_eq!(normalize("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(normalize("app@sha256:abc"), "app@sha256:abc");
    }

    #[test]
    fn tags_are_validated() {
        assert!(validate_tag("espy-docker").is_ok());
        assert!(validate_tag("registry.local:5000/team/app:1.0").is_ok());
        assert!(validate_tag("Upper").is_err());
        assert!(validate_tag("app:bad tag").is_err());
    }
}
