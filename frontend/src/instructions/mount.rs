//! `RUN --mount=type=…,key=value,…` specs (BuildKit's `runmount.go`): a CSV line of
//! `key=value` fields (a few keys stand alone: `ro`, `rw`, `required`), checked per type.
//!
//! BuildKit expands variables in mount values when the RUN runs, not when it is parsed. So
//! does this: [`Mount::parse`] checks what is literal and leaves values that use variables
//! as written ([`Mount::uses_variables`]); the stage resolver calls [`Mount::parse_expanded`]
//! with its expander to get the final mount, checked in full.

/// The mount types BuildKit has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountKind {
    /// A directory from the context, a stage or an image; read-only by default.
    Bind,
    /// A persistent cache directory, kept between builds.
    Cache,
    /// An empty tmpfs.
    Tmpfs,
    /// A secret file (or environment variable) the build does not record.
    Secret,
    /// The SSH agent socket.
    Ssh,
}

/// How concurrent builds share a cache mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// Everyone uses the same directory at once (the default).
    Shared,
    /// A build that finds it in use gets a fresh one.
    Private,
    /// A build waits until the directory is free.
    Locked,
}

/// A parsed mount spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The type (`type=`, default bind).
    pub kind: MountKind,
    /// Where it appears in the container (`target`, `dst`, `destination`).
    pub target: Option<String>,
    /// Path inside `from` (or the context), or the secret's source file (`source`, `src`).
    pub source: Option<String>,
    /// A stage or image to mount from (`from`).
    pub from: Option<String>,
    /// Read-only: explicit `ro`/`rw`, else true except for cache and tmpfs.
    pub readonly: bool,
    /// Cache or secret id (`id`).
    pub id: Option<String>,
    /// Cache sharing mode (`sharing`).
    pub sharing: Option<Sharing>,
    /// Secret or SSH mount: fail when it is not provided (`required`).
    pub required: bool,
    /// File mode for cache, secret and ssh mounts (`mode`, octal).
    pub mode: Option<u32>,
    /// Owner for cache, secret and ssh mounts (`uid`).
    pub uid: Option<u32>,
    /// Group for cache, secret and ssh mounts (`gid`).
    pub gid: Option<u32>,
    /// Size limit of a tmpfs in bytes (`size`, e.g. `64m`).
    pub size: Option<u64>,
    /// Secret exposed as this environment variable (`env`).
    pub env: Option<String>,
    /// The spec as written.
    pub spec: String,
    /// Some values use variables and were left unchecked (their fields keep the defaults):
    /// re-parse [`Mount::spec`] with [`Mount::parse_expanded`] before using the mount.
    pub uses_variables: bool,
}

type Check<T> = Result<T, String>;

/// Expands the variables of one value (the stage resolver's shell lexer).
pub type Expander<'a> = &'a mut dyn FnMut(&str) -> Result<String, String>;

impl Mount {
    /// Parses one `--mount` value without expanding variables.
    pub fn parse(spec: &str) -> Check<Mount> {
        parse_with(spec, None)
    }

    /// Parses one `--mount` value, expanding every value with `expand` first (BuildKit's
    /// second pass); the result is fully checked.
    pub fn parse_expanded(spec: &str, expand: Expander<'_>) -> Check<Mount> {
        parse_with(spec, Some(expand))
    }
}

