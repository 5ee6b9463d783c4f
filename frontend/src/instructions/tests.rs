use super::*;
use crate::parser::parse;

fn one(text: &str) -> Result<Kind> {
    let ast = parse(text).unwrap();
    parse_node(&ast.nodes[0]).map(|i| i.kind)
}

fn err(text: &str) -> String {
    one(text).unwrap_err().message().to_string()
}

/// (kind, caret line, column, width) of an error.
fn spot(text: &str) -> (ErrorKind, usize, Option<usize>, usize) {
    let error = one(text).unwrap_err();
    let location = error.location().unwrap();
    (
        error.kind().unwrap(),
        location.caret_line(),
        location.column,
        location.width,
    )
}

#[test]
fn from_with_platform_and_stage_name() {
    assert_eq!(
        one("FROM --platform=linux/arm64 alpine:3 AS Build").unwrap(),
        Kind::From {
            image: "alpine:3".into(),
            name: Some("build".into()),
            platform: Some("linux/arm64".into()),
        }
    );
    assert_eq!(
        err("FROM a b"),
        "FROM requires either one or three arguments"
    );
    assert_eq!(
        err("FROM a AS 1X"),
        "invalid name for build stage: \"1X\", name can't start with a number or contain symbols"
    );
    assert_eq!(spot("FROM a AS 1X"), (ErrorKind::Argument, 1, Some(11), 2));
}

#[test]
fn run_flags_and_forms() {
    let Kind::Run(run) =
        one("RUN --mount=type=cache,target=/root/.cache --network=none make all").unwrap()
    else {
        panic!()
    };
    assert_eq!(run.command, CommandLine::Shell("make all".into()));
    assert_eq!(run.network.as_deref(), Some("none"));
    assert_eq!(run.mounts[0].kind, MountKind::Cache);
    assert_eq!(run.mounts[0].target.as_deref(), Some("/root/.cache"));
    let Kind::Run(run) = one(r#"RUN ["echo", "a b"]"#).unwrap() else {
        panic!()
    };
    assert_eq!(
        run.command,
        CommandLine::Exec(vec!["echo".into(), "a b".into()])
    );
    assert!(err("RUN --network=bridge x").contains("unsupported network mode"));
    assert!(err("RUN --security=lax x").contains("unsupported security mode"));
    assert!(err("RUN --mount=type=nfs,target=/x x").contains("unsupported mount type"));
    assert!(err("RUN --mount=type=bind x").contains("mount target must be specified"));
    assert_eq!(err("RUN []"), "RUN requires at least one argument");
    // A bare RUN is `sh -c ""` (BuildKit runs it as a no-op step).
    let Kind::Run(run) = one("RUN").unwrap() else {
        panic!()
    };
    assert_eq!(run.command, CommandLine::Shell(String::new()));
    // The caret goes under the spec that is wrong.
    assert_eq!(
        spot("RUN --mount=type=cache,target=/a \\\n  --mount=type=nfs x"),
        (ErrorKind::Flag, 2, Some(11), 8)
    );
}

