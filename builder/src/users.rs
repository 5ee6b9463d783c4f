//! Resolving `USER` and `--chown` specs against an image's `/etc/passwd` and `/etc/group`.
//!
//! Both RUN (the sandbox switches to the user) and COPY/ADD `--chown` need the same answers, and
//! both must read the files of the image being built, never the host's.

use crate::error::{Error, Result};

/// A resolved identity.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identity {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary group ids (from `/etc/group` membership), for RUN.
    pub additional_gids: Vec<u32>,
    /// The user's home directory when known (sets `HOME` for RUN, as docker does).
    pub home: Option<String>,
}

/// One `/etc/passwd` line.
#[derive(Debug, Clone)]
struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

/// One `/etc/group` line.
#[derive(Debug, Clone)]
struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// The image's user database; `read` gives the content of a path inside the image, if any.
pub struct UserDb {
    passwd: Vec<PasswdEntry>,
    groups: Vec<GroupEntry>,
}

impl UserDb {
    /// Reads `/etc/passwd` and `/etc/group` through `read` (missing files mean empty databases).
    pub fn load(read: impl Fn(&str) -> Option<Vec<u8>>) -> Self {
        let text = |path| read(path).map(|b| String::from_utf8_lossy(&b).into_owned());
        UserDb {
            passwd: text("/etc/passwd")
                .map(|t| parse_passwd(&t))
                .unwrap_or_default(),
            groups: text("/etc/group")
                .map(|t| parse_group(&t))
                .unwrap_or_default(),
        }
    }

    /// Resolves a RUN-time `USER` (`name`, `uid`, `uid:gid`, `name:group`, …). A user without a
    /// group gets the primary group from `/etc/passwd` (gid 0 for an unknown numeric uid) and the
    /// supplementary groups it is a member of, as docker does.
    pub fn resolve_user(&self, spec: &str) -> Result<Identity> {
        let (user, group) = split_spec(spec);
        let entry = self.find_user(user);
        let (uid, primary_gid, home, name) = match (user.parse::<u32>(), entry) {
            (_, Some(e)) => (e.uid, e.gid, Some(e.home.clone()), Some(e.name.clone())),
            (Ok(uid), None) => (uid, 0, None, None),
            (Err(_), None) => return Err(unknown("user", user, "/etc/passwd")),
        };
        let gid = match group {
            Some(group) => self.resolve_group(group)?,
            None => primary_gid,
        };
        let additional_gids = match (&name, group) {
            (Some(name), None) => self
                .groups
                .iter()
                .filter(|g| g.members.iter().any(|m| m == name) && g.gid != gid)
                .map(|g| g.gid)
                .collect(),
            _ => Vec::new(),
        };
        Ok(Identity {
            uid,
            gid,
            additional_gids,
            home,
        })
    }

    /// Resolves a COPY/ADD `--chown` spec. Without a group, the gid is the uid's numeric value
    /// for a numeric user and the user's primary group for a name (BuildKit's rule). An empty
    /// user or group is id 0 (`--chown=${U}:${G}` with both unset is `0:0`): BuildKit's LLB
    /// sends an empty name as the numeric id 0.
    pub fn resolve_chown(&self, spec: &str) -> Result<(u32, u32)> {
        let (user, group) = split_spec(spec);
        let (user, group) = (numeric_if_empty(user), group.map(numeric_if_empty));
        let uid = match user.parse::<u32>() {
            Ok(uid) => uid,
            Err(_) => {
                self.find_user(user)
                    .ok_or_else(|| unknown("user", user, "/etc/passwd"))?
                    .uid
            }
        };
        let gid = match group {
            Some(group) => self.resolve_group(group)?,
            None => match user.parse::<u32>() {
                Ok(numeric) => numeric,
                Err(_) => self.find_user(user).map(|e| e.gid).unwrap_or(uid),
            },
        };
        Ok((uid, gid))
    }

