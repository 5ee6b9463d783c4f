use std::collections::BTreeMap;

use super::*;
use crate::graph::{CopyFrom, CopySource, ExecOp};
use crate::parser::parse;

fn graph_with(text: &str, options: BuildOptions, images: &dyn BaseImages) -> Result<Graph> {
    compile(&parse(text).unwrap(), &options, images)
}

fn graph(text: &str) -> Graph {
    graph_with(text, BuildOptions::default(), &UnknownBaseImages).unwrap()
}

fn args(pairs: &[(&str, &str)]) -> BuildOptions {
    BuildOptions {
        build_args: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..BuildOptions::default()
    }
}

fn execs(graph: &Graph) -> Vec<&ExecOp> {
    graph
        .vertices
        .iter()
        .filter_map(|v| match &v.op {
            Op::Exec(exec) => Some(exec),
            _ => None,
        })
        .collect()
}

fn env_of<'a>(exec: &'a ExecOp, key: &str) -> Option<&'a str> {
    exec.env
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

#[test]
fn global_args_reach_from_lines_and_build_args_override_them() {
    let text = "ARG TAG=1.0\nFROM base:${TAG}\nRUN true\n";
    let g = graph(text);
    assert!(matches!(&g.vertices[0].op, Op::Image { reference, .. } if reference == "base:1.0"));
    let g = graph_with(text, args(&[("TAG", "2.0")]), &UnknownBaseImages).unwrap();
    assert!(matches!(&g.vertices[0].op, Op::Image { reference, .. } if reference == "base:2.0"));
}

#[test]
fn global_args_are_invisible_in_a_stage_until_redeclared() {
    let g = graph("ARG V=g\nFROM scratch\nRUN echo a\nARG V\nRUN echo b\n");
    let runs = execs(&g);
    assert_eq!(env_of(runs[0], "V"), None);
    assert_eq!(env_of(runs[1], "V"), Some("g"));
}

#[test]
fn env_overrides_arg_and_rule_of_expansion() {
    let g = graph("FROM scratch\nARG A=arg\nENV A=env B=${A}\nWORKDIR /w/$B\nRUN echo $A\n");
    let stage = g.target_stage();
    assert_eq!(stage.config.workdir, "/w/env");
    let run = execs(&g)[0];
    assert_eq!(env_of(run, "A"), Some("env"));
    // RUN's shell text is not expanded by the frontend: the shell does it at run time.
    assert_eq!(run.argv, ["/bin/sh", "-c", "echo $A"]);
}

#[test]
fn build_args_replace_stage_defaults_and_unused_ones_are_reported() {
    let g = graph_with(
        "FROM scratch\nARG MODE=debug\nRUN make\n",
        args(&[("MODE", "release"), ("NOPE", "1")]),
        &UnknownBaseImages,
    )
    .unwrap();
    assert_eq!(env_of(execs(&g)[0], "MODE"), Some("release"));
    assert_eq!(g.unused_build_args, ["NOPE"]);
}

#[test]
fn platform_args_need_a_declaration_inside_a_stage() {
    let g = graph("FROM scratch\nRUN echo $TARGETARCH\nARG TARGETARCH\nRUN echo $TARGETARCH\n");
    let runs = execs(&g);
    assert_eq!(env_of(runs[0], "TARGETARCH"), None);
    assert_eq!(env_of(runs[1], "TARGETARCH"), Some("amd64"));
}

#[test]
fn stages_by_name_and_index_and_images_in_copy_from() {
    let g = graph(
        "FROM scratch AS build\nRUN make\nFROM scratch\nCOPY --from=build /a /a\nCOPY --from=0 /b /b\nCOPY --from=alpine:3 /c /c\n",
    );
    let froms: Vec<&CopyFrom> = g
        .vertices
        .iter()
        .filter_map(|v| match &v.op {
            Op::Copy(copy) => Some(&copy.from),
            _ => None,
        })
        .collect();
    assert_eq!(froms[0], &CopyFrom::Stage(0));
    assert_eq!(froms[1], &CopyFrom::Stage(0));
    assert_eq!(froms[2], &CopyFrom::Image("alpine:3".into()));
}

#[test]
fn target_selects_a_stage_and_unneeded_stages_are_dropped() {
    let text =
        "FROM scratch AS a\nRUN echo a\nFROM scratch AS b\nRUN echo b\nFROM a AS c\nRUN echo c\n";
    let options = BuildOptions {
        target: Some("C".into()),
        ..BuildOptions::default()
    };
    let g = graph_with(text, options, &UnknownBaseImages).unwrap();
    let names: Vec<Option<&str>> = g.stages.iter().map(|s| s.name.as_deref()).collect();
    assert_eq!(names, [Some("a"), Some("c")]);
    assert_eq!(g.target_stage().name.as_deref(), Some("c"));
    let options = BuildOptions {
        target: Some("nope".into()),
        ..BuildOptions::default()
    };
    let err = graph_with(text, options, &UnknownBaseImages).unwrap_err();
    assert_eq!(err.to_string(), "target stage \"nope\" could not be found");
}

