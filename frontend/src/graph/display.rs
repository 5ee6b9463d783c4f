//! The human-readable form of a graph (`strata debug graph`). Stable: one vertex per block in
//! dependency order, then the stages with their config and history, then what the build reads
//! from the context. Warnings are not part of it: callers print them where findings go.
//! Tests and users diff it, so change it deliberately.

use std::fmt::{self, Write as _};

use super::digest::kind_name;
use super::{CopyFrom, CopyOp, CopySource, ExecOp, Graph, MountSource, Op, Stage, Vertex};

impl fmt::Display for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (id, vertex) in self.vertices.iter().enumerate() {
            write_vertex(f, id, vertex)?;
        }
        for (slot, stage) in self.stages.iter().enumerate() {
            write_stage(f, stage, slot == self.target)?;
        }
        if !self.context_paths.is_empty() {
            writeln!(f, "context reads: {}", self.context_paths.join(" "))?;
        }
        Ok(())
    }
}

fn write_vertex(f: &mut fmt::Formatter<'_>, id: usize, vertex: &Vertex) -> fmt::Result {
    let inputs: Vec<String> = vertex.inputs.iter().map(|i| format!("v{i}")).collect();
    let arrow = if inputs.is_empty() {
        String::new()
    } else {
        format!(" <- {}", inputs.join(", "))
    };
    let short = vertex.digest.get(..12).unwrap_or(&vertex.digest);
    writeln!(f, "v{id} {short} {}{arrow}", headline(&vertex.op))?;
    if !vertex.name.is_empty() {
        writeln!(f, "    {}", vertex.name)?;
    }
    match &vertex.op {
        Op::Exec(exec) => write_exec(f, exec),
        Op::Copy(copy) => write_copy(f, copy),
        _ => Ok(()),
    }
}

fn headline(op: &Op) -> String {
    match op {
        Op::Image {
            reference,
            platform,
        } => format!("image {reference} ({platform})"),
        Op::Scratch => "scratch".into(),
        Op::Context => "context".into(),
        Op::NamedContext { name } => format!("context {name}"),
        Op::Exec(exec) => format!("exec {}", quoted_list(&exec.argv)),
        Op::Copy(copy) => {
            let sources: Vec<String> = copy
                .sources
                .iter()
                .map(|s| match s {
                    CopySource::Path(p) => p.clone(),
                    CopySource::Inline { name, .. } => format!("<<{name}"),
                })
                .collect();
            let from = match &copy.from {
                CopyFrom::Context => "context".to_string(),
                CopyFrom::Stage(i) => format!("stage {i}"),
                CopyFrom::Image(r) => format!("image {r}"),
                CopyFrom::NamedContext(name) => format!("context {name}"),
            };
            format!(
                "{} {} -> {} from {from}",
                if copy.add { "add" } else { "copy" },
                quoted_list(&sources),
                copy.dest
            )
        }
        Op::Mkdir { path, user } if user.is_empty() => format!("mkdir {path}"),
        Op::Mkdir { path, user } => format!("mkdir {path} user={user}"),
        Op::Config { created_by } => format!("config {created_by}"),
    }
}

fn write_exec(f: &mut fmt::Formatter<'_>, exec: &ExecOp) -> fmt::Result {
    let mut line = format!("cwd={} network={}", exec.cwd, exec.network);
    if !exec.user.is_empty() {
        let _ = write!(line, " user={}", exec.user);
    }
    if exec.security != "sandbox" {
        let _ = write!(line, " security={}", exec.security);
    }
    writeln!(f, "    {line}")?;
    let env: Vec<String> = exec
        .env
        .iter()
        .map(|(k, v)| {
            let proxy = if exec.is_proxy(k) { " (proxy)" } else { "" };
            format!("{k}={v}{proxy}")
        })
        .collect();
    if !env.is_empty() {
        writeln!(f, "    env {}", quoted_list(&env))?;
    }
    for run in &exec.mounts {
        let m = &run.mount;
        let mut line = format!("mount type={}", kind_name(m.kind));
        for (key, value) in [
            ("target", &m.target),
            ("source", &m.source),
            ("id", &m.id),
            ("env", &m.env),
        ] {
            if let Some(value) = value {
                let _ = write!(line, " {key}={value}");
            }
        }
        if m.readonly {
            line.push_str(" ro");
        }
        match &run.source {
            MountSource::None => {}
            MountSource::Context => line.push_str(" from context"),
            MountSource::Scratch => line.push_str(" from scratch"),
            MountSource::Stage(slot) => {
                let _ = write!(line, " from stage {slot}");
            }
            MountSource::Image(reference) => {
                let _ = write!(line, " from image {reference}");
            }
            MountSource::NamedContext(name) => {
                let _ = write!(line, " from context {name}");
            }
        }
        writeln!(f, "    {line}")?;
    }
    for file in &exec.files {
        writeln!(
            f,
            "    file {} mode={:o} ({} bytes)",
            file.path,
            file.mode,
            file.content.len()
        )?;
    }
    Ok(())
}

