//! Build arguments: the predefined ones BuildKit supplies, proxy args, and `EXPOSE` port specs.

/// Build args that may be passed without an `ARG` declaration (BuildKit's proxy args). They
/// reach RUN's environment but not the image config or history.
pub const PROXY_ARGS: [&str; 8] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// `ALL_PROXY` is a proxy arg too; kept apart to keep the array name honest about docker's list.
pub const ALL_PROXY_ARGS: [&str; 2] = ["ALL_PROXY", "all_proxy"];

/// Whether `name` is one of the proxy build args.
pub fn is_proxy_arg(name: &str) -> bool {
    PROXY_ARGS.contains(&name) || ALL_PROXY_ARGS.contains(&name)
}

/// The automatic platform args for building `target` on this machine (always linux/amd64 here:
/// strata builds natively). Usable in FROM lines without a declaration, and inside a stage
/// after `ARG NAME`.
pub fn platform_args(target: &str) -> Vec<(String, String)> {
    let (os, arch, variant) = split_platform(target);
    let build = (
        "linux",
        std::env::consts::ARCH
            .replace("x86_64", "amd64")
            .replace("aarch64", "arm64"),
    );
    vec![
        ("BUILDPLATFORM".into(), format!("{}/{}", build.0, build.1)),
        ("BUILDOS".into(), build.0.into()),
        ("BUILDARCH".into(), build.1.clone()),
        ("BUILDVARIANT".into(), String::new()),
        ("TARGETPLATFORM".into(), target.to_string()),
        ("TARGETOS".into(), os),
        ("TARGETARCH".into(), arch),
        ("TARGETVARIANT".into(), variant),
    ]
}

/// Whether `name` is one of the automatic platform args.
pub fn is_platform_arg(name: &str) -> bool {
    matches!(
        name,
        "BUILDPLATFORM"
            | "BUILDOS"
            | "BUILDARCH"
            | "BUILDVARIANT"
            | "TARGETPLATFORM"
            | "TARGETOS"
            | "TARGETARCH"
            | "TARGETVARIANT"
    )
}

fn split_platform(platform: &str) -> (String, String, String) {
    let mut parts = platform.split('/');
    let os = parts.next().unwrap_or("linux").to_string();
    let arch = parts.next().unwrap_or("amd64").to_string();
    let variant = parts.next().unwrap_or("").to_string();
    (os, arch, variant)
}

/// Parses one EXPOSE word (`80`, `80/udp`, `8000-8002/tcp`) into `port/proto` keys.
pub fn expose_ports(spec: &str) -> Result<Vec<String>, String> {
    let (ports, proto) = match spec.split_once('/') {
        Some((ports, proto)) => (ports, proto.to_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let parse = |p: &str| -> Result<u32, String> {
        p.parse::<u32>()
            .ok()
            .filter(|n| *n <= 65535)
            .ok_or_else(|| format!("invalid containerPort: {p}"))
    };
    let (start, end) = match ports.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => (parse(ports)?, parse(ports)?),
    };
    if end < start {
        return Err(format!("invalid port range: {ports}"));
    }
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_default_to_tcp_and_ranges_expand() {
        assert_eq!(expose_ports("80").unwrap(), ["80/tcp"]);
        assert_eq!(expose_ports("53/UDP").unwrap(), ["53/udp"]);
        assert_eq!(expose_ports("8000-8002").unwrap().len(), 3);
        assert!(expose_ports("http").is_err());
        assert!(expose_ports("80/icmp").is_err());
    }

    #[test]
    fn platform_args_split_the_target() {
        let args = platform_args("linux/arm/v7");
        let get = |k: &str| args.iter().find(|(n, _)| n == k).unwrap().1.clone();
        assert_eq!(get("TARGETARCH"), "arm");
        assert_eq!(get("TARGETVARIANT"), "v7");
        assert_eq!(get("BUILDOS"), "linux");
    }
}
