//! `strata login`'s check: the credentials against the registry's `/v2/`, through its token
//! server when it answers with a bearer challenge, as `docker login` does before it stores
//! anything.

use std::collections::HashMap;

use oci_client::errors::OciDistributionError;

use super::auth::Credentials;
use super::classify::registry_error;
use super::client::Registry;
use super::remote::DOCKER_HUB;
use super::retry::Failure;
use super::ErrorKind;
use crate::error::Result;

impl Registry {
    /// Checks credentials against a registry as `docker login` does: `/v2/` with them
    /// (through the token server for registries that use bearer tokens).
    pub fn check_login(&self, registry: &str, credentials: &Credentials) -> Result<()> {
        let host = if registry == DOCKER_HUB {
            "registry-1.docker.io"
        } else {
            registry
        };
        let scheme = if self.is_insecure(registry) {
            "http"
        } else {
            "https"
        };
        let url = format!("{scheme}://{host}/v2/");
        let http = self.http_client()?;
        let classify_reqwest = |e: reqwest::Error| self.classify(registry, e.into());
        let denied = || {
            Failure {
            transient: false,
            error: registry_error(
                ErrorKind::Auth,
                format!("authentication failed: registry {registry}: unauthorized: incorrect username or password"),
            ),
        }
        };
        self.with_retry(registry, |deadline| {
            self.block_on(registry, deadline, async {
                let response = http.get(&url).send().await.map_err(classify_reqwest)?;
                let status = response.status().as_u16();
                if (200..300).contains(&status) {
                    return Ok(());
                }
                if status != 401 {
                    let body = response.text().await.unwrap_or_default();
                    return Err(self.classify(
                        registry,
                        OciDistributionError::ServerError {
                            code: status,
                            url: url.clone(),
                            message: body,
                        },
                    ));
                }
                let challenge = response
                    .headers()
                    .get(reqwest::header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                let (scheme, params) = parse_challenge(&challenge);
                let request = if scheme.eq_ignore_ascii_case("bearer") {
                    let realm = params.get("realm").cloned().unwrap_or_default();
                    let mut query = vec![("account", credentials.username.clone())];
                    if let Some(service) = params.get("service") {
                        query.push(("service", service.clone()));
                    }
                    http.get(&realm).query(&query)
                } else {
                    http.get(&url)
                };
                let response = request
                    .basic_auth(&credentials.username, Some(&credentials.password))
                    .send()
                    .await
                    .map_err(classify_reqwest)?;
                let status = response.status().as_u16();
                match status {
                    200..=299 => Ok(()),
                    401 | 403 => Err(denied()),
                    code => {
                        let body = response.text().await.unwrap_or_default();
                        Err(self.classify(
                            registry,
                            OciDistributionError::ServerError {
                                code,
                                url: url.clone(),
                                message: body,
                            },
                        ))
                    }
                }
            })
        })
    }
}

/// `Bearer realm="…",service="…"` → (`Bearer`, {realm, service}).
fn parse_challenge(header: &str) -> (String, HashMap<String, String>) {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = HashMap::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        params.insert(key, value.to_string());
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    (scheme.to_string(), params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse() {
        let (scheme, params) = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="a:b:pull""#,
        );
        assert_eq!(scheme, "Bearer");
        assert_eq!(params["realm"], "https://auth.docker.io/token");
        assert_eq!(params["service"], "registry.docker.io");
        let (scheme, params) = parse_challenge(r#"Basic realm="Registry Realm""#);
        assert_eq!(scheme, "Basic");
        assert_eq!(params["realm"], "Registry Realm");
    }
}