    fn find_user(&self, user: &str) -> Option<&PasswdEntry> {
        self.passwd.iter().find(|e| e.name == user).or_else(|| {
            let uid = user.parse::<u32>().ok()?;
            self.passwd.iter().find(|e| e.uid == uid)
        })
    }

    fn resolve_group(&self, group: &str) -> Result<u32> {
        if let Ok(gid) = group.parse::<u32>() {
            return Ok(gid);
        }
        self.groups
            .iter()
            .find(|g| g.name == group)
            .map(|g| g.gid)
            .ok_or_else(|| unknown("group", group, "/etc/group"))
    }
}

fn numeric_if_empty(name: &str) -> &str {
    if name.is_empty() {
        "0"
    } else {
        name
    }
}

fn split_spec(spec: &str) -> (&str, Option<&str>) {
    match spec.split_once(':') {
        Some((user, group)) => (user, Some(group)),
        None => (spec, None),
    }
}

fn unknown(kind: &str, name: &str, file: &str) -> Error {
    Error::UnknownIdentity {
        what: format!("{kind} `{name}`"),
        file: file.to_string(),
    }
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.len() >= 4).then(|| {
                Some(PasswdEntry {
                    name: fields[0].to_string(),
                    uid: fields[2].parse().ok()?,
                    gid: fields[3].parse().ok()?,
                    home: fields.get(5).unwrap_or(&"/").to_string(),
                })
            })?
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.len() >= 3).then(|| {
                Some(GroupEntry {
                    name: fields[0].to_string(),
                    gid: fields[2].parse().ok()?,
                    members: fields
                        .get(3)
                        .map(|m| {
                            m.split(',')
                                .filter(|s| !s.is_empty())
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default(),
                })
            })?
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> UserDb {
        UserDb::load(|path| match path {
            "/etc/passwd" => Some(
                b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:app:/home/app:/bin/sh\n".to_vec(),
            ),
            "/etc/group" => Some(b"root:x:0:\nstaff:x:50:app,other\napp:x:1001:\n".to_vec()),
            _ => None,
        })
    }

    #[test]
    fn run_users_resolve_names_ids_and_groups() {
        let db = db();
        let app = db.resolve_user("app").unwrap();
        assert_eq!(
            (app.uid, app.gid, app.additional_gids.clone()),
            (1000, 1001, vec![50])
        );
        assert_eq!(app.home.as_deref(), Some("/home/app"));
        assert_eq!(db.resolve_user("1000").unwrap().gid, 1001);
        assert_eq!(db.resolve_user("4242").unwrap().gid, 0);
        let explicit = db.resolve_user("app:staff").unwrap();
        assert_eq!((explicit.gid, explicit.additional_gids), (50, vec![]));
        assert_eq!(db.resolve_user("5:6").unwrap().gid, 6);
    }

    #[test]
    fn chown_without_group_follows_buildkit() {
        let db = db();
        assert_eq!(db.resolve_chown("app").unwrap(), (1000, 1001));
        assert_eq!(db.resolve_chown("1234").unwrap(), (1234, 1234));
        assert_eq!(db.resolve_chown("app:staff").unwrap(), (1000, 50));
        // Empty names (unset variables) are id 0, as docker 20.10's BuildKit gives them.
        assert_eq!(db.resolve_chown(":").unwrap(), (0, 0));
        assert_eq!(db.resolve_chown(":staff").unwrap(), (0, 50));
        assert_eq!(db.resolve_chown("app:").unwrap(), (1000, 0));
    }

    #[test]
    fn unknown_names_are_errors_naming_the_file() {
        let db = db();
        let err = db.resolve_user("nobody").unwrap_err().to_string();
        assert!(
            err.contains("user `nobody`") && err.contains("/etc/passwd"),
            "{err}"
        );
        let err = db.resolve_chown("app:wheel").unwrap_err().to_string();
        assert!(
            err.contains("group `wheel`") && err.contains("/etc/group"),
            "{err}"
        );
    }
}
