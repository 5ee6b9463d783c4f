//! `strata ps`: the containers `strata run` kept (and the ones running now). There is no
//! daemon, so a container runs only while the `strata run` that started it does.

use std::process::ExitCode;

use strata_cache::ContainerRecord;

use crate::Global;

/// Arguments of `strata ps`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Show every container (by default only running ones).
    #[arg(short, long)]
    pub all: bool,
    /// Only print container IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Do not cut the IDs and commands short.
    #[arg(long)]
    pub no_trunc: bool,
}

/// Runs `strata ps`.
pub fn run(global: &Global, args: Args) -> anyhow::Result<ExitCode> {
    let store = crate::store::open(global)?;
    let containers = store.containers();
    let now = strata_cache::now();
    let mut rows = Vec::new();
    // Newest first, as docker.
    for record in containers.list()?.into_iter().rev() {
        let running = containers.is_running(&record.id);
        if !args.all && !running {
            continue;
        }
        rows.push((status(&record, running, now), record));
    }
    if args.quiet {
        for (_, record) in &rows {
            println!("{}", id(&record.id, args.no_trunc));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let line = |cells: [&str; 6]| {
        let text = format!(
            "{:<14}{:<22}{:<24}{:<18}{:<26}{}",
            cells[0], cells[1], cells[2], cells[3], cells[4], cells[5]
        );
        println!("{}", text.trim_end());
    };
    line([
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "NAMES",
    ]);
    for (status, record) in &rows {
        let command = format!(
            "\"{}\"",
            truncate(&record.command.join(" "), 20, args.no_trunc)
        );
        line([
            &id(&record.id, args.no_trunc),
            &record.image,
            &command,
            &format!("{} ago", ago(now - record.created)),
            status,
            &record.name,
        ]);
    }
    Ok(ExitCode::SUCCESS)
}

fn id(id: &str, no_trunc: bool) -> String {
    if no_trunc {
        id.to_string()
    } else {
        id[..12.min(id.len())].to_string()
    }
}

fn truncate(text: &str, max: usize, no_trunc: bool) -> String {
    if no_trunc || text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max - 1).collect();
    format!("{cut}…")
}

fn status(record: &ContainerRecord, running: bool, now: i64) -> String {
    if running {
        return format!("Up {}", ago(now - record.created));
    }
    match (record.exit_code, record.finished) {
        (Some(code), Some(finished)) => format!("Exited ({code}) {} ago", ago(now - finished)),
        // The `strata run` was killed before it could record the end.
        _ => "Exited (unknown)".into(),
    }
}

/// docker's coarse durations: `5 seconds`, `3 minutes`, `2 hours`, `4 days`.
fn ago(seconds: i64) -> String {
    let seconds = seconds.max(0);
    let (n, unit) = match seconds {
        0..60 => (seconds, "second"),
        60..3600 => (seconds / 60, "minute"),
        3600..86400 => (seconds / 3600, "hour"),
        _ => (seconds / 86400, "day"),
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}
