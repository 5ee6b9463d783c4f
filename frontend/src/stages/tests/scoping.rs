//! Where ARG, ENV, build args and the automatic args are visible.

use super::*;

#[test]
fn global_args_reach_from_lines_and_build_args_override_them() {
    let text = "ARG TAG=1.0\nARG REPO=base\nARG REF=$REPO:$TAG\nFROM ${REF}\nRUN true\n";
    assert_eq!(image_refs(&graph(text)), ["base:1.0"]);
    let g = graph_with(text, opts(&[("TAG", "2.0")]), &UnknownBaseImages).unwrap();
    assert_eq!(
        image_refs(&g),
        ["base:2.0"],
        "defaults see earlier overridden args"
    );
    let g = graph_with(text, opts(&[("REF", "other:3")]), &UnknownBaseImages).unwrap();
    assert_eq!(image_refs(&g), ["other:3"]);
}

#[test]
fn global_args_are_invisible_in_a_stage_until_redeclared() {
    let g =
        graph("ARG V=g\nFROM scratch\nWORKDIR /a$V\nRUN echo a\nARG V\nWORKDIR /b$V\nRUN echo b\n");
    let runs = execs(&g);
    assert_eq!(env_of(runs[0], "V"), None);
    assert_eq!(env_of(runs[1], "V"), Some("g"));
    assert_eq!(runs[0].cwd, "/a");
    assert_eq!(runs[1].cwd, "/bg");
    let g = graph_with(
        "ARG V=g\nFROM scratch\nARG V\nRUN x\n",
        opts(&[("V", "cli")]),
        &UnknownBaseImages,
    )
    .unwrap();
    assert_eq!(env_of(execs(&g)[0], "V"), Some("cli"));
}

#[test]
fn build_args_override_only_declared_args() {
    let g = graph_with(
        "FROM scratch\nARG MODE=debug\nARG EMPTY\nRUN make\n",
        opts(&[("MODE", "release"), ("NOPE", "1"), ("EMPTY", "")]),
        &UnknownBaseImages,
    )
    .unwrap();
    let run = execs(&g)[0];
    assert_eq!(env_of(run, "MODE"), Some("release"));
    assert_eq!(env_of(run, "EMPTY"), Some(""));
    assert_eq!(env_of(run, "NOPE"), None, "undeclared build args stay out");
    assert_eq!(g.unused_build_args, ["NOPE"]);
    // An arg declared only in a stage the target does not need is not consumed either.
    let g = graph_with(
        "FROM scratch AS a\nARG ONLY_A\nFROM scratch\nRUN x\n",
        opts(&[("ONLY_A", "1")]),
        &UnknownBaseImages,
    )
    .unwrap();
    assert_eq!(g.unused_build_args, ["ONLY_A"]);
}

#[test]
fn arg_values_apply_one_by_one_and_env_values_all_at_once() {
    let g = graph("FROM scratch\nARG A=1 B=${A}2\nENV C=3\nENV C=4 D=$C\nRUN x\n");
    let run = execs(&g)[0];
    assert_eq!(env_of(run, "B"), Some("12"));
    assert_eq!(
        env_of(run, "D"),
        Some("3"),
        "ENV expands with the values before the line"
    );
    assert_eq!(env_of(run, "C"), Some("4"));
}

#[test]
fn the_later_of_arg_and_env_wins_in_the_build_but_only_env_reaches_the_image() {
    let g = graph("FROM scratch\nARG X=arg\nENV X=env\nENV Y=env\nARG Y=arg\nRUN x\n");
    let run = execs(&g)[0];
    assert_eq!(env_of(run, "X"), Some("env"));
    assert_eq!(
        env_of(run, "Y"),
        Some("arg"),
        "BuildKit: ARG after ENV sets the build env"
    );
    let config = &g.target_stage().config;
    assert!(config.env.contains(&("X".into(), "env".into())));
    assert!(config.env.contains(&("Y".into(), "env".into())));
    assert!(
        !config.env.iter().any(|(_, v)| v == "arg"),
        "ARG values stay out of the image"
    );
    assert_eq!(
        history(&g).last().unwrap(),
        "RUN |2 X=env Y=arg /bin/sh -c x # buildkit"
    );
}

#[test]
fn arg_defaults_see_env_and_earlier_args() {
    let g = graph("FROM scratch\nENV BASE=/opt\nARG DIR=$BASE/app\nWORKDIR $DIR\n");
    assert_eq!(g.target_stage().config.workdir, "/opt/app");
}

