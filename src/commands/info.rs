//! `strata info`: which isolation mode this environment allows, why the others are not
//! available and how to fix that, and the facts behind it (store, kernel, user, network
//! helpers). Data on stdout.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use strata_builder::sandbox::{
    choose, find_program, tun_usable, Environment, Isolation, Problem, Refused,
};

use crate::Global;

/// Arguments of `strata info` (none).
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `strata info`.
pub fn run(global: &Global, _args: Args) -> anyhow::Result<ExitCode> {
    let root = global
        .root
        .clone()
        .unwrap_or_else(crate::store::default_root);
    // The trial overlay goes where the store's overlays will be (a user namespace's overlay
    // needs user xattrs on that filesystem); a store not made yet has an existing parent.
    let trial_dir = existing_ancestor(&root);
    let environment = trial_dir
        .as_deref()
        .and_then(|dir| Environment::probe_all(Some(dir)).ok())
        .map_or_else(|| Environment::probe_all(None), Ok)?;
    print!("{}", render(global, &root, &environment));
    Ok(ExitCode::SUCCESS)
}

fn existing_ancestor(path: &Path) -> Option<PathBuf> {
    path.ancestors()
        .find(|p| p.is_dir() && !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
}

/// The report's text.
fn render(global: &Global, root: &Path, environment: &Environment) -> String {
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    let (uid, gid) = environment.ids;
    line(format!("store: {}", root.display()));
    line(format!("kernel: {}", environment.kernel));
    line(format!(
        "user: {} (uid {uid}, gid {gid})",
        environment.user.as_deref().unwrap_or("?")
    ));
    let requested = global.isolation.mode();
    let label = match requested {
        Some(mode) => format!("isolation (--isolation {mode})"),
        None => "isolation (auto)".to_string(),
    };
    match choose(requested, environment) {
        Ok(chosen) => line(format!("{label}: {} ({})", chosen.isolation, chosen.why)),
        Err(_) => line(format!("{label}: not available (see below)")),
    }
    for mode in Isolation::ALL {
        let (problems, limits, facts) = match mode {
            Isolation::Namespaces => (
                environment.namespaces_problems(),
                Vec::new(),
                probe_facts("namespaces and mounts", environment.namespaces.as_ref()),
            ),
            Isolation::Rootless => {
                let problems = environment.rootless_problems();
                // Limits matter only where the mode works at all.
                let limits = if problems.is_empty() {
                    environment.rootless_limits()
                } else {
                    Vec::new()
                };
                (problems, limits, rootless_facts(environment))
            }
            Isolation::Chroot => (environment.chroot_problems(), Vec::new(), Vec::new()),
        };
        let state = match (problems.is_empty(), limits.is_empty()) {
            (false, _) => "not available",
            (true, false) => "available, with limits",
            (true, true) => "available",
        };
        line(format!("{mode}: {state}"));
        for fact in facts {
            line(format!("  {fact}"));
        }
        for Problem { what, fix } in problems.iter().chain(&limits) {
            line(format!("  - {what}"));
            line(format!("    fix: {fix}"));
        }
    }
    line("network:".into());
    for program in ["slirp4netns", "pasta"] {
        let found = find_program(program)
            .map_or_else(|| "not found".to_string(), |p| p.display().to_string());
        line(format!("  {program}: {found}"));
    }
    line(format!(
        "  /dev/net/tun: {}",
        tun_usable().map_or_else(|why| why, |()| "usable".to_string())
    ));
    out
}

/// What a namespace probe found, as a line.
fn probe_facts(what: &str, probe: Option<&Result<(), Refused>>) -> Vec<String> {
    match probe {
        Some(Ok(())) => vec![format!("{what}: allowed")],
        Some(Err(refused)) => vec![format!("{what}: refused ({refused})")],
        None => Vec::new(),
    }
}

fn rootless_facts(environment: &Environment) -> Vec<String> {
    let mut facts = probe_facts(
        "user namespace with an overlay",
        environment.user_namespace.as_ref(),
    );
    if let Some(max) = environment.sysctls.max_user_namespaces {
        facts.push(format!("user.max_user_namespaces: {max}"));
    }
    let ranges = |ranges: &[strata_builder::sandbox::rootless::SubidRange]| {
        if ranges.is_empty() {
            return "none".to_string();
        }
        ranges
            .iter()
            .map(|r| {
                format!(
                    "{}-{}",
                    r.start,
                    u64::from(r.start) + u64::from(r.count) - 1
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    facts.push(format!(
        "subordinate uids: {}",
        ranges(&environment.subuids)
    ));
    facts.push(format!(
        "subordinate gids: {}",
        ranges(&environment.subgids)
    ));
    if let Ok((newuidmap, newgidmap)) = &environment.helpers {
        facts.push(format!(
            "id map helpers: {}, {}",
            newuidmap.display(),
            newgidmap.display()
        ));
    }
    facts
}
