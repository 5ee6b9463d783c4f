//! Which stage is which: FROM bases, `--from`, `--target`, dropped stages, cycles, triggers.

use super::*;
use crate::graph::{CopyFrom, MountSource};

#[test]
fn from_names_an_earlier_stage_in_any_case() {
    let g = graph("FROM scratch AS Build\nRUN make\nFROM BUILD\nRUN test\n");
    assert_eq!(g.stages.len(), 2);
    assert_eq!(g.stages[0].name.as_deref(), Some("build"));
    assert_eq!(g.target_stage().base, g.stages[0].last);
    assert!(image_refs(&g).is_empty());
}

#[test]
fn a_stage_name_that_is_not_defined_yet_is_an_image() {
    // As BuildKit: a FROM only sees the stages before it, so `FROM a AS a` is the image `a`.
    let g = graph("FROM a AS a\nRUN x\n");
    assert_eq!(image_refs(&g), ["a"]);
    let g = graph_with(
        "FROM b AS a\nRUN x\nFROM scratch AS b\n",
        target("a"),
        &UnknownBaseImages,
    )
    .unwrap();
    assert_eq!(image_refs(&g), ["b"]);
    assert_eq!(g.stages.len(), 1, "stage b is not needed");
}

#[test]
fn copy_from_reads_a_stage_by_name_or_index_or_an_image() {
    let g = graph(
        "FROM scratch AS build\nRUN make\nFROM scratch\nCOPY --from=BUILD /a /a\nCOPY --from=0 /b /b\nCOPY --from=alpine:3 /c /c\n",
    );
    let froms: Vec<&CopyFrom> = copies(&g).iter().map(|c| &c.from).collect();
    assert_eq!(
        froms,
        [
            &CopyFrom::Stage(0),
            &CopyFrom::Stage(0),
            &CopyFrom::Image("alpine:3".into())
        ]
    );
    let copy_vertex = g
        .vertices
        .iter()
        .rposition(|v| matches!(v.op, Op::Copy(_)))
        .unwrap();
    let source = g.vertices[copy_vertex].inputs[1];
    assert!(
        matches!(&g.vertices[source].op, Op::Image { reference, .. } if reference == "alpine:3")
    );
    assert_eq!(g.vertices[source].name, "FROM docker.io/library/alpine:3");
    let first_copy = g
        .vertices
        .iter()
        .position(|v| matches!(v.op, Op::Copy(_)))
        .unwrap();
    assert_eq!(g.vertices[first_copy].inputs[1], g.stages[0].last);
}

#[test]
fn bad_copy_from_references_are_errors_at_the_line() {
    let e = err("FROM scratch\nRUN x\nFROM scratch\nCOPY --from=5 /a /a\n");
    assert_eq!(e.message(), "invalid stage index 5");
    assert_eq!(e.location().unwrap().start_line, 4);
    let e = err("FROM scratch\nCOPY --from=-1 /a /a\n");
    assert_eq!(e.message(), "invalid stage index -1");
    let e = err("FROM scratch\nARG S=x\nCOPY --from=$S /a /a\n");
    assert!(
        e.message()
            .starts_with("variable expansion is not supported for --from"),
        "{e}"
    );
    let e =
        err("FROM scratch AS one\nCOPY --from=two /a /a\nFROM scratch AS two\nRUN x\nFROM one\n");
    assert_eq!(
        e.message(),
        "cannot copy from stage \"two\", it needs to be defined before current stage \"one\""
    );
    assert_eq!(e.location().unwrap().start_line, 2);
}

#[test]
fn cycles_and_self_references_are_errors_naming_the_stage() {
    let e = err("FROM scratch AS a\nCOPY --from=a /x /x\n");
    assert_eq!(e.message(), "circular dependency detected on stage: a");
    assert_eq!(e.location().unwrap().start_line, 2);
    let e = err("FROM scratch AS a\nCOPY --from=b /x /x\nFROM scratch AS b\nCOPY --from=a /y /y\n");
    assert_eq!(e.message(), "circular dependency detected on stage: a");
    let e = err("FROM scratch AS s\nRUN --mount=from=S,target=/m true\n");
    assert_eq!(e.message(), "circular dependency detected on stage: s");
    // Mounts find stages by name only: `from=0` is an image called `0`.
    let g = graph("FROM scratch\nRUN --mount=from=0,target=/m true\n");
    assert_eq!(image_refs(&g), ["0"]);
}

