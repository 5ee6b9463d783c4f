//! Entitlements: what a Dockerfile may ask for only when the person running the build allows
//! it, as buildx's `--allow`. A Dockerfile from an unreviewed pull request must not be able to
//! leave the sandbox by writing `RUN --network=host` or `RUN --security=insecure`.

use strata_frontend::graph::{Graph, Op};

use super::ops;
use super::scheduler::place;
use super::Dockerfile;
use crate::error::{Error, Result};
use crate::sandbox::{Network, Security};

/// What the build allows beyond the sandbox's defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Entitlements {
    /// `network.host`: RUN may share the host's network.
    pub network_host: bool,
    /// `security.insecure`: RUN may run with every capability and no seccomp filter.
    pub security_insecure: bool,
}

impl Entitlements {
    /// Adds one entitlement by its buildx name (`network.host`, `security.insecure`).
    pub fn allow(&mut self, name: &str) -> Result<()> {
        match name {
            "network.host" => self.network_host = true,
            "security.insecure" => self.security_insecure = true,
            other => {
                return Err(Error::Unsupported {
                    what: format!(
                        "unknown entitlement `{other}` (known: network.host, security.insecure)"
                    ),
                })
            }
        }
        Ok(())
    }

    /// Fails on the first RUN that needs an entitlement not granted, naming the step and its
    /// Dockerfile lines: before anything runs, as BuildKit refuses the whole solve.
    pub fn check(&self, graph: &Graph, dockerfile: &Dockerfile<'_>) -> Result<()> {
        for vertex in &graph.vertices {
            let Op::Exec(exec) = &vertex.op else { continue };
            let missing = match ops::modes(exec) {
                Err(error) => Some(error),
                Ok((Network::Host, _)) if !self.network_host => Some(Error::Entitlement {
                    wanted: "network.host",
                }),
                Ok((_, Security::Insecure)) if !self.security_insecure => {
                    Some(Error::Entitlement {
                        wanted: "security.insecure",
                    })
                }
                Ok(_) => None,
            };
            if let Some(error) = missing {
                return Err(Error::Step {
                    step: vertex.name.clone(),
                    place: Box::new(place(vertex, dockerfile.path, dockerfile.text)),
                    source: Box::new(error),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_frontend::{compile_text, BuildOptions};

    fn graph(dockerfile: &str, network: &str) -> Graph {
        let options = BuildOptions {
            network: network.into(),
            ..BuildOptions::default()
        };
        compile_text(dockerfile, &options).unwrap()
    }

    #[test]
    fn run_network_host_needs_the_entitlement() {
        let g = graph("FROM scratch\nRUN a\nRUN --network=host b\n", "default");
        let error = Entitlements::default()
            .check(&g, &Dockerfile::default())
            .unwrap_err()
            .to_string();
        assert!(error.contains("network.host"), "{error}");
        assert!(error.starts_with("Dockerfile:3: "), "{error}");
        let allowed = Entitlements {
            network_host: true,
            ..Entitlements::default()
        };
        allowed.check(&g, &Dockerfile::default()).unwrap();
    }

    #[test]
    fn insecure_needs_its_own_entitlement() {
        let g = graph("FROM scratch\nRUN --security=insecure b\n", "default");
        let network_only = Entitlements {
            network_host: true,
            ..Entitlements::default()
        };
        let error = network_only
            .check(&g, &Dockerfile::default())
            .unwrap_err()
            .to_string();
        assert!(error.contains("security.insecure"), "{error}");
        let mut all = Entitlements::default();
        all.allow("security.insecure").unwrap();
        all.check(&g, &Dockerfile::default()).unwrap();
    }

    #[test]
    fn default_and_none_need_nothing() {
        let text = "FROM scratch\nRUN a\nRUN --network=none b\nRUN --network=default c\n";
        Entitlements::default()
            .check(&graph(text, "default"), &Dockerfile::default())
            .unwrap();
    }

    #[test]
    fn the_build_network_host_makes_every_default_run_need_it() {
        // The command line's `--network host` grants the entitlement itself (see the CLI);
        // the graph alone says host for every RUN that did not choose.
        let g = graph("FROM scratch\nRUN a\n", "host");
        assert!(Entitlements::default()
            .check(&g, &Dockerfile::default())
            .is_err());
    }

    #[test]
    fn unknown_entitlements_are_refused() {
        let error = Entitlements::default()
            .allow("device")
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown entitlement `device`"), "{error}");
    }
}