#[test]
fn copy_and_add_flags() {
    let Kind::Copy(copy) = one(
        "COPY --from=build --chown=app:app --chmod=0755 --link --exclude=*.md --exclude=tmp --parents a b /dst/",
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(copy.sources, ["a", "b"]);
    assert_eq!(copy.dest, "/dst/");
    assert_eq!(copy.from.as_deref(), Some("build"));
    assert_eq!(copy.chown.as_deref(), Some("app:app"));
    assert_eq!(copy.chmod.as_deref(), Some("0755"));
    assert!(copy.link && copy.parents && !copy.add);
    assert_eq!(copy.exclude, ["*.md", "tmp"]);
    let Kind::Copy(add) =
        one("ADD --checksum=sha256:abc --keep-git-dir=true https://example.com/x.tgz /x").unwrap()
    else {
        panic!()
    };
    assert!(add.add && add.keep_git_dir);
    assert_eq!(add.checksum.as_deref(), Some("sha256:abc"));
    assert!(err("COPY --doit=true foo /tmp/").starts_with("unknown flag: --doit"));
    assert_eq!(
        spot("COPY --doit=true foo /tmp/"),
        (ErrorKind::Flag, 1, Some(6), 6)
    );
    assert!(err("ADD --from=x a b").starts_with("unknown flag: --from"));
    assert!(err("ADD --parents a b").starts_with("unknown flag: --parents"));
    assert!(err("COPY --checksum=x a b").starts_with("unknown flag: --checksum"));
    assert!(err("COPY onlyone").contains("requires at least two arguments"));
    assert!(err("COPY --chmod=999 a b").contains("invalid chmod"));
    // A variable is checked once expanded.
    assert!(one("COPY --chmod=$MODE a b").is_ok());
    assert_eq!(
        err("COPY a <<EOF\nx\nEOF\n"),
        "COPY cannot accept a heredoc as a destination"
    );
}

#[test]
fn heredoc_sources_are_found_by_name() {
    let Kind::Copy(copy) = one("COPY <<A <<-\"B\" /etc/\na\nA\n\tb\n\tB\n").unwrap() else {
        panic!()
    };
    assert_eq!(copy.sources, ["<<A", "<<-\"B\""]);
    assert_eq!(copy.heredoc_for("<<A").unwrap().content, "a\n");
    let b = copy.heredoc_for("<<-\"B\"").unwrap();
    assert_eq!((b.content.as_str(), b.expand), ("b\n", false));
    assert!(copy.heredoc_for("a.txt").is_none());
}

#[test]
fn env_label_arg_and_simple_instructions() {
    assert_eq!(
        one("ENV A=1 B=\"two words\"").unwrap(),
        Kind::Env(vec![
            KeyValue {
                key: "A".into(),
                value: "1".into()
            },
            KeyValue {
                key: "B".into(),
                value: "\"two words\"".into()
            },
        ])
    );
    assert_eq!(
        one("LABEL version 1.0 beta").unwrap(),
        Kind::Label(vec![KeyValue {
            key: "version".into(),
            value: "1.0 beta".into()
        }])
    );
    assert_eq!(
        one("ARG a b=c d=").unwrap(),
        Kind::Arg(vec![
            ArgDecl {
                name: "a".into(),
                default: None
            },
            ArgDecl {
                name: "b".into(),
                default: Some("c".into())
            },
            ArgDecl {
                name: "d".into(),
                default: Some(String::new())
            },
        ])
    );
    assert_eq!(err("ENV =x"), "ENV names can not be blank");
    assert_eq!(err("ARG =x"), "ARG names can not be blank");
    assert_eq!(err("ENV"), "ENV requires at least one argument");
    assert_eq!(err("ARG"), "ARG requires at least one argument");
    assert_eq!(err("EXPOSE"), "EXPOSE requires at least one argument");
    // As BuildKit: USER takes the rest of the line as one word, so only a missing one fails.
    assert_eq!(one("USER app:app").unwrap(), Kind::User("app:app".into()));
    assert_eq!(err("USER"), "USER requires exactly one argument");
    assert_eq!(err("WORKDIR"), "WORKDIR requires exactly one argument");
    assert_eq!(
        err("MAINTAINER"),
        "MAINTAINER requires exactly one argument"
    );
    assert_eq!(
        err("STOPSIGNAL"),
        "STOPSIGNAL requires exactly one argument"
    );
    assert_eq!(
        one("VOLUME [\" /data \", \"/b\"]").unwrap(),
        Kind::Volume(vec!["/data".into(), "/b".into()])
    );
    assert_eq!(
        err("VOLUME [\"\"]"),
        "VOLUME specified can not be an empty string"
    );
    assert_eq!(
        err("SHELL /bin/sh -c"),
        "SHELL requires the arguments to be in JSON form"
    );
    assert_eq!(err("SHELL []"), "SHELL requires at least one argument");
    assert!(err("WORKDIR --x=1 /a").starts_with("unknown flag: --x (WORKDIR takes no flags)"));
    assert_eq!(
        one("CMD").unwrap(),
        Kind::Cmd(CommandLine::Shell(String::new()))
    );
    assert_eq!(
        one("CMD []").unwrap(),
        Kind::Cmd(CommandLine::Exec(Vec::new()))
    );
}

#[test]
fn onbuild_nests_and_refuses_chaining() {
    let Kind::Onbuild { trigger, text } = one("ONBUILD RUN echo hi").unwrap() else {
        panic!()
    };
    assert_eq!(text, "RUN echo hi");
    assert!(matches!(trigger.kind, Kind::Run(_)));
    assert!(err("ONBUILD ONBUILD RUN x").contains("isn't allowed"));
    assert_eq!(
        err("ONBUILD FROM x"),
        "FROM isn't allowed as an ONBUILD trigger"
    );
    assert_eq!(
        err("ONBUILD MAINTAINER me"),
        "MAINTAINER isn't allowed as an ONBUILD trigger"
    );
    assert_eq!(err("ONBUILD"), "ONBUILD requires at least one argument");
    // The trigger is validated, and its errors point into it.
    assert_eq!(
        err("ONBUILD COPY --nope a b"),
        "ONBUILD COPY: unknown flag: --nope (COPY takes --from, --chown, --chmod, --link, --exclude, --parents)"
    );
    assert_eq!(
        spot("ONBUILD COPY --nope a b"),
        (ErrorKind::Flag, 1, Some(14), 6)
    );
    assert!(err("ONBUILD RUNN x").contains("unknown instruction: RUNN"));
}

#[test]
fn onbuild_heredocs_travel_in_the_trigger_text() {
    let Kind::Onbuild { trigger, text } = one("ONBUILD RUN <<EOF\necho hi\nEOF\n").unwrap() else {
        panic!()
    };
    assert_eq!(text, "RUN <<EOF\necho hi\nEOF");
    let Kind::Run(run) = &trigger.kind else {
        panic!()
    };
    assert_eq!(run.heredocs[0].content, "echo hi\n");
    // The text parses again into the same trigger, as a child build does.
    let again = parse(&text).unwrap();
    assert_eq!(parse_node(&again.nodes[0]).unwrap().kind, trigger.kind);
}

#[test]
fn healthcheck_options_and_none() {
    assert_eq!(
        one("HEALTHCHECK NONE").unwrap(),
        Kind::Healthcheck(Health::None)
    );
    let Kind::Healthcheck(Health::Check {
        command,
        interval,
        timeout,
        start_period,
        start_interval,
        retries,
    }) = one(
        "HEALTHCHECK --interval=5s --timeout=1m --start-period=1.5s --start-interval=100ms --retries=3 CMD [\"/check\"]",
    )
    .unwrap()
    else {
        panic!()
    };
    assert_eq!(command, CommandLine::Exec(vec!["/check".into()]));
    assert_eq!(
        (interval, timeout, start_period, start_interval, retries),
        (5_000_000_000, 60_000_000_000, 1_500_000_000, 100_000_000, 3)
    );
    assert_eq!(
        one("HEALTHCHECK CMD curl -f http://x/ || exit 1").unwrap(),
        Kind::Healthcheck(Health::Check {
            command: CommandLine::Shell("curl -f http://x/ || exit 1".into()),
            interval: 0,
            timeout: 0,
            start_period: 0,
            start_interval: 0,
            retries: 0,
        })
    );
    assert!(err("HEALTHCHECK CONNECT TCP 7000").contains("unknown type"));
    assert!(err("HEALTHCHECK --interval=5 CMD x").contains("missing unit"));
    assert!(err("HEALTHCHECK --timeout=1us CMD x").contains("cannot be less than 1ms"));
    assert!(err("HEALTHCHECK --retries=-1 CMD x").contains("cannot be negative"));
    assert!(err("HEALTHCHECK --retries=x CMD x").contains("invalid number"));
    assert!(err("HEALTHCHECK NONE x").contains("takes no arguments"));
    assert!(err("HEALTHCHECK --interval=1s NONE").starts_with("unknown flag: --interval"));
    assert_eq!(
        err("HEALTHCHECK CMD"),
        "missing command after HEALTHCHECK CMD"
    );
    assert_eq!(
        err("HEALTHCHECK"),
        "HEALTHCHECK requires at least one argument"
    );
}

#[test]
fn unknown_instructions_suggest_the_nearest() {
    assert_eq!(
        err("RUNN make"),
        "unknown instruction: RUNN (did you mean RUN?)"
    );
    assert_eq!(
        err("form alpine"),
        "unknown instruction: FORM (did you mean FROM?)"
    );
    assert_eq!(err("BANANA x"), "unknown instruction: BANANA");
    assert_eq!(spot("BANANA x").0, ErrorKind::UnknownInstruction);
}
