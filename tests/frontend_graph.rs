//! `strata debug graph`: the build graph the frontend hands the builder, through the CLI.

use crate::util::TestEnv;

const MULTI_STAGE: &str = "\
ARG BASE=busybox
FROM ${BASE} AS build
ARG MODE=debug
WORKDIR /src
COPY go.mod ./
RUN make $MODE
FROM scratch AS unused
RUN never
FROM build AS test
RUN test
FROM scratch
COPY --from=build /src/out /app
ENTRYPOINT [\"/app\"]
";

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn debug_graph_prints_vertices_stages_and_history() {
    let env = TestEnv::new();
    let dir = env.write_files("ctx", &[("Dockerfile", MULTI_STAGE)]);
    let out = env.ok(&["debug", "graph", dir.to_str().unwrap()]);
    for expected in [
        "image busybox (linux/amd64)",
        "    [build 1/4] FROM docker.io/library/busybox:latest",
        "    [build 2/4] WORKDIR /src",
        "    [build 3/4] COPY go.mod ./",
        "    [build 4/4] RUN make debug",
        "exec [\"/bin/sh\", \"-c\", \"make $MODE\"]",
        "    cwd=/src network=default",
        "copy [\"/src/out\"] -> /app from stage 0",
        "    [stage-3 1/1] COPY --from=build /src/out /app",
        "stage 0 build linux/amd64:",
        "    history [empty] ARG MODE=debug",
        "RUN |1 MODE=debug /bin/sh -c make $MODE # buildkit",
        "stage 3 - (target) linux/amd64:",
        "    workdir=/ entrypoint=[\"/app\"]",
        "context reads: go.mod",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    assert!(
        !out.contains("never"),
        "unneeded stages are dropped:\n{out}"
    );
    assert!(!out.contains("RUN test"), "{out}");
    // Every vertex line has a 12-hex-digit digest prefix.
    for line in out.lines().filter(|l| l.starts_with('v')) {
        let digest = line.split(' ').nth(1).unwrap();
        assert_eq!(digest.len(), 12, "{line}");
        assert!(digest.chars().all(|c| c.is_ascii_hexdigit()), "{line}");
    }
    assert_eq!(
        out,
        env.ok(&["debug", "graph", dir.to_str().unwrap()]),
        "stable output"
    );
}

#[test]
fn debug_graph_follows_target_build_args_and_platform() {
    let env = TestEnv::new();
    let dir = env.write_files("ctx", &[("Dockerfile", MULTI_STAGE)]);
    let output = env.run(&[
        "debug",
        "graph",
        "--target",
        "TEST",
        "--build-arg",
        "BASE=alpine:3",
        "--build-arg",
        "MODE=release",
        "--build-arg",
        "UNUSED=1",
        "--platform",
        "linux/arm64",
        dir.join("Dockerfile").to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(out.contains("image alpine:3 (linux/arm64)"), "{out}");
    assert!(out.contains("[build 4/4] RUN make release"), "{out}");
    assert!(out.contains("[test 1/1] RUN test"), "{out}");
    assert!(out.contains("stage 2 test (target) linux/arm64:"), "{out}");
    assert!(
        !out.contains("COPY --from=build"),
        "the last stage is not needed: {out}"
    );
    assert!(
        stderr(&output).contains("warning: build-arg UNUSED was not consumed"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn warnings_go_to_stderr_with_file_and_line() {
    let env = TestEnv::new();
    let dir = env.write_files(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox\nCOPY $SRC /dst\nRUN echo $RUNTIME\n",
        )],
    );
    let path = dir.join("Dockerfile");
    let output = env.run(&["debug", "graph", path.to_str().unwrap()]);
    assert!(output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains(&format!(
            "warning: {}:2: UndefinedVar: Usage of undefined variable '$SRC'",
            path.display()
        )),
        "{err}"
    );
    assert!(!err.contains("RUNTIME"), "RUN text is the shell's: {err}");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("warning"));
}

#[test]
fn resolution_errors_name_the_file_the_line_and_the_stage() {
    let env = TestEnv::new();
    let cases = [
        (
            "FROM busybox AS a\nRUN x\nFROM busybox\nCOPY --from=7 /a /a\n",
            ":4: invalid stage index 7",
        ),
        (
            "FROM busybox AS a\nCOPY --from=a /x /x\n",
            ":2: circular dependency detected on stage: a",
        ),
        (
            "FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\nFROM a\n",
            ":2: cannot copy from stage \"b\", it needs to be defined before current stage \"a\"",
        ),
        (
            "FROM busybox\nWORKDIR ${DIR:?required}\n",
            ":2: failed to process \"${DIR:?required}\": DIR: required",
        ),
    ];
    for (text, expected) in cases {
        let dir = env.write_files("ctx", &[("Dockerfile", text)]);
        let output = env.run(&["debug", "graph", dir.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(1), "{text}");
        let err = stderr(&output);
        assert!(err.contains(expected), "{text}: {err}");
        assert!(err.contains("Dockerfile"), "{err}");
    }
    let dir = env.write_files("ctx", &[("Dockerfile", MULTI_STAGE)]);
    let output = env.run(&["debug", "graph", "--target", "tset", dir.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("target stage \"tset\" could not be found (did you mean test?)"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn debug_graph_reads_stdin() {
    let env = TestEnv::new();
    let output = env.run_with_stdin(
        &["debug", "graph", "-"],
        b"FROM scratch\nENV A=1\nCOPY a /a\n",
    );
    assert!(output.status.success());
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(out.contains("[1/1] COPY a /a"), "{out}");
    assert!(out.contains("history [empty] ENV A=1"), "{out}");
}
