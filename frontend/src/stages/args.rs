//! Build arguments BuildKit supplies itself: the platform args (usable in FROM lines without
//! a declaration, inside a stage after `ARG NAME`), `TARGETSTAGE`, and the proxy args (passed
//! to RUN without a declaration, kept out of cache keys and history).

/// The proxy build args (BuildKit matches them case-insensitively).
pub const PROXY_ARGS: [&str; 5] = [
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "FTP_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
];

/// Whether `name` is one of the proxy build args (`http_proxy`, `HTTPS_PROXY`, …).
pub fn is_proxy_arg(name: &str) -> bool {
    PROXY_ARGS.iter().any(|p| p.eq_ignore_ascii_case(name))
}

/// The names of the automatic args, in BuildKit's order.
const PREDEFINED: [&str; 11] = [
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDOSVERSION",
    "BUILDARCH",
    "BUILDVARIANT",
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETOSVERSION",
    "TARGETARCH",
    "TARGETVARIANT",
    "TARGETSTAGE",
];

/// Whether `name` is one of the automatic args.
pub fn is_platform_arg(name: &str) -> bool {
    PREDEFINED.contains(&name)
}

/// The automatic platform args for building `target` on this machine, without `TARGETSTAGE`
/// (see [`predefined_args`]).
pub fn platform_args(target: &str) -> Vec<(String, String)> {
    let (os, arch, variant) = split_platform(target);
    let build_arch = host_arch();
    let values = [
        format!("linux/{build_arch}"),
        "linux".to_string(),
        String::new(),
        build_arch,
        String::new(),
        target.to_string(),
        os,
        String::new(),
        arch,
        variant,
    ];
    PREDEFINED
        .iter()
        .zip(values)
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// Every automatic arg: the platform args and `TARGETSTAGE` (the stage being built). A
/// `--build-arg` of the same name replaces the value, as in BuildKit.
pub fn predefined_args(
    platform: &str,
    target_stage: &str,
    overrides: &std::collections::BTreeMap<String, String>,
) -> Vec<(String, String)> {
    let mut args = platform_args(platform);
    args.push(("TARGETSTAGE".into(), target_stage.to_string()));
    for (key, value) in &mut args {
        if let Some(given) = overrides.get(key.as_str()) {
            *value = given.clone();
        }
    }
    args
}

/// The machine's architecture in OCI terms.
fn host_arch() -> String {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
    .to_string()
}

fn split_platform(platform: &str) -> (String, String, String) {
    let mut parts = platform.split('/');
    let os = parts.next().unwrap_or("linux").to_string();
    let arch = parts.next().unwrap_or("amd64").to_string();
    let variant = parts.next().unwrap_or("").to_string();
    (os, arch, variant)
}

/// Checks and normalises a `--platform` value (`linux/amd64`, `linux/arm64/v8`, `amd64`,
/// `linux`), as containerd's `platforms.Parse` does for the common forms.
pub fn normalize_platform(text: &str) -> Result<String, String> {
    const OSES: [&str; 6] = ["linux", "windows", "darwin", "freebsd", "netbsd", "openbsd"];
    let lower = text.to_lowercase();
    let parts: Vec<&str> = lower.split('/').collect();
    let valid = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
    };
    if !parts.iter().all(|p| valid(p)) || parts.len() > 3 {
        return Err(format!(
            "failed to parse platform {text}: {text:?}: unknown operating system or architecture: invalid argument"
        ));
    }
    let arch = |a: &str| match a {
        "x86_64" | "x86-64" => "amd64".to_string(),
        "aarch64" => "arm64".to_string(),
        "i386" => "386".to_string(),
        other => other.to_string(),
    };
    Ok(match parts.as_slice() {
        [single] if OSES.contains(single) => format!("{single}/{}", host_arch()),
        [single] => format!("linux/{}", arch(single)),
        [os, a] => format!("{os}/{}", arch(a)),
        [os, a, variant] => format!("{os}/{}/{variant}", arch(a)),
        _ => unreachable!("one to three parts"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_args_split_the_target() {
        let args = platform_args("linux/arm/v7");
        let get = |k: &str| args.iter().find(|(n, _)| n == k).unwrap().1.clone();
        assert_eq!(get("TARGETARCH"), "arm");
        assert_eq!(get("TARGETVARIANT"), "v7");
        assert_eq!(get("TARGETPLATFORM"), "linux/arm/v7");
        assert_eq!(get("BUILDOS"), "linux");
        assert_eq!(get("BUILDPLATFORM"), format!("linux/{}", get("BUILDARCH")));
    }

    #[test]
    fn build_args_override_predefined_values() {
        let overrides = [("TARGETARCH".to_string(), "riscv64".to_string())].into();
        let args = predefined_args("linux/amd64", "final", &overrides);
        let get = |k: &str| args.iter().find(|(n, _)| n == k).unwrap().1.clone();
        assert_eq!(get("TARGETARCH"), "riscv64");
        assert_eq!(get("TARGETSTAGE"), "final");
        assert_eq!(get("TARGETOS"), "linux");
    }

    #[test]
    fn proxy_args_match_in_any_case() {
        assert!(
            is_proxy_arg("http_proxy") && is_proxy_arg("HTTP_PROXY") && is_proxy_arg("All_Proxy")
        );
        assert!(!is_proxy_arg("PROXY"));
    }

    #[test]
    fn platforms_normalise() {
        assert_eq!(normalize_platform("linux/AMD64").unwrap(), "linux/amd64");
        assert_eq!(normalize_platform("linux/x86_64").unwrap(), "linux/amd64");
        assert_eq!(normalize_platform("arm64").unwrap(), "linux/arm64");
        assert_eq!(normalize_platform("linux/arm/v7").unwrap(), "linux/arm/v7");
        assert!(normalize_platform("linux//amd64").is_err());
        assert!(normalize_platform("a/b/c/d").is_err());
        assert!(normalize_platform("").is_err());
    }
}
