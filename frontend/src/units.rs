//! Sizes as docker writes them, shared by the Dockerfile's flags (`RUN --mount=type=tmpfs,
//! size=…`) and the command line (`prune --keep-storage`).

/// docker's `units.RAMInBytes`: a number, an optional space, an optional k/m/g/t/p, an
/// optional `i` and `b`, binary multiples, case-insensitive.
pub fn ram_in_bytes(text: &str) -> Option<u64> {
    let number_len = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(number_len);
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    let unit = unit.strip_prefix(' ').unwrap_or(unit).to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let power = match unit {
        "" => 0,
        "k" => 1,
        "m" => 2,
        "g" => 3,
        "t" => 4,
        "p" => 5,
        _ => return None,
    };
    Some((value * 1024f64.powi(power)) as u64)
}

#[cfg(test)]
mod tests {
    use super::ram_in_bytes;

    #[test]
    fn sizes_parse_as_go_units_does() {
        assert_eq!(ram_in_bytes("10GB"), Some(10 << 30));
        assert_eq!(ram_in_bytes("512mb"), Some(512 << 20));
        assert_eq!(ram_in_bytes("512 MiB"), Some(512 << 20));
        assert_eq!(ram_in_bytes("1.5g"), Some(3 << 29));
        assert_eq!(ram_in_bytes("2k"), Some(2048));
        assert_eq!(ram_in_bytes("42"), Some(42));
        for bad in [
            "ten",
            "",
            "GB",
            "-1GB",
            "5x",
            "5 gigabytes",
            "1e9",
            ".5k",
            "5.k",
        ] {
            assert_eq!(ram_in_bytes(bad), None, "{bad:?}");
        }
    }
}
