//! The frontend through the CLI: `strata debug dump`, `strata debug graph`, and how errors look.

use crate::util::TestEnv;

#[test]
fn debug_dump_prints_buildkits_format_without_validating_flags() {
    let env = TestEnv::new();
    let dir = env.write_files(
        "ctx",
        &[(
            "Dockerfile",
            "# escape=`\nFROM busybox AS base\nCOPY --doit=true --from=x a `\n  /b\nONBUILD RUN echo hi\nENV A=1 B=\"two words\"\n",
        )],
    );
    let out = env.ok(&["debug", "dump", dir.join("Dockerfile").to_str().unwrap()]);
    assert_eq!(
        out,
        "(from \"busybox\" \"AS\" \"base\")\n\
         (copy [\"--doit=true\" \"--from=x\"] \"a\" \"/b\")\n\
         (onbuild (run \"echo hi\"))\n\
         (env \"A\" \"1\" \"=\" \"B\" \"\\\"two words\\\"\" \"=\")\n"
    );
}

#[test]
fn errors_name_the_file_and_line_show_a_caret_and_exit_1() {
    let env = TestEnv::new();
    let dir = env.write_files("ctx", &[("Dockerfile", "FROM busybox\n  RUNN make\n")]);
    let path = dir.join("Dockerfile");
    let output = env.run(&["debug", "graph", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "{}:2: unknown instruction: RUNN (did you mean RUN?)",
            path.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(" 2 |   RUNN make\n   |   ^^^^^^^^^"),
        "{stderr}"
    );
    // The dump layer is lenient: the same file dumps fine.
    assert!(env
        .run(&["debug", "dump", path.to_str().unwrap()])
        .status
        .success());
}

#[test]
fn an_unknown_flag_is_an_error_at_the_instruction_layer() {
    let env = TestEnv::new();
    let dir = env.write_files(
        "ctx",
        &[("Dockerfile", "FROM busybox\nCOPY --doit=true a /b\n")],
    );
    let output = env.run(&["debug", "graph", dir.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("Dockerfile:2:"),
        "the line is named: {stderr}"
    );
    assert!(stderr.contains("unknown flag: --doit"), "{stderr}");
}

#[test]
fn debug_graph_follows_target_and_build_args() {
    let env = TestEnv::new();
    let dir = env.write_files(
        "ctx",
        &[(
            "Dockerfile",
            "ARG BASE=busybox\nFROM ${BASE} AS build\nARG MODE=debug\nRUN make $MODE\nFROM scratch AS unused\nRUN never\nFROM build AS test\nRUN test\n",
        )],
    );
    let out = env.ok(&[
        "debug",
        "graph",
        "--target",
        "test",
        "--build-arg",
        "BASE=alpine:3",
        "--build-arg",
        "MODE=release",
        dir.to_str().unwrap(),
    ]);
    assert!(out.contains("image alpine:3 (linux/amd64)"), "{out}");
    assert!(
        out.contains("\"MODE\", \"release\"") || out.contains("make $MODE"),
        "{out}"
    );
    assert!(out.contains("stage 2 test (target)"), "{out}");
    assert!(
        !out.contains("never"),
        "unused stage must be dropped: {out}"
    );
}