#[test]
fn platform_args_need_a_declaration_inside_a_stage() {
    let g = graph(
        "FROM --platform=$BUILDPLATFORM img:$TARGETARCH\nRUN echo $TARGETARCH\nARG TARGETARCH\nARG TARGETPLATFORM TARGETSTAGE\nRUN echo $TARGETARCH\n",
    );
    assert_eq!(image_refs(&g), ["img:amd64"]);
    let runs = execs(&g);
    assert_eq!(env_of(runs[0], "TARGETARCH"), None);
    assert_eq!(env_of(runs[1], "TARGETARCH"), Some("amd64"));
    assert_eq!(env_of(runs[1], "TARGETPLATFORM"), Some("linux/amd64"));
    assert_eq!(
        env_of(runs[1], "TARGETSTAGE"),
        Some(""),
        "the last stage is unnamed"
    );
    let options = BuildOptions {
        platform: "linux/arm64".into(),
        target: Some("Final".into()),
        ..BuildOptions::default()
    };
    let g = graph_with(
        "FROM scratch AS final\nARG TARGETARCH TARGETSTAGE BUILDOS\nRUN x\n",
        options,
        &UnknownBaseImages,
    )
    .unwrap();
    let run = execs(&g)[0];
    assert_eq!(env_of(run, "TARGETARCH"), Some("arm64"));
    assert_eq!(env_of(run, "TARGETSTAGE"), Some("final"));
    assert_eq!(env_of(run, "BUILDOS"), Some("linux"));
    assert_eq!(g.target_stage().platform, "linux/arm64");
}

#[test]
fn proxy_args_reach_run_without_declaration_and_stay_out_of_digests_and_history() {
    let text = "FROM scratch\nRUN apt-get update\n";
    let plain = graph(text);
    let proxied = graph_with(
        text,
        opts(&[
            ("http_proxy", "http://proxy:3128"),
            ("NO_PROXY", "localhost"),
        ]),
        &UnknownBaseImages,
    )
    .unwrap();
    let run = execs(&proxied)[0];
    for key in ["HTTP_PROXY", "http_proxy"] {
        assert_eq!(env_of(run, key), Some("http://proxy:3128"));
        assert!(run.is_proxy(key));
    }
    assert_eq!(env_of(run, "no_proxy"), Some("localhost"));
    assert!(
        proxied.unused_build_args.is_empty(),
        "proxy args need no ARG"
    );
    assert_eq!(
        plain.vertices.last().unwrap().digest,
        proxied.vertices.last().unwrap().digest,
        "a proxy must not invalidate the cache"
    );
    assert_eq!(
        history(&proxied),
        ["RUN /bin/sh -c apt-get update # buildkit"]
    );
    // Declared, a proxy arg is an ordinary arg.
    let declared = graph_with(
        "FROM scratch\nARG HTTP_PROXY\nRUN x\n",
        opts(&[("HTTP_PROXY", "p")]),
        &UnknownBaseImages,
    )
    .unwrap();
    let run = execs(&declared)[0];
    assert!(!run.is_proxy("HTTP_PROXY") && run.is_proxy("http_proxy"));
    assert_eq!(
        history(&declared).last().unwrap(),
        "RUN |1 HTTP_PROXY=p /bin/sh -c x # buildkit"
    );
}

#[test]
fn a_stage_built_on_a_stage_inherits_its_args_and_build_env() {
    // docker's behaviour (differential case 54-arg-scoping).
    let g = graph_with(
        "ARG GLOBAL=global-default\nFROM scratch AS one\nARG GLOBAL\nENV E=1\nFROM one\nRUN echo $GLOBAL\nARG GLOBAL=stage-default\nRUN echo again\n",
        opts(&[("GLOBAL", "from-cli")]),
        &UnknownBaseImages,
    )
    .unwrap();
    let runs = execs(&g);
    assert_eq!(env_of(runs[0], "GLOBAL"), Some("from-cli"));
    assert_eq!(env_of(runs[0], "E"), Some("1"));
    assert_eq!(env_of(runs[1], "GLOBAL"), Some("from-cli"));
    let h = history(&g);
    assert_eq!(
        h[0],
        "RUN |1 GLOBAL=from-cli /bin/sh -c echo $GLOBAL # buildkit"
    );
    assert_eq!(h[1], "ARG GLOBAL=from-cli");
}

#[test]
fn undefined_variables_are_warnings_not_errors() {
    let g = graph(
        "ARG DECLARED\nFROM img:$UNDECLARED$DECLARED AS a\nARG LATER\nENV X=$NOPE$LATER\nCOPY $SRCDIR /dst\nRUN echo $RUNTIME_ONLY\n",
    );
    let warnings: Vec<(&str, &str, usize)> = g
        .warnings
        .iter()
        .map(|w| (w.rule, w.message.as_str(), w.lines.0))
        .collect();
    assert_eq!(
        warnings,
        [
            (
                "UndefinedArgInFrom",
                "FROM argument 'UNDECLARED' is not declared",
                2
            ),
            ("UndefinedVar", "Usage of undefined variable '$NOPE'", 4),
            ("UndefinedVar", "Usage of undefined variable '$SRCDIR'", 5),
        ]
    );
    let g = graph("FROM scratch\nENV PATH_EXTRA=1\nENV X=$PATH_EXTRE\n");
    assert!(
        g.warnings[0]
            .message
            .ends_with("(did you mean $PATH_EXTRA?)"),
        "{:?}",
        g.warnings
    );
}