#[test]
fn cycles_are_errors_naming_the_stage() {
    let err = graph_with(
        "FROM b AS a\nRUN x\nFROM a AS b\n",
        BuildOptions::default(),
        &UnknownBaseImages,
    )
    .unwrap_err();
    assert!(
        err.message()
            .contains("circular dependency detected on stage"),
        "{err}"
    );
}

struct Fake(BTreeMap<String, ImageConfig>);

impl BaseImages for Fake {
    fn config(&self, reference: &str, _: &str) -> std::result::Result<Option<ImageConfig>, String> {
        Ok(self.0.get(reference).cloned())
    }
}

#[test]
fn base_config_flows_in_and_entrypoint_resets_inherited_cmd() {
    let mut base = ImageConfig::default();
    base.set_env("PATH", "/opt/bin");
    base.cmd = Some(vec!["sh".into()]);
    base.workdir = "/srv".into();
    base.onbuild = vec!["RUN echo triggered".into()];
    let images = Fake(BTreeMap::from([("base".to_string(), base)]));
    let g = graph_with(
        "FROM base\nENTRYPOINT [\"/app\"]\n",
        BuildOptions::default(),
        &images,
    )
    .unwrap();
    let stage = g.target_stage();
    assert_eq!(stage.config.cmd, None);
    assert_eq!(stage.config.entrypoint, Some(vec!["/app".to_string()]));
    assert!(
        stage.config.onbuild.is_empty(),
        "triggers are not inherited"
    );
    let runs = execs(&g);
    assert_eq!(runs[0].argv, ["/bin/sh", "-c", "echo triggered"]);
    assert_eq!(runs[0].cwd, "/srv");
    assert_eq!(env_of(runs[0], "PATH"), Some("/opt/bin"));
    let g = graph_with(
        "FROM base\nCMD [\"x\"]\nENTRYPOINT [\"/app\"]\n",
        BuildOptions::default(),
        &images,
    )
    .unwrap();
    assert_eq!(g.target_stage().config.cmd, Some(vec!["x".to_string()]));
}

#[test]
fn heredocs_become_scripts_and_inline_files() {
    let g = graph("FROM scratch\nRUN <<EOF\necho one\necho two\nEOF\nCOPY <<EOT /etc/motd\nhi $HOSTNAME\nEOT\n");
    assert_eq!(execs(&g)[0].argv[2], "echo one\necho two\n");
    let copy = g
        .vertices
        .iter()
        .find_map(|v| match &v.op {
            Op::Copy(copy) => Some(copy),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        copy.sources[0],
        CopySource::Inline {
            name: "EOT".into(),
            content: "hi \n".into()
        }
    );
}

#[test]
fn identical_steps_share_a_vertex_and_digests_follow_definitions() {
    let g = graph("FROM scratch AS a\nRUN make\nFROM scratch AS b\nRUN make\nFROM scratch\nCOPY --from=a /x /x\nCOPY --from=b /y /y\n");
    assert_eq!(execs(&g).len(), 1, "the two identical RUNs are one vertex");
    let one = graph("FROM scratch\nRUN make\n");
    let two = graph("FROM scratch\nRUN make test\n");
    assert_ne!(
        one.vertices.last().unwrap().digest,
        two.vertices.last().unwrap().digest
    );
    assert_eq!(
        one.vertices.last().unwrap().digest,
        graph("FROM scratch\nRUN make\n")
            .vertices
            .last()
            .unwrap()
            .digest
    );
}

#[test]
fn step_names_count_like_buildkit() {
    let g = graph("FROM scratch\nENV A=1\nWORKDIR /x\nRUN true\n");
    let names: Vec<&str> = g
        .vertices
        .iter()
        .map(|v| v.name.as_str())
        .filter(|n| !n.is_empty())
        .collect();
    assert_eq!(
        names,
        ["[1/3] FROM scratch", "[2/3] WORKDIR /x", "[3/3] RUN true"]
    );
}

#[test]
fn expansion_errors_name_the_line() {
    let err = graph_with(
        "FROM scratch\nENV A=${B:?required}\n",
        BuildOptions::default(),
        &UnknownBaseImages,
    )
    .unwrap_err();
    assert_eq!(err.location().unwrap().start_line, 2);
    assert!(err.message().contains("B: required"), "{err}");
}
