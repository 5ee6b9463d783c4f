//! Vertex definition digests.
//!
//! A digest is the sha256 of a canonical encoding of the op (JSON from its `Serialize`
//! derive, plus the mounts in a fixed field order) followed by its inputs' digests. Proxy
//! environment values are left out, as BuildKit leaves them out of its cache keys. The
//! encoding is versioned by [`GRAPH_FORMAT`]: bump it whenever the encoding of an op changes,
//! so that caches keyed on old digests miss instead of matching different work.

use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::{MountSource, Op, RunMount};
use crate::instructions::{MountKind, Sharing};

/// The version of the digest encoding (part of every digest).
pub const GRAPH_FORMAT: &str = "strata-vertex-v2";

/// Computes a vertex digest from its op and its inputs' digests (in input order).
pub fn digest_of(op: &Op, input_digests: &[&str]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(GRAPH_FORMAT.as_bytes());
    hasher.update(b"\0");
    let encoded = match op {
        Op::Exec(exec) if !exec.proxy_env.is_empty() => {
            let mut exec = exec.clone();
            exec.env.retain(|(k, _)| !exec.proxy_env.contains(k));
            serde_json::to_vec(&Op::Exec(exec))
        }
        _ => serde_json::to_vec(op),
    };
    hasher.update(encoded.expect("ops are plain data and always serialise"));
    if let Op::Exec(exec) = op {
        for mount in &exec.mounts {
            hasher.update(b"\0mount");
            hasher.update(mount_json(mount).to_string().as_bytes());
        }
    }
    for input in input_digests {
        hasher.update(b"\0");
        hasher.update(input.as_bytes());
    }
    hex::encode(hasher.finalize())
}

fn mount_json(run: &RunMount) -> serde_json::Value {
    let m = &run.mount;
    let source = match &run.source {
        MountSource::None => json!("none"),
        MountSource::Context => json!("context"),
        MountSource::Scratch => json!("scratch"),
        // Which stage is covered by the input's digest; the slot number is not stable.
        MountSource::Stage(_) => json!("stage"),
        MountSource::Image(reference) => json!({ "image": reference }),
        MountSource::NamedContext(name) => json!({ "context": name }),
    };
    json!({
        "type": kind_name(m.kind),
        "target": m.target,
        "source": m.source,
        "from": source,
        "readonly": m.readonly,
        "id": m.id,
        "sharing": m.sharing.map(sharing_name),
        "required": m.required,
        "mode": m.mode,
        "uid": m.uid,
        "gid": m.gid,
        "size": m.size,
        "env": m.env,
        "input": run.input,
    })
}

/// The `type=` word of a mount kind.
pub(crate) fn kind_name(kind: MountKind) -> &'static str {
    match kind {
        MountKind::Bind => "bind",
        MountKind::Cache => "cache",
        MountKind::Tmpfs => "tmpfs",
        MountKind::Secret => "secret",
        MountKind::Ssh => "ssh",
    }
}

fn sharing_name(sharing: Sharing) -> &'static str {
    match sharing {
        Sharing::Shared => "shared",
        Sharing::Private => "private",
        Sharing::Locked => "locked",
    }
}
