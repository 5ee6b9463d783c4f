//! `strata debug dump` end to end: BuildKit's dump format on stdout, warnings on stderr, and
//! parse errors that name the file, show the line with a caret and exit with 1.

use crate::util::TestEnv;

#[test]
fn dump_prints_buildkits_format_for_heredocs_flags_and_onbuild() {
    let env = TestEnv::new();
    let dir = env.write_files(
        "ctx",
        &[(
            "Dockerfile",
            "# syntax=docker/dockerfile:1\n\
             FROM --platform=$BUILDPLATFORM golang:1.22 AS build\n\
             RUN --mount=type=cache,target=/root/.cache/go-build \\\n\
             \x20   go build -o /out/app ./...\n\
             RUN <<EOF\n\
             set -e\n\
             echo built\n\
             EOF\n\
             COPY --from=build --chmod=0755 /out/app /usr/local/bin/\n\
             COPY <<-EOT /etc/motd\n\
             \thello\n\
             \tEOT\n\
             ONBUILD RUN python3 <<PY\n\
             print(1)\n\
             PY\n\
             ENV A=1 B=\"two words\"\n\
             LABEL maintainer someone@example.com\n\
             CMD [\"app\", \"--serve\"]\n",
        )],
    );
    let out = env.ok(&["debug", "dump", dir.join("Dockerfile").to_str().unwrap()]);
    assert_eq!(
        out,
        "(from [\"--platform=$BUILDPLATFORM\"] \"golang:1.22\" \"AS\" \"build\")\n\
         (run [\"--mount=type=cache,target=/root/.cache/go-build\"] \"go build -o /out/app ./...\")\n\
         (run \"<<EOF\")\n\
         (copy [\"--from=build\" \"--chmod=0755\"] \"/out/app\" \"/usr/local/bin/\")\n\
         (copy \"<<-EOT\" \"/etc/motd\")\n\
         (onbuild (run \"python3 <<PY\"))\n\
         (env \"A\" \"1\" \"=\" \"B\" \"\\\"two words\\\"\" \"=\")\n\
         (label \"maintainer\" \"someone@example.com\" \"\")\n\
         (cmd \"app\" \"--serve\")\n"
    );
}

#[test]
fn dump_reads_stdin_and_directories_and_does_not_validate_flags() {
    let env = TestEnv::new();
    let dir = env.write_files("ctx", &[("Dockerfile", "FROM x\nCOPY --doit=true a /b\n")]);
    let out = env.ok(&["debug", "dump", dir.to_str().unwrap()]);
    assert_eq!(out, "(from \"x\")\n(copy [\"--doit=true\"] \"a\" \"/b\")\n");
    let output = env.run_with_stdin(
        &["debug", "dump", "-"],
        b"\xef\xbb\xbffrom x\r\nrun echo a \\\r\n  b\r\n",
    );
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "(from \"x\")\n(run \"echo a   b\")\n"
    );
}

#[test]
fn empty_continuation_lines_warn_on_stderr_only() {
    let env = TestEnv::new();
    let dir = env.write_files("ctx", &[("Dockerfile", "FROM x\nRUN a \\\n\n  b\n")]);
    let path = dir.join("Dockerfile");
    let output = env.run(&["debug", "dump", path.to_str().unwrap()]);
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "(from \"x\")\n(run \"a   b\")\n"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "warning: {}:2: empty continuation line found in: RUN a   b",
            path.display()
        )),
        "{stderr}"
    );
}

#[test]
fn a_parse_error_shows_file_line_caret_and_exits_1() {
    let env = TestEnv::new();
    let dir = env.write_files(
        "ctx",
        &[("Dockerfile", "FROM x\nRUN cat <<EOF > /f\nnever ends\n")],
    );
    let path = dir.join("Dockerfile");
    let output = env.run(&["debug", "dump", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty(), "no partial dump on stdout");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = format!(
        "{}:2:9: unterminated heredoc `EOF`\n   |\n 2 | RUN cat <<EOF > /f\n   |         ^^^^^\nhint: the body ends at a line holding only `EOF`",
        path.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
}

#[test]
fn a_bad_directive_points_at_its_value() {
    let env = TestEnv::new();
    let dir = env.write_files("ctx", &[("Dockerfile", "# escape=|\nFROM x\n")]);
    let output = env.run(&["debug", "dump", dir.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(":1:10: invalid escape token '|' does not match ` or \\\n   |\n 1 | # escape=|\n   |          ^"),
        "{stderr}"
    );
}

#[test]
fn an_empty_file_is_rejected_and_a_missing_one_named() {
    let env = TestEnv::new();
    let dir = env.write_files("ctx", &[("Dockerfile", "# only a comment\n")]);
    let output = env.run(&["debug", "dump", dir.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("file with no instructions"));
    let missing = env.path("nowhere/Dockerfile");
    let output = env.run(&["debug", "dump", missing.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("nowhere/Dockerfile"));
}
