//! Entitlements: what a Dockerfile may ask for only when the person running the build allows
//! it, as buildx's `--allow`. A Dockerfile from an unreviewed pull request must not be able to
//! leave the sandbox by writing `RUN --network=host` or `RUN --security=insecure`.

use strata_frontend::graph::{Graph, Op};

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
    pub fn check(&self, graph: &Graph) -> Result<()> {
        for vertex in &graph.vertices {
            let Op::Exec(exec) = &vertex.op else { continue };
            let network = Network::parse(&exec.network).ok_or_else(|| Error::Unsupported {
                what: format!("unknown network mode `{}`", exec.network),
            });
            let security = Security::parse(&exec.security).ok_or_else(|| Error::Unsupported {
                what: format!("unknown security mode `{}`", exec.security),
            });
            let missing = match (network, security) {
                (Err(error), _) | (_, Err(error)) => Some(error),
                (Ok(Network::Host), _) if !self.network_host => Some(Error::Entitlement {
                    wanted: "network.host",
                }),
                (_, Ok(Security::Insecure)) if !self.security_insecure => {
                    Some(Error::Entitlement {
                        wanted: "security.insecure",
                    })
                }
                _ => None,
            };
            if let Some(error) = missing {
                return Err(Error::Step {
                    step: vertex.name.clone(),
                    lines: vertex.lines,
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
        let error = Entitlements::default().check(&g).unwrap_err().to_string();
        assert!(error.contains("network.host"), "{error}");
        assert!(error.contains("line 3"), "{error}");
        let allowed = Entitlements {
            network_host: true,
            ..Entitlements::default()
        };
        allowed.check(&g).unwrap();
    }

    #[test]
    fn insecure_needs_its_own_entitlement() {
        let g = graph("FROM scratch\nRUN --security=insecure b\n", "default");
        let network_only = Entitlements {
            network_host: true,
            ..Entitlements::default()
        };
        let error = network_only.check(&g).unwrap_err().to_string();
        assert!(error.contains("security.insecure"), "{error}");
        let mut all = Entitlements::default();
        all.allow("security.insecure").unwrap();
        all.check(&g).unwrap();
    }

    #[test]
    fn default_and_none_need_nothing() {
        let text = "FROM scratch\nRUN a\nRUN --network=none b\nRUN --network=default c\n";
        Entitlements::default()
            .check(&graph(text, "default"))
            .unwrap();
    }

    #[test]
    fn the_build_network_host_makes_every_default_run_need_it() {
        // The command line's `--network host` grants the entitlement itself (see the CLI);
        // the graph alone says host for every RUN that did not choose.
        let g = graph("FROM scratch\nRUN a\n", "host");
        assert!(Entitlements::default().check(&g).is_err());
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
