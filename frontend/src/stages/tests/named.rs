//! Named contexts (`--build-context`): a stage replaced, a base image overridden, a
//! directory read by FROM, COPY --from and mounts, as BuildKit resolves them.

use super::*;
use crate::graph::{CopyFrom, MountSource};

fn with_contexts(contexts: &[(&str, NamedContext)]) -> BuildOptions {
    BuildOptions {
        named_contexts: contexts
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        ..BuildOptions::default()
    }
}

#[test]
fn a_context_replaces_the_stage_of_its_name() {
    let options = with_contexts(&[("build", NamedContext::Image("prebuilt:1".into()))]);
    let g = graph_with(
        "FROM golang AS build\nRUN go build\nFROM scratch\nCOPY --from=build /out /\n",
        options,
        &UnknownBaseImages,
    )
    .unwrap();
    assert!(execs(&g).is_empty(), "the stage's RUN is not built");
    assert_eq!(image_refs(&g), ["prebuilt:1"], "golang is never looked at");
    assert_eq!(copies(&g)[0].from, CopyFrom::Stage(0));
}

#[test]
fn an_image_context_overrides_a_base_by_its_familiar_name() {
    let options = with_contexts(&[("alpine", NamedContext::Image("mirror/alpine:3".into()))]);
    let images = Images::default().with("mirror/alpine:3", ImageConfig::default());
    let g = graph_with(
        "FROM docker.io/library/alpine:latest\nRUN x\n",
        options.clone(),
        &images,
    )
    .unwrap();
    assert_eq!(image_refs(&g), ["mirror/alpine:3"]);
    assert_eq!(images.asked.borrow().as_slice(), ["mirror/alpine:3"]);
    // Another tag is another name.
    let g = graph_with("FROM alpine:3.20\n", options, &UnknownBaseImages).unwrap();
    assert_eq!(image_refs(&g), ["alpine:3.20"]);
}

#[test]
fn a_directory_context_is_read_by_from_copy_and_mounts() {
    let options = with_contexts(&[("src", NamedContext::Local)]);
    let g = graph_with(
        "FROM src AS base\nRUN --mount=from=src,target=/m ls /m\nFROM base\nCOPY --from=src a /a\n",
        options,
        &UnknownBaseImages,
    )
    .unwrap();
    let roots: Vec<VertexId> = (0..g.vertices.len())
        .filter(|&i| matches!(&g.vertices[i].op, Op::NamedContext { name } if name == "src"))
        .collect();
    assert_eq!(roots.len(), 1, "one vertex for the context");
    // FROM: scratch plus everything the context has, one layer, in the history.
    let base = copies(&g)[0];
    assert_eq!(base.from, CopyFrom::NamedContext("src".into()));
    assert_eq!(base.dest, "/");
    assert_eq!(
        g.stages[0].history[0].0.created_by,
        "FROM src (build context)"
    );
    assert_eq!(g.stages[0].history[0].1, Some(g.stages[0].base));
    assert_eq!(g.stages[0].config.workdir, "/");
    assert_eq!(
        execs(&g)[0].mounts[0].source,
        MountSource::NamedContext("src".into())
    );
    assert_eq!(copies(&g)[1].from, CopyFrom::NamedContext("src".into()));
    let copy = g
        .vertices
        .iter()
        .rposition(|v| matches!(v.op, Op::Copy(_)))
        .unwrap();
    assert_eq!(g.vertices[copy].inputs[1], roots[0]);
    assert!(
        names(&g).contains(&"[base 1/2] FROM src (context)"),
        "{:?}",
        names(&g)
    );
}

#[test]
fn images_read_by_from_flags_are_asked_for_before_the_build() {
    let images = Images::default().with("tools:1", ImageConfig::default());
    graph_with(
        "FROM scratch\nCOPY --from=tools:1 /t /t\nRUN --mount=from=tools:1,target=/t true\n",
        BuildOptions::default(),
        &images,
    )
    .unwrap();
    assert_eq!(images.asked.borrow().as_slice(), ["tools:1", "tools:1"]);
    let error = graph_with(
        "FROM scratch\nCOPY --from=missing:1 /t /t\n",
        BuildOptions::default(),
        &images,
    )
    .unwrap_err();
    assert_eq!(error.location().unwrap().start_line, 2, "{error}");
    assert!(error
        .to_string()
        .contains("`missing:1` is not in the local store"));
}
