//! `/etc/subuid` and `/etc/subgid`: the subordinate id ranges a user may map into a user
//! namespace (through the setuid `newuidmap`/`newgidmap`), one `USER:START:COUNT` per line,
//! USER a login name or a numeric uid, as shadow-utils' `subordinateio.c` reads them.

use std::path::Path;

/// Where the ranges are kept.
pub const SUBUID_FILE: &str = "/etc/subuid";
/// Where the group ranges are kept.
pub const SUBGID_FILE: &str = "/etc/subgid";

/// One subordinate range: `count` ids from `start` on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubidRange {
    /// The first host id.
    pub start: u32,
    /// How many.
    pub count: u32,
}

/// The ranges `file`'s text gives the user named `name` or numbered `id`, in file order.
/// Comments, blank lines, malformed lines and empty ranges are skipped, as shadow-utils does.
pub fn ranges_for(text: &str, name: Option<&str>, id: u32) -> Vec<SubidRange> {
    let id_text = id.to_string();
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| {
            let mut fields = line.split(':');
            let owner = fields.next()?;
            let start = fields.next()?.trim().parse::<u32>().ok()?;
            let count = fields.next()?.trim().parse::<u32>().ok()?;
            if fields.next().is_some() || count == 0 || start.checked_add(count - 1).is_none() {
                return None;
            }
            (Some(owner) == name || owner == id_text).then_some(SubidRange { start, count })
        })
        .collect()
}

/// The ranges for a user read from `path`; none when the file is missing or unreadable.
pub fn read_ranges(path: &Path, name: Option<&str>, id: u32) -> Vec<SubidRange> {
    std::fs::read_to_string(path)
        .map(|text| ranges_for(&text, name, id))
        .unwrap_or_default()
}

/// The login name of `uid` from `/etc/passwd` (or `$USER` when that file does not list it).
pub fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .find_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let _password = fields.next()?;
            (fields.next()?.parse::<u32>().ok()? == uid).then(|| name.to_string())
        })
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# comment
alice:100000:65536
1001:300000:1000

bob:165536:65536
alice:500000:10
broken line
carol:1:0
dave:x:10
erin:4294967295:2
frank:10:20:30
";

    #[test]
    fn ranges_match_by_name_or_uid_in_file_order() {
        assert_eq!(
            ranges_for(FILE, Some("alice"), 1000),
            [
                SubidRange {
                    start: 100000,
                    count: 65536
                },
                SubidRange {
                    start: 500000,
                    count: 10
                }
            ]
        );
        assert_eq!(
            ranges_for(FILE, Some("zed"), 1001),
            [SubidRange {
                start: 300000,
                count: 1000
            }]
        );
        assert_eq!(ranges_for(FILE, None, 1001).len(), 1);
    }

    #[test]
    fn malformed_and_empty_ranges_are_skipped() {
        for user in ["carol", "dave", "erin", "frank", "nobody"] {
            assert_eq!(ranges_for(FILE, Some(user), 4242), [], "{user}");
        }
        assert_eq!(ranges_for("", Some("alice"), 1000), []);
        assert_eq!(
            ranges_for("  alice:7:3  \n", Some("alice"), 1000),
            [SubidRange { start: 7, count: 3 }]
        );
    }
}
