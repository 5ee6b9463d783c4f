//! What the executor is asked to run: argv, env, cwd, user, modes and the layers below.

use super::*;
use crate::sandbox::{Network, Security};

#[test]
fn shell_form_runs_under_bin_sh_and_exec_form_as_written() {
    let fixture = fixture();
    let executor = executor();
    let graph = graph("FROM scratch\nRUN echo \"$HOME\" > x\nRUN [\"make\", \"all\"]\n");
    build(&fixture, &executor, &request(&graph)).0.unwrap();
    let calls = executor.calls();
    assert_eq!(calls[0].argv, ["/bin/sh", "-c", "echo \"$HOME\" > x"]);
    assert_eq!(calls[1].argv, ["make", "all"]);
}

#[test]
fn env_arg_and_user_reach_the_run() {
    let fixture = fixture();
    let executor = executor();
    let graph = graph_with(
        "FROM scratch\nENV GREETING=hello\nARG LEVEL=1\nUSER builder\nRUN make\n",
        &options(None, &[("LEVEL", "3")]),
    );
    build(&fixture, &executor, &request(&graph)).0.unwrap();
    let calls = executor.calls();
    let run = &calls[0];
    assert!(
        run.env.contains(&("GREETING".into(), "hello".into())),
        "{:?}",
        run.env
    );
    assert!(
        run.env.contains(&("LEVEL".into(), "3".into())),
        "{:?}",
        run.env
    );
    assert_eq!(run.user, "builder");
    assert_eq!(run.cwd, "/", "no WORKDIR: the root");
}

/// Needs root: WORKDIR makes its directory owned by root (0:0) in the layer, and only root
/// may chown to another user.
#[test]
fn workdir_becomes_the_runs_cwd_and_a_layer_below_it() {
    if !crate::running_as_root() {
        return crate::skip_test("WORKDIR chowns its directory to root in the layer");
    }
    let fixture = fixture();
    let executor = executor();
    let graph = graph("FROM scratch\nWORKDIR /src/app\nRUN make\n");
    build(&fixture, &executor, &request(&graph)).0.unwrap();
    let calls = executor.calls();
    assert_eq!(
        calls.len(),
        1,
        "WORKDIR makes its directory without the executor"
    );
    assert_eq!(calls[0].cwd, "/src/app");
    assert_eq!(calls[0].lowers.len(), 1);
    assert!(calls[0].lowers[0].join("src/app").is_dir());
}

#[test]
fn default_run_is_sandboxed_with_the_sandbox_network() {
    let fixture = fixture();
    let executor = executor();
    let graph = graph("FROM scratch\nRUN plain\nRUN --network=none offline\n");
    build(&fixture, &executor, &request(&graph)).0.unwrap();
    let calls = executor.calls();
    assert_eq!(
        (calls[0].network, calls[0].security),
        (Network::Sandbox, Security::Sandbox)
    );
    assert_eq!(calls[1].network, Network::None);
}

#[test]
fn granted_entitlements_reach_the_run_as_modes() {
    let fixture = fixture();
    let executor = executor();
    let graph = graph("FROM scratch\nRUN --network=host --security=insecure privileged\n");
    let request = BuildRequest {
        entitlements: Entitlements {
            network_host: true,
            security_insecure: true,
        },
        ..request(&graph)
    };
    build(&fixture, &executor, &request).0.unwrap();
    let calls = executor.calls();
    assert_eq!(
        (calls[0].network, calls[0].security),
        (Network::Host, Security::Insecure)
    );
}

#[test]
fn build_network_none_applies_to_runs_that_say_default() {
    let fixture = fixture();
    let executor = executor();
    let options = BuildOptions {
        network: "none".into(),
        ..BuildOptions::default()
    };
    let graph = graph_with("FROM scratch\nRUN --network=default offline\n", &options);
    build(&fixture, &executor, &request(&graph)).0.unwrap();
    assert_eq!(executor.calls()[0].network, Network::None);
}

#[test]
fn lowers_are_the_parent_layers_topmost_first() {
    let fixture = fixture();
    let executor = executor();
    let graph = graph("FROM scratch\nRUN one\nRUN two\nRUN three\n");
    build(&fixture, &executor, &request(&graph)).0.unwrap();
    let calls = executor.calls();
    assert!(calls[0].lowers.is_empty(), "scratch has no layers");
    let seen: Vec<String> = calls[2]
        .lowers
        .iter()
        .map(|dir| std::fs::read_to_string(dir.join("out")).unwrap())
        .collect();
    assert_eq!(seen, ["two", "one"]);
}
