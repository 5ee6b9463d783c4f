//! Package URLs (`pkg:TYPE/NAMESPACE/NAME@VERSION?QUALIFIERS`), the identifiers SBOM and
//! provenance consumers match packages and images by (<https://github.com/package-url/purl-spec>).

/// Builds a canonical purl: every part percent-encoded, qualifiers sorted by key and those with
/// an empty value left out (as the spec's canonical form).
pub fn purl(
    kind: &str,
    namespace: Option<&str>,
    name: &str,
    version: Option<&str>,
    qualifiers: &[(&str, &str)],
) -> String {
    let mut out = format!("pkg:{}/", kind.to_ascii_lowercase());
    if let Some(namespace) = namespace.filter(|n| !n.is_empty()) {
        for segment in namespace.split('/').filter(|s| !s.is_empty()) {
            out.push_str(&encode(segment));
            out.push('/');
        }
    }
    out.push_str(&encode(name));
    if let Some(version) = version.filter(|v| !v.is_empty()) {
        out.push('@');
        out.push_str(&encode(version));
    }
    let mut qualifiers: Vec<_> = qualifiers.iter().filter(|(_, v)| !v.is_empty()).collect();
    qualifiers.sort();
    for (i, (key, value)) in qualifiers.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(&key.to_ascii_lowercase());
        out.push('=');
        out.push_str(&encode(value));
    }
    out
}

/// The purl of a container image reference, as BuildKit names images in provenance and
/// attestation subjects: `pkg:docker/alpine@3.17?platform=linux%2Famd64` (Docker Hub names
/// shortened as `docker` shows them, the tag `latest` when none is given, a `digest`
/// qualifier for `name@sha256:…` references).
pub fn image(reference: &str, platform: Option<&str>) -> String {
    let (rest, digest) = match reference.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (reference, None),
    };
    let (name, tag) = match rest.rfind(':') {
        Some(colon) if !rest[colon..].contains('/') => (&rest[..colon], Some(&rest[colon + 1..])),
        _ => (rest, None),
    };
    let tag = match (tag, digest) {
        (Some(tag), _) => Some(tag),
        (None, None) => Some("latest"),
        (None, Some(_)) => None,
    };
    let familiar = familiar_name(name);
    let (namespace, short) = match familiar.rsplit_once('/') {
        Some((namespace, short)) => (Some(namespace), short),
        None => (None, familiar.as_str()),
    };
    let mut qualifiers = Vec::new();
    if let Some(digest) = digest {
        qualifiers.push(("digest", digest));
    }
    if let Some(platform) = platform {
        qualifiers.push(("platform", platform));
    }
    purl("docker", namespace, short, tag, &qualifiers)
}

/// `docker.io/library/alpine` → `alpine`, `docker.io/foo/bar` → `foo/bar`; other registries'
/// names stay whole.
fn familiar_name(name: &str) -> String {
    let name = name
        .strip_prefix("docker.io/")
        .or_else(|| name.strip_prefix("index.docker.io/"))
        .unwrap_or(name);
    match name.strip_prefix("library/") {
        Some(short) if !short.contains('/') => short.to_string(),
        _ => name.to_string(),
    }
}

/// Percent-encodes all but the characters the purl spec leaves as they are.
fn encode(part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    for byte in part.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~:".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_encode_as_the_spec_says() {
        assert_eq!(
            purl(
                "deb",
                Some("debian"),
                "libc6",
                Some("2.36-9+deb12u4"),
                &[("distro", "debian-12"), ("arch", "amd64"), ("upstream", "")]
            ),
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12"
        );
        assert_eq!(
            purl("npm", Some("@angular"), "core", Some("17.0.1"), &[]),
            "pkg:npm/%40angular/core@17.0.1"
        );
        assert_eq!(
            purl("deb", Some("debian"), "bsdutils", Some("1:2.38.1-5"), &[]),
            "pkg:deb/debian/bsdutils@1:2.38.1-5"
        );
    }

    #[test]
    fn images_are_named_as_buildkit_names_them() {
        assert_eq!(
            image("docker.io/library/alpine:3.17", Some("linux/amd64")),
            "pkg:docker/alpine@3.17?platform=linux%2Famd64"
        );
        assert_eq!(
            image("docker.io/foo/bar", None),
            "pkg:docker/foo/bar@latest"
        );
        assert_eq!(
            image("localhost:5000/team/app:v1", None),
            "pkg:docker/localhost:5000/team/app@v1"
        );
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            image(&format!("alpine@{digest}"), None),
            format!("pkg:docker/alpine?digest=sha256:{}", "a".repeat(64))
        );
    }
}
