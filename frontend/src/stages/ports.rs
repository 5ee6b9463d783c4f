//! EXPOSE port specs, as BuildKit's `parsePortSpec` reads them: `80`, `80/udp`,
//! `8000-8002/tcp`, and (tolerated, host part ignored) `[ip:][hostPort:]containerPort`.

use std::net::IpAddr;

/// Parses one EXPOSE word into `port/proto` keys.
pub fn expose_ports(spec: &str) -> Result<Vec<String>, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (ip, host_port, container) = match parts.as_slice() {
        [c] => ("".to_string(), "", *c),
        [h, c] => ("".to_string(), *h, *c),
        [ip, h, c] => (ip.to_string(), *h, *c),
        [.., h, c] => (parts[..parts.len() - 2].join(":"), *h, *c),
        [] => unreachable!("split yields at least one part"),
    };
    let (port, proto) = container.split_once('/').unwrap_or((container, ""));
    if port.is_empty() {
        return Err(format!("no port specified: {container}<empty>"));
    }
    let proto = match proto.to_lowercase().as_str() {
        "" => "tcp".to_string(),
        p @ ("tcp" | "udp" | "sctp") => p.to_string(),
        other => return Err(format!("invalid proto: {other}")),
    };
    if !ip.is_empty() {
        let bare = ip
            .strip_prefix('[')
            .and_then(|i| i.strip_suffix(']'))
            .unwrap_or(&ip);
        if bare.parse::<IpAddr>().is_err() {
            return Err(format!("invalid IP address: {ip}"));
        }
    }
    let (start, end) = port_range(port).map_err(|_| format!("invalid containerPort: {port}"))?;
    if !host_port.is_empty() {
        let (host_start, host_end) =
            port_range(host_port).map_err(|_| format!("invalid hostPort: {host_port}"))?;
        if end - start != host_end - host_start && end != start {
            return Err(format!(
                "invalid ranges specified for container and host Ports: {port} and {host_port}"
            ));
        }
    }
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

fn port_range(text: &str) -> Result<(u32, u32), String> {
    let number = |p: &str| p.parse::<u16>().map(u32::from).map_err(|e| e.to_string());
    match text.split_once('-') {
        None => number(text).map(|p| (p, p)),
        Some((a, b)) if !b.contains('-') => {
            let (start, end) = (number(a)?, number(b)?);
            if end < start {
                Err(format!("invalid range specified for port: {text}"))
            } else {
                Ok((start, end))
            }
        }
        Some(_) => Err(format!("invalid port range format: {text}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_default_to_tcp_and_ranges_expand() {
        assert_eq!(expose_ports("80").unwrap(), ["80/tcp"]);
        assert_eq!(expose_ports("53/UDP").unwrap(), ["53/udp"]);
        assert_eq!(
            expose_ports("8000-8002").unwrap(),
            ["8000/tcp", "8001/tcp", "8002/tcp"]
        );
        assert_eq!(expose_ports("127.0.0.1:8080:80").unwrap(), ["80/tcp"]);
        assert_eq!(expose_ports("[::1]:8080:80/sctp").unwrap(), ["80/sctp"]);
    }

    #[test]
    fn bad_specs_say_why() {
        assert_eq!(
            expose_ports("http").unwrap_err(),
            "invalid containerPort: http"
        );
        assert_eq!(expose_ports("80/icmp").unwrap_err(), "invalid proto: icmp");
        assert_eq!(
            expose_ports("70000").unwrap_err(),
            "invalid containerPort: 70000"
        );
        assert_eq!(
            expose_ports("/tcp").unwrap_err(),
            "no port specified: /tcp<empty>"
        );
        assert_eq!(
            expose_ports("9-8").unwrap_err(),
            "invalid containerPort: 9-8"
        );
        assert_eq!(expose_ports("x:1:80").unwrap_err(), "invalid IP address: x");
        assert!(expose_ports("1-3:5-6").is_err());
    }
}