fn parse_with(spec: &str, mut expand: Option<Expander<'_>>) -> Check<Mount> {
    let mut mount = Mount {
        kind: MountKind::Bind,
        target: None,
        source: None,
        from: None,
        readonly: false,
        id: None,
        sharing: None,
        required: false,
        mode: None,
        uid: None,
        gid: None,
        size: None,
        env: None,
        spec: spec.to_string(),
        uses_variables: false,
    };
    let mut readonly_set = false;
    for field in csv_fields(spec)? {
        let (key, value) = match field.split_once('=') {
            Some((key, value)) => (key.to_lowercase(), value.to_string()),
            None => {
                let key = field.to_lowercase();
                match key.as_str() {
                    "readonly" | "ro" | "readwrite" | "rw" => {
                        mount.readonly = matches!(key.as_str(), "readonly" | "ro");
                        readonly_set = true;
                    }
                    "required" => {
                        only_for(&key, &mount, &[MountKind::Secret, MountKind::Ssh])?;
                        mount.required = true;
                    }
                    _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
                }
                continue;
            }
        };
        let value = match expand.as_mut() {
            Some(expand) => expand(&value)?,
            None if key == "from" && has_variable(&value) => {
                return Err(format!(
                    "'{key}' doesn't support variable expansion, define alias stage instead"
                ))
            }
            None if value.contains('$') && !is_plain_text_key(&key) => {
                mount.uses_variables = true;
                continue;
            }
            None => value,
        };
        if value.contains('$') && expand.is_none() {
            mount.uses_variables = true;
        }
        match key.as_str() {
            "type" => mount.kind = mount_kind(&value)?,
            "from" => mount.from = Some(value),
            "source" | "src" => mount.source = Some(value),
            "target" | "dst" | "destination" => mount.target = Some(value),
            "readonly" | "ro" => {
                mount.readonly = parse_bool(&key, &value)?;
                readonly_set = true;
            }
            "readwrite" | "rw" => {
                mount.readonly = !parse_bool(&key, &value)?;
                readonly_set = true;
            }
            "required" => {
                only_for(&key, &mount, &[MountKind::Secret, MountKind::Ssh])?;
                mount.required = parse_bool(&key, &value)?;
            }
            "size" => {
                only_for(&key, &mount, &[MountKind::Tmpfs])?;
                mount.size = Some(
                    crate::units::ram_in_bytes(&value)
                        .ok_or(format!("invalid value for {key}: {value}"))?,
                );
            }
            "id" => mount.id = Some(value),
            "sharing" => mount.sharing = Some(sharing(&value)?),
            "mode" => {
                let mode = u32::from_str_radix(&value, 8)
                    .map_err(|_| format!("invalid value {value} for mode"))?;
                mount.mode = Some(mode);
            }
            "uid" | "gid" => {
                let number: u32 = value
                    .parse()
                    .map_err(|_| format!("invalid value {value} for {key}"))?;
                if key == "uid" {
                    mount.uid = Some(number);
                } else {
                    mount.gid = Some(number);
                }
            }
            "env" => {
                only_for(&key, &mount, &[MountKind::Secret])?;
                mount.env = Some(value);
            }
            _ => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }
    if !readonly_set {
        mount.readonly = !matches!(mount.kind, MountKind::Cache | MountKind::Tmpfs);
    }
    if !mount.uses_variables {
        validate(&mount)?;
    }
    Ok(mount)
}

/// Keys whose values are plain text, kept as written when they use variables.
fn is_plain_text_key(key: &str) -> bool {
    matches!(
        key,
        "source" | "src" | "target" | "dst" | "destination" | "id" | "env"
    )
}

/// BuildKit refuses `from=$X` (regexp `\$.`).
fn has_variable(value: &str) -> bool {
    value
        .char_indices()
        .any(|(i, c)| c == '$' && value[i + 1..].chars().next().is_some())
}

fn only_for(key: &str, mount: &Mount, kinds: &[MountKind]) -> Check<()> {
    if kinds.contains(&mount.kind) {
        Ok(())
    } else {
        Err(format!(
            "unexpected key '{key}' for mount type '{}'",
            kind_name(mount.kind)
        ))
    }
}

fn validate(mount: &Mount) -> Check<()> {
    let kind = kind_name(mount.kind);
    if !matches!(
        mount.kind,
        MountKind::Secret | MountKind::Ssh | MountKind::Cache
    ) {
        for (name, set) in [
            ("mode", mount.mode.is_some()),
            ("uid", mount.uid.is_some()),
            ("gid", mount.gid.is_some()),
        ] {
            if set {
                return Err(format!("{name} not allowed for {kind:?} type mounts"));
            }
        }
    }
    if mount.kind == MountKind::Secret {
        if mount.from.is_some() {
            return Err("secret mount should not have a from".into());
        }
        if mount.sharing.is_some() {
            return Err("secret mount should not define sharing".into());
        }
        if mount.source.is_none() && mount.target.is_none() && mount.id.is_none() {
            return Err("invalid secret mount: one of source, target required".into());
        }
        if mount.source.is_some() && mount.id.is_some() {
            return Err("both source and id can't be set".into());
        }
    }
    if mount.sharing.is_some() && mount.kind != MountKind::Cache {
        return Err(format!("invalid cache sharing set for {kind} mount"));
    }
    let needs_target = matches!(
        mount.kind,
        MountKind::Bind | MountKind::Cache | MountKind::Tmpfs
    );
    if needs_target && mount.target.as_deref().is_none_or(str::is_empty) {
        return Err(format!(
            "mount target must be specified for {kind} mounts (target=/path)"
        ));
    }
    Ok(())
}

fn kind_name(kind: MountKind) -> &'static str {
    match kind {
        MountKind::Bind => "bind",
        MountKind::Cache => "cache",
        MountKind::Tmpfs => "tmpfs",
        MountKind::Secret => "secret",
        MountKind::Ssh => "ssh",
    }
}

fn mount_kind(value: &str) -> Check<MountKind> {
    Ok(match value.to_lowercase().as_str() {
        "bind" => MountKind::Bind,
        "cache" => MountKind::Cache,
        "tmpfs" => MountKind::Tmpfs,
        "secret" => MountKind::Secret,
        "ssh" => MountKind::Ssh,
        _ => {
            return Err(format!(
                "unsupported mount type {value:?} (use bind, cache, tmpfs, secret or ssh)"
            ))
        }
    })
}

fn sharing(value: &str) -> Check<Sharing> {
    Ok(match value.to_lowercase().as_str() {
        "shared" => Sharing::Shared,
        "private" => Sharing::Private,
        "locked" => Sharing::Locked,
        _ => {
            return Err(format!(
                "unsupported sharing value {value:?} (use shared, private or locked)"
            ))
        }
    })
}