#[test]
fn target_selects_a_stage_and_unneeded_stages_are_dropped() {
    let text = "FROM scratch AS a\nRUN echo a\nFROM scratch AS b\nRUN echo b\nFROM a AS c\nRUN echo c\nFROM scratch\nCOPY --from=c / /\n";
    let g = graph_with(text, target("C"), &UnknownBaseImages).unwrap();
    let names: Vec<Option<&str>> = g.stages.iter().map(|s| s.name.as_deref()).collect();
    assert_eq!(names, [Some("a"), Some("c")]);
    assert_eq!(g.target_stage().name.as_deref(), Some("c"));
    assert!(!format!("{g}").contains("echo b"));
    let g = graph(text);
    let names: Vec<Option<&str>> = g.stages.iter().map(|s| s.name.as_deref()).collect();
    assert_eq!(
        names,
        [Some("a"), Some("c"), None],
        "stages come in Dockerfile order"
    );
    assert_eq!(g.target, 2);
    let e = graph_with(text, target("cc"), &UnknownBaseImages).unwrap_err();
    assert_eq!(
        e.to_string(),
        "target stage \"cc\" could not be found (did you mean c?)"
    );
    let e = graph_with(text, target("C-"), &UnknownBaseImages).unwrap_err();
    assert!(e.to_string().ends_with("(did you mean c?)"), "{e}");
    let swapped = "FROM scratch AS test\nFROM scratch\n";
    let e = graph_with(swapped, target("tset"), &UnknownBaseImages).unwrap_err();
    assert!(e.to_string().ends_with("(did you mean test?)"), "{e}");
    let e = graph_with(text, target("nothing-like-it"), &UnknownBaseImages).unwrap_err();
    assert_eq!(
        e.to_string(),
        "target stage \"nothing-like-it\" could not be found"
    );
}

#[test]
fn images_of_unneeded_stages_are_never_looked_up() {
    let images = Images::default().with("used:1", ImageConfig::default());
    let g = graph_with(
        "FROM missing:1 AS unused\nRUN x\nFROM used:1\nRUN y\n",
        BuildOptions::default(),
        &images,
    )
    .unwrap();
    assert_eq!(images.asked.borrow().as_slice(), ["used:1"]);
    assert_eq!(g.stages.len(), 1);
    let e = graph_with("FROM missing:1\nRUN x\n", BuildOptions::default(), &images).unwrap_err();
    assert_eq!(e.message(), "image `missing:1` is not in the local store");
    assert_eq!(e.location().unwrap().start_line, 1);
    // The base image lookup's own error stays reachable as the source, not only as text.
    let cause = std::error::Error::source(&e).expect("the lookup's error is kept");
    assert_eq!(cause.to_string(), e.message());
}

#[test]
fn base_image_config_flows_in() {
    let mut base = ImageConfig::default();
    base.set_env("PATH", "/opt/bin");
    base.set_env("LANG", "C");
    base.cmd = Some(vec!["sh".into()]);
    base.workdir = "srv".into();
    base.user = "app".into();
    let images = Images::default()
        .with("base", base)
        .with("bare", ImageConfig::default());
    let g = graph_with(
        "FROM base\nRUN id\nENTRYPOINT [\"/app\"]\n",
        BuildOptions::default(),
        &images,
    )
    .unwrap();
    let run = execs(&g)[0];
    assert_eq!((run.cwd.as_str(), run.user.as_str()), ("/srv", "app"));
    assert_eq!(env_of(run, "PATH"), Some("/opt/bin"));
    assert_eq!(env_of(run, "LANG"), Some("C"));
    let stage = g.target_stage();
    assert_eq!(
        stage.config.cmd, None,
        "a new ENTRYPOINT drops the inherited CMD"
    );
    assert_eq!(stage.base_image.as_deref(), Some("base"));
    let g = graph_with(
        "FROM base\nCMD [\"x\"]\nENTRYPOINT [\"/app\"]\n",
        BuildOptions::default(),
        &images,
    )
    .unwrap();
    assert_eq!(g.target_stage().config.cmd, Some(vec!["x".to_string()]));
    // An image without PATH gets BuildKit's default, in the config too.
    let g = graph_with("FROM bare\nRUN x\n", BuildOptions::default(), &images).unwrap();
    assert_eq!(
        g.target_stage().config.env,
        [(
            "PATH".to_string(),
            super::super::dispatch::DEFAULT_PATH.to_string()
        )]
    );
}

