use super::*;
use crate::parser::parse;

fn one(text: &str) -> Result<Kind> {
    let ast = parse(text).unwrap();
    parse_node(&ast.nodes[0]).map(|i| i.kind)
}

fn err(text: &str) -> String {
    one(text).unwrap_err().message().to_string()
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
    assert!(err("FROM a AS 1x").contains("invalid name for build stage"));
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
    assert!(err("RUN --mount=type=nfs,target=/x x").contains("unsupported mount type"));
    assert!(err("RUN --mount=type=bind x").contains("no target"));
    assert_eq!(err("RUN"), "RUN requires at least one argument");
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
    assert!(err("ADD --from=x a b").starts_with("unknown flag: --from"));
    assert!(err("COPY onlyone").contains("requires at least two arguments"));
    assert!(err("COPY --chmod=999 a b").contains("invalid chmod"));
}

#[test]
fn heredoc_copy_keeps_its_body() {
    let Kind::Copy(copy) = one("COPY <<EOF /etc/motd\nhello\nEOF\n").unwrap() else {
        panic!()
    };
    assert_eq!(copy.sources, ["<<EOF"]);
    assert_eq!(copy.heredocs[0].content, "hello\n");
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
        one("ARG a b=c").unwrap(),
        Kind::Arg(vec![
            ArgDecl {
                name: "a".into(),
                default: None
            },
            ArgDecl {
                name: "b".into(),
                default: Some("c".into())
            },
        ])
    );
    assert_eq!(err("ENV =x"), "ENV names can not be blank");
    // As BuildKit: USER takes the rest of the line as one word, so only a missing one fails.
    assert_eq!(err("USER"), "USER requires exactly one argument");
    assert_eq!(
        err("SHELL /bin/sh -c"),
        "SHELL requires the arguments to be in JSON form"
    );
    assert!(err("WORKDIR --x=1 /a").starts_with("unknown flag: --x (WORKDIR takes no flags)"));
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
        retries,
        ..
    }) = one("HEALTHCHECK --interval=5s --retries=3 CMD [\"/check\"]").unwrap()
    else {
        panic!()
    };
    assert_eq!(command, CommandLine::Exec(vec!["/check".into()]));
    assert_eq!((interval, retries), (5_000_000_000, 3));
    assert!(err("HEALTHCHECK CONNECT TCP 7000").contains("Unknown type"));
    assert!(err("HEALTHCHECK --interval=5 CMD x").contains("invalid duration"));
    assert!(err("HEALTHCHECK --retries=-1 CMD x").contains("cannot be negative"));
    assert!(err("HEALTHCHECK NONE x").contains("takes no arguments"));
}

#[test]
fn unknown_instructions_suggest_the_nearest() {
    assert_eq!(
        err("RUNN make"),
        "unknown instruction: RUNN (did you mean RUN?)"
    );
    assert_eq!(err("BANANA x"), "unknown instruction: BANANA");
}