/// Go's `strconv.ParseBool`.
fn parse_bool(key: &str, value: &str) -> Check<bool> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("invalid value for {key}: {value}")),
    }
}

/// The spec's fields (Go's `encoding/csv`, as BuildKit reads it), with BuildKit's messages.
fn csv_fields(spec: &str) -> Check<Vec<String>> {
    let fail = |why: &str| format!("failed to parse csv mounts: {why}");
    if spec.is_empty() {
        return Err(fail("EOF"));
    }
    super::csv::csv_record(spec).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_keys_and_defaults() {
        let cache =
            Mount::parse("type=cache,target=/root/.cache,id=pip,sharing=locked,mode=0700,uid=1")
                .unwrap();
        assert_eq!(cache.kind, MountKind::Cache);
        assert_eq!(cache.target.as_deref(), Some("/root/.cache"));
        assert_eq!(cache.sharing, Some(Sharing::Locked));
        assert_eq!(
            (cache.mode, cache.uid, cache.readonly),
            (Some(0o700), Some(1), false)
        );
        let bind = Mount::parse("target=/src,from=build,source=/out,rw").unwrap();
        assert_eq!((bind.kind, bind.readonly), (MountKind::Bind, false));
        assert!(Mount::parse("type=bind,dst=/x").unwrap().readonly);
        let secret = Mount::parse("type=secret,id=aws,env=AWS,required").unwrap();
        assert!(secret.required && secret.readonly);
        let tmpfs = Mount::parse("type=tmpfs,target=/t,size=64m").unwrap();
        assert_eq!(tmpfs.size, Some(64 << 20));
        let ssh = Mount::parse("type=ssh").unwrap();
        assert_eq!(ssh.target, None);
    }

    #[test]
    fn bad_specs_say_why() {
        let err = |spec: &str| Mount::parse(spec).unwrap_err();
        assert!(err("type=nfs,target=/x").starts_with("unsupported mount type \"nfs\""));
        assert_eq!(
            err("type=bind,foo"),
            "invalid field 'foo' must be a key=value pair"
        );
        assert_eq!(
            err("type=bind,target=/x,foo=1"),
            "unexpected key 'foo' in 'foo=1'"
        );
        assert_eq!(
            err("type=bind,target=/x,required"),
            "unexpected key 'required' for mount type 'bind'"
        );
        assert_eq!(
            err("type=cache,target=/x,size=1m"),
            "unexpected key 'size' for mount type 'cache'"
        );
        assert_eq!(
            err("type=bind,target=/x,mode=0600"),
            "mode not allowed for \"bind\" type mounts"
        );
        assert_eq!(
            err("type=cache,target=/x,mode=9"),
            "invalid value 9 for mode"
        );
        assert_eq!(
            err("type=cache,target=/x,uid=-1"),
            "invalid value -1 for uid"
        );
        assert_eq!(
            err("type=cache,target=/x,ro=maybe"),
            "invalid value for ro: maybe"
        );
        assert_eq!(
            err("type=secret,id=a,from=x"),
            "secret mount should not have a from"
        );
        assert_eq!(
            err("type=secret"),
            "invalid secret mount: one of source, target required"
        );
        assert_eq!(
            err("type=secret,id=a,src=b"),
            "both source and id can't be set"
        );
        assert_eq!(
            err("type=bind,target=/x,sharing=locked"),
            "invalid cache sharing set for bind mount"
        );
        assert!(err("type=cache,target=/x,sharing=all").starts_with("unsupported sharing value"));
        assert!(err("type=cache").starts_with("mount target must be specified"));
        assert!(
            err("type=bind,target=/x,from=$STAGE").contains("doesn't support variable expansion")
        );
        assert!(err("type=bind,ta\"rget=/x").contains("bare \""));
        assert!(err("type=bind,\"tar\"get=/x").contains("extraneous"));
        assert_eq!(err(""), "failed to parse csv mounts: EOF");
    }

    #[test]
    fn variables_are_checked_after_expansion() {
        let raw = Mount::parse("type=cache,target=$HOME/.cache,uid=$UID").unwrap();
        assert!(raw.uses_variables);
        assert_eq!(raw.target.as_deref(), Some("$HOME/.cache"));
        assert_eq!(raw.uid, None);
        let mut expand = |v: &str| Ok(v.replace("$HOME", "/root").replace("$UID", "1000"));
        let done = Mount::parse_expanded(&raw.spec, &mut expand).unwrap();
        assert!(!done.uses_variables);
        assert_eq!(
            (done.target.as_deref(), done.uid),
            (Some("/root/.cache"), Some(1000))
        );
        let mut bad = |v: &str| Ok(v.replace("$UID", "x"));
        assert!(Mount::parse_expanded(&raw.spec, &mut bad).is_err());
    }

    #[test]
    fn csv_quotes() {
        assert_eq!(
            csv_fields("a,\"b,c\",\"d\"\"e\"").unwrap(),
            ["a", "b,c", "d\"e"]
        );
        assert!(csv_fields("\"a\"b").is_err());
    }
}