#[test]
fn onbuild_triggers_of_a_base_image_run_first_and_are_not_inherited() {
    let base = ImageConfig {
        onbuild: vec![
            "RUN echo triggered".into(),
            "COPY --from=tools /bin/tool /bin/".into(),
        ],
        ..ImageConfig::default()
    };
    let images = Images::default().with("base", base);
    let g = graph_with(
        "FROM scratch AS tools\nRUN build-tool\nFROM scratch AS unused\nFROM base\nRUN mine\n",
        BuildOptions::default(),
        &images,
    )
    .unwrap();
    let stage_names: Vec<Option<&str>> = g.stages.iter().map(|s| s.name.as_deref()).collect();
    assert_eq!(
        stage_names,
        [Some("tools"), None],
        "the trigger's --from makes tools needed"
    );
    assert_eq!(
        names(&g),
        [
            "[tools 1/1] RUN build-tool",
            "[stage-2 1/4] FROM docker.io/library/base:latest",
            "[stage-2 2/4] ONBUILD RUN echo triggered",
            "[stage-2 3/4] ONBUILD COPY --from=tools /bin/tool /bin/",
            "[stage-2 4/4] RUN mine",
        ]
    );
    let target = g.target_stage();
    assert!(target.config.onbuild.is_empty(), "triggers run once");
    assert_eq!(
        history(&g),
        [
            "RUN /bin/sh -c echo triggered # buildkit",
            "COPY /bin/tool /bin/ # buildkit",
            "RUN /bin/sh -c mine # buildkit",
        ]
    );
    let broken = ImageConfig {
        onbuild: vec!["RUNN x".into()],
        ..ImageConfig::default()
    };
    let images = Images::default().with("broken", broken);
    let e = graph_with("FROM broken\n", BuildOptions::default(), &images).unwrap_err();
    assert!(
        e.message()
            .starts_with("ONBUILD trigger \"RUNN x\" of the base image"),
        "{e}"
    );
}

#[test]
fn onbuild_of_a_base_stage_runs_in_the_stage_built_on_it() {
    let g = graph(
        "FROM scratch AS parent\nONBUILD RUN echo from-stage-trigger\nONBUILD ENV STAGE_TRIGGER=1\nFROM parent\nRUN ls\n",
    );
    assert_eq!(
        g.stages[0].config.onbuild,
        ["RUN echo from-stage-trigger", "ENV STAGE_TRIGGER=1"]
    );
    let target = g.target_stage();
    assert!(target.config.onbuild.is_empty());
    assert!(target
        .config
        .env
        .contains(&("STAGE_TRIGGER".into(), "1".into())));
    assert_eq!(
        history(&g),
        [
            "RUN /bin/sh -c echo from-stage-trigger # buildkit",
            "ENV STAGE_TRIGGER=1",
            "RUN /bin/sh -c ls # buildkit",
        ]
    );
    assert_eq!(
        names(&g),
        [
            "[stage-1 1/3] ONBUILD RUN echo from-stage-trigger",
            "[stage-1 2/3] RUN ls"
        ]
    );
}

