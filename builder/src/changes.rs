//! `--change` lines (`strata import`, `strata commit`): Dockerfile instructions applied to an
//! empty config, with the frontend's own parser, as `docker import --change` does.

use strata_frontend::config::ImageConfig;
use strata_frontend::{compile, parser, BuildOptions, UnknownBaseImages};

use crate::error::{Error, Result};

/// The instructions `docker import --change` accepts.
pub const CHANGE_INSTRUCTIONS: [&str; 10] = [
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "LABEL",
    "ONBUILD",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// The container config `--change` lines give (in order; later lines see earlier ENVs).
pub fn config_from_changes(changes: &[String]) -> Result<ImageConfig> {
    let mut dockerfile = String::from("FROM scratch\n");
    for change in changes {
        let change_err = |reason: String| Error::Change {
            change: change.clone(),
            reason,
        };
        let keyword = change
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_uppercase();
        if !CHANGE_INSTRUCTIONS.contains(&keyword.as_str()) {
            return Err(change_err(format!(
                "{} is not allowed (allowed: {})",
                if keyword.is_empty() {
                    "an empty line"
                } else {
                    &keyword
                },
                CHANGE_INSTRUCTIONS.join(", ")
            )));
        }
        if change.contains('\n') {
            return Err(change_err("one instruction per --change".into()));
        }
        // Each line on its own first, so an error names the line it is about.
        let alone = format!("FROM scratch\n{change}\n");
        parser::parse(&alone)
            .and_then(|ast| compile(&ast, &BuildOptions::default(), &UnknownBaseImages))
            .map_err(|e| change_err(e.message().to_string()))?;
        dockerfile.push_str(change);
        dockerfile.push('\n');
    }
    let ast = parser::parse(&dockerfile).map_err(|e| Error::Change {
        change: changes.join("; "),
        reason: e.message().to_string(),
    })?;
    let graph =
        compile(&ast, &BuildOptions::default(), &UnknownBaseImages).map_err(|e| Error::Change {
            change: changes.join("; "),
            reason: e.message().to_string(),
        })?;
    let mut config = graph.target_stage().config.clone();
    // `FROM scratch` gives a default PATH; an import has only what --change says.
    let sets_path = changes.iter().any(|c| {
        let upper = c.trim_start().to_uppercase();
        upper.starts_with("ENV") && c.contains("PATH")
    });
    if !sets_path {
        config.env.retain(|(k, _)| k != "PATH");
    }
    // Nor the empty image's WorkingDir "/": `docker import` leaves it unset.
    let sets_workdir = changes
        .iter()
        .any(|c| c.trim_start().to_uppercase().starts_with("WORKDIR"));
    if !sets_workdir {
        config.workdir.clear();
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_applies_changes_and_rejects_what_docker_rejects() {
        let changes = |lines: &[&str]| {
            config_from_changes(&lines.iter().map(|l| l.to_string()).collect::<Vec<_>>())
        };
        let config = changes(&[
            "ENV A=1 B=two",
            "CMD [\"sh\", \"-c\", \"echo $A\"]",
            "WORKDIR /srv",
            "EXPOSE 80/tcp",
            "LABEL k=v",
            "USER app",
            "VOLUME /data",
            "STOPSIGNAL SIGTERM",
            "ENTRYPOINT [\"/init\"]",
            "ONBUILD RUN make",
        ])
        .unwrap();
        assert_eq!(
            config.env,
            vec![("A".into(), "1".into()), ("B".into(), "two".into())]
        );
        assert_eq!(config.workdir, "/srv");
        assert_eq!(config.user, "app");
        assert!(config.exposed_ports.contains("80/tcp"));
        assert_eq!(config.onbuild, vec!["RUN make".to_string()]);
        for bad in ["RUN make", "FROM x", "COPY a b", "ENV", ""] {
            let error = changes(&[bad]).unwrap_err().to_string();
            assert!(error.starts_with("--change"), "{bad}: {error}");
        }
        assert!(
            changes(&[]).unwrap().env.is_empty(),
            "no PATH unless asked for"
        );
    }
}
