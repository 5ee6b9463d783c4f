//! Where an image reference's registry host ends: docker's rule (distribution/reference's
//! `splitDockerDomain`, behind `ParseNormalizedNamed`), shared by the frontend's display names
//! and the builder's registry client so that the two can never disagree.

/// Splits `name` (a reference without tag or digest) into its registry host and path, when
/// its first component is a host: it contains `.` or `:`, is `localhost`, or has an upper-case
/// letter (repository paths are lower-case, so docker reads such a component as a host).
/// `None` means docker.io.
pub fn split_domain(name: &str) -> Option<(&str, &str)> {
    let (first, rest) = name.split_once('/')?;
    let is_host = first.contains(['.', ':'])
        || first == "localhost"
        || first.chars().any(|c| c.is_ascii_uppercase());
    is_host.then_some((first, rest))
}

#[cfg(test)]
mod tests {
    use super::split_domain;

    #[test]
    fn hosts_are_recognised_as_docker_does() {
        assert_eq!(split_domain("busybox"), None);
        assert_eq!(split_domain("library/busybox"), None);
        assert_eq!(split_domain("user/app/sub"), None);
        assert_eq!(split_domain("localhost/app"), Some(("localhost", "app")));
        assert_eq!(
            split_domain("localhost:5000/app"),
            Some(("localhost:5000", "app"))
        );
        assert_eq!(
            split_domain("registry.example/a/b"),
            Some(("registry.example", "a/b"))
        );
        assert_eq!(
            split_domain("127.0.0.1:5000/app"),
            Some(("127.0.0.1:5000", "app"))
        );
        assert_eq!(split_domain("[::1]:5000/app"), Some(("[::1]:5000", "app")));
        // An upper-case first component is a host for docker (the registry client always
        // said so; the frontend's display name used to send it to docker.io).
        assert_eq!(split_domain("MyRegistry/app"), Some(("MyRegistry", "app")));
    }
}