#[test]
fn dockerfile_structure_errors() {
    let e = err("ARG A=1\n");
    assert!(
        e.message()
            .starts_with("dockerfile contains no stages to build"),
        "{e}"
    );
    let e = err("RUN x\nFROM scratch\n");
    assert!(
        e.message().starts_with("no build stage in current context"),
        "{e}"
    );
    assert_eq!(e.location().unwrap().start_line, 1);
    let e = err("ARG BASE\nFROM $BASE\n");
    assert_eq!(e.message(), "base name ($BASE) should not be blank");
    assert_eq!(e.location().unwrap().start_line, 2);
    let e = err("FROM --platform=$NOPE scratch\n");
    assert_eq!(e.message(), "empty platform value from expression $NOPE");
    let e = err("FROM --platform=linux//x scratch\n");
    assert!(e.message().starts_with("failed to parse platform"), "{e}");
    let e = err("FROM ${A:?required}\n");
    assert!(e.message().ends_with("A: required"), "{e}");
}

#[test]
fn platforms_come_from_from_or_the_build() {
    let g = graph("FROM --platform=$BUILDPLATFORM golang AS build\nRUN go build\nFROM --platform=linux/arm64 scratch\nCOPY --from=build /out /\n");
    let build_platform = &super::super::args::platform_args("linux/amd64")[0].1;
    assert_eq!(&g.stages[0].platform, build_platform);
    assert_eq!(g.target_stage().platform, "linux/arm64");
    assert!(
        matches!(&g.vertices[0].op, Op::Image { platform, .. } if platform.starts_with("linux/"))
    );
}

#[test]
fn duplicate_stage_names_warn_and_the_last_one_wins() {
    let g = graph("FROM scratch AS a\nRUN one\nFROM scratch AS a\nRUN two\nFROM scratch\nCOPY --from=a /x /x\n");
    assert_eq!(g.warnings[0].rule, "DuplicateStageName");
    assert!(format!("{g}").contains("two") && !format!("{g}").contains("one\""));
    assert_eq!(g.stages[0].index, 1);
}

#[test]
fn run_mounts_read_stages_images_and_the_context() {
    let g = graph(
        "FROM scratch AS deps\nRUN fetch\nFROM scratch\nWORKDIR /src\nRUN --mount=type=bind,from=deps,target=/deps --mount=type=cache,target=cache --mount=target=ctx,source=go.mod --mount=type=bind,from=alpine,target=/a --mount=type=secret,id=tok make\n",
    );
    let vertex = g
        .vertices
        .iter()
        .rposition(|v| matches!(v.op, Op::Exec(_)))
        .unwrap();
    let Op::Exec(exec) = &g.vertices[vertex].op else {
        unreachable!()
    };
    let sources: Vec<&MountSource> = exec.mounts.iter().map(|m| &m.source).collect();
    assert_eq!(
        sources,
        [
            &MountSource::Stage(0),
            &MountSource::Scratch,
            &MountSource::Context,
            &MountSource::Image("alpine".into()),
            &MountSource::None
        ]
    );
    let targets: Vec<Option<&str>> = exec
        .mounts
        .iter()
        .map(|m| m.mount.target.as_deref())
        .collect();
    assert_eq!(
        targets[..4],
        [
            Some("/deps"),
            Some("/src/cache"),
            Some("/src/ctx"),
            Some("/a")
        ]
    );
    let inputs = &g.vertices[vertex].inputs;
    assert_eq!(inputs.len(), 5, "parent + four mounted filesystems");
    assert_eq!(inputs[exec.mounts[0].input.unwrap()], g.stages[0].last);
    assert!(matches!(
        g.vertices[inputs[exec.mounts[2].input.unwrap()]].op,
        Op::Context
    ));
    assert_eq!(exec.mounts[4].input, None);
    assert_eq!(g.context_paths, ["go.mod"]);
    let e = err("FROM scratch\nRUN --mount=type=cache,target=/ x\n");
    assert_eq!(e.message(), "invalid mount target \"/\"");
    let e = err(
        "FROM scratch AS a\nRUN --mount=from=b,target=/b x\nFROM scratch AS b\nRUN y\nFROM a\n",
    );
    assert!(
        e.message().starts_with("cannot mount from stage \"b\""),
        "{e}"
    );
}