fn write_copy(f: &mut fmt::Formatter<'_>, copy: &CopyOp) -> fmt::Result {
    let mut line = format!("workdir={}", copy.workdir);
    if let Some(chown) = &copy.chown {
        let _ = write!(line, " chown={chown}");
    }
    if let Some(mode) = copy.chmod {
        let _ = write!(line, " chmod={mode:04o}");
    }
    if let Some(mode) = &copy.chmod_symbolic {
        let _ = write!(line, " chmod={mode}");
    }
    for (flag, on) in [
        ("link", copy.link),
        ("parents", copy.parents),
        ("keep-git-dir", copy.keep_git_dir),
    ] {
        if on {
            let _ = write!(line, " {flag}");
        }
    }
    if let Some(checksum) = &copy.checksum {
        let _ = write!(line, " checksum={checksum}");
    }
    if !copy.exclude.is_empty() {
        let _ = write!(line, " exclude={}", quoted_list(&copy.exclude));
    }
    writeln!(f, "    {line}")
}

fn write_stage(f: &mut fmt::Formatter<'_>, stage: &Stage, target: bool) -> fmt::Result {
    writeln!(
        f,
        "stage {} {}{} {}: v{} .. v{}",
        stage.index,
        stage.name.as_deref().unwrap_or("-"),
        if target { " (target)" } else { "" },
        stage.platform,
        stage.base,
        stage.last
    )?;
    let c = &stage.config;
    let env: Vec<String> = c.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    writeln!(f, "    env {}", quoted_list(&env))?;
    let mut line = String::new();
    if !c.user.is_empty() {
        let _ = write!(line, " user={}", c.user);
    }
    if !c.workdir.is_empty() {
        let _ = write!(line, " workdir={}", c.workdir);
    }
    if let Some(entrypoint) = &c.entrypoint {
        let _ = write!(line, " entrypoint={}", quoted_list(entrypoint));
    }
    if let Some(cmd) = &c.cmd {
        let _ = write!(line, " cmd={}", quoted_list(cmd));
    }
    if !c.shell.is_empty() {
        let _ = write!(line, " shell={}", quoted_list(&c.shell));
    }
    if !c.exposed_ports.is_empty() {
        let ports: Vec<&str> = c.exposed_ports.iter().map(String::as_str).collect();
        let _ = write!(line, " expose={}", ports.join(","));
    }
    if !c.volumes.is_empty() {
        let volumes: Vec<&str> = c.volumes.iter().map(String::as_str).collect();
        let _ = write!(line, " volumes={}", volumes.join(","));
    }
    if let Some(signal) = &c.stop_signal {
        let _ = write!(line, " stopsignal={signal}");
    }
    if !line.is_empty() {
        writeln!(f, "   {line}")?;
    }
    for (key, value) in &c.labels {
        writeln!(f, "    label {key}={value}")?;
    }
    for (entry, vertex) in &stage.history {
        let made = match vertex {
            Some(v) => format!("v{v}"),
            None => "empty".into(),
        };
        writeln!(f, "    history [{made}] {}", entry.created_by)?;
    }
    Ok(())
}

/// `["a", "b c"]`: Rust's debug quoting of each item, comma separated.
fn quoted_list(items: &[String]) -> String {
    format!("{items:?}")
}
