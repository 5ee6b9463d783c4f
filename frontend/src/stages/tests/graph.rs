//! The graph's shape: dependency order, digests, merging, step names, lines, display.

use super::*;

#[test]
fn inputs_come_before_their_users() {
    let g = graph(
        "FROM alpine AS a\nRUN a\nFROM scratch AS b\nCOPY --from=a / /\nRUN --mount=from=a,target=/m b\nFROM b\nCOPY x y\n",
    );
    for (id, vertex) in g.vertices.iter().enumerate() {
        assert!(
            vertex.inputs.iter().all(|&i| i < id),
            "v{id} reads a later vertex"
        );
        assert_eq!(vertex.digest.len(), 64);
        assert!(vertex.digest.chars().all(|c| c.is_ascii_hexdigit()));
    }
    for stage in &g.stages {
        assert!(stage.base <= stage.last);
    }
}

#[test]
fn identical_steps_share_a_vertex_and_digests_follow_definitions() {
    let g = graph("FROM scratch AS a\nRUN make\nFROM scratch AS b\nRUN make\nFROM scratch\nCOPY --from=a /x /x\nCOPY --from=b /y /y\n");
    assert_eq!(execs(&g).len(), 1, "the two identical RUNs are one vertex");
    assert_eq!(g.stages[0].last, g.stages[1].last);
    let last = |text: &str| graph(text).vertices.last().unwrap().digest.clone();
    let one = last("FROM scratch\nRUN make\n");
    assert_eq!(
        one,
        last("FROM scratch\nRUN make\n"),
        "stable across compilations"
    );
    assert_ne!(one, last("FROM scratch\nRUN make test\n"));
    assert_ne!(
        one,
        last("FROM scratch\nENV A=1\nRUN make\n"),
        "the env is part of the definition"
    );
    assert_ne!(one, last("FROM scratch\nWORKDIR /w\nRUN make\n"));
    assert_ne!(one, last("FROM scratch\nUSER app\nRUN make\n"));
    assert_ne!(
        one,
        last("FROM busybox\nRUN make\n"),
        "the parent is part of it"
    );
    // A config-only change upstream changes what comes after it.
    assert_ne!(
        last("FROM scratch\nLABEL a=1\nCOPY a b\n"),
        last("FROM scratch\nLABEL a=2\nCOPY a b\n")
    );
    let with_arg = |value: &str| {
        let g = graph_with(
            "FROM scratch\nARG V\nRUN make\n",
            opts(&[("V", value)]),
            &UnknownBaseImages,
        )
        .unwrap();
        g.vertices.last().unwrap().digest.clone()
    };
    assert_ne!(
        with_arg("1"),
        with_arg("2"),
        "build arg values reach the digest"
    );
}

#[test]
fn step_names_count_and_pad_like_buildkit() {
    let g = graph("FROM busybox\nENV A=1\nWORKDIR /x\nRUN true\n");
    assert_eq!(
        names(&g),
        [
            "[1/3] FROM docker.io/library/busybox:latest",
            "[2/3] WORKDIR /x",
            "[3/3] RUN true"
        ]
    );
    let g = graph("FROM scratch\nCOPY a b\n");
    assert_eq!(names(&g), ["[1/1] COPY a b"], "scratch is no step");
    let runs: String = (0..10).map(|i| format!("RUN step {i}\n")).collect();
    let g = graph(&format!(
        "FROM scratch AS build\n{runs}FROM build\nRUN last\n"
    ));
    let n = names(&g);
    assert_eq!(n[0], "[build  1/10] RUN step 0");
    assert_eq!(n[9], "[build 10/10] RUN step 9");
    assert_eq!(n[10], "[stage-1 1/1] RUN last");
    // A `--from` image counts as a second source, so even a lone stage gets its name.
    let g = graph("FROM scratch\nCOPY --from=alpine /a /b\n");
    assert_eq!(
        names(&g),
        [
            "FROM docker.io/library/alpine:latest",
            "[stage-0 1/1] COPY --from=alpine /a /b"
        ]
    );
}

#[test]
fn step_names_show_known_variables_and_keep_the_rest_for_the_shell() {
    let g = graph("FROM scratch\nARG V=1.2\nENV DIR=/opt\nRUN echo \"$V\" '$V' $HOME ${UNSET:-x}\nCOPY app-$V.tgz $DIR/\nWORKDIR \"$DIR/w\"\n");
    assert_eq!(
        names(&g),
        [
            "[1/3] RUN echo \"1.2\" '$V' $HOME ${UNSET:-x}",
            "[2/3] COPY app-1.2.tgz /opt/",
            "[3/3] WORKDIR /opt/w"
        ]
    );
}

#[test]
fn vertices_remember_their_lines() {
    let g = graph("FROM scratch\n\nRUN a \\\n  b\nCOPY x y\n");
    let lines: Vec<(usize, usize)> = g
        .vertices
        .iter()
        .filter(|v| !v.name.is_empty())
        .map(|v| v.lines)
        .collect();
    assert_eq!(lines, [(3, 4), (5, 5)]);
    let context = g
        .vertices
        .iter()
        .find(|v| matches!(v.op, Op::Context))
        .unwrap();
    assert_eq!(context.lines, (0, 0));
}

#[test]
fn the_context_vertex_is_shared_and_its_digest_does_not_depend_on_what_is_read() {
    let g = graph("FROM scratch\nCOPY a /a\nCOPY b /b\n");
    let contexts = g
        .vertices
        .iter()
        .filter(|v| matches!(v.op, Op::Context))
        .count();
    assert_eq!(contexts, 1);
    let first = |text: &str| {
        let g = graph(text);
        let copy = g
            .vertices
            .iter()
            .position(|v| matches!(v.op, Op::Copy(_)))
            .unwrap();
        g.vertices[copy].digest.clone()
    };
    assert_eq!(
        first("FROM scratch\nCOPY a /a\n"),
        first("FROM scratch\nCOPY a /a\nCOPY more /more\n"),
        "adding a COPY later keeps the earlier one cached"
    );
}

#[test]
fn display_is_readable_and_stable() {
    let text = "ARG BASE=busybox\nFROM ${BASE} AS build\nARG MODE=debug\nRUN make $MODE\nFROM scratch\nCOPY --from=build --chown=1:1 /out /app\nCMD [\"/app\"]\n";
    let shown = graph(text).to_string();
    assert_eq!(shown, graph(text).to_string());
    let masked: Vec<String> = shown
        .lines()
        .map(|line| match line.split_once(' ') {
            Some((id, rest)) if id.starts_with('v') && rest.len() > 13 => {
                format!("{id} <digest>{}", &rest[12..])
            }
            _ => line.to_string(),
        })
        .collect();
    assert_eq!(
        masked,
        [
            "v0 <digest> image busybox (linux/amd64)",
            "    [build 1/2] FROM docker.io/library/busybox:latest",
            "v1 <digest> config ARG MODE=debug <- v0",
            "v2 <digest> exec [\"/bin/sh\", \"-c\", \"make $MODE\"] <- v1",
            "    [build 2/2] RUN make debug",
            "    cwd=/ network=default",
            "    env [\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\", \"MODE=debug\"]",
            "v3 <digest> scratch",
            "v4 <digest> copy [\"/out\"] -> /app from stage 0 <- v3, v2",
            "    [stage-1 1/1] COPY --from=build --chown=1:1 /out /app",
            "    workdir=/ chown=1:1",
            "v5 <digest> config CMD [\"/app\"] <- v4",
            "stage 0 build linux/amd64: v0 .. v2",
            "    env [\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"]",
            "    history [empty] ARG MODE=debug",
            "    history [v2] RUN |1 MODE=debug /bin/sh -c make $MODE # buildkit",
            "stage 1 - (target) linux/amd64: v3 .. v5",
            "    env [\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"]",
            "    workdir=/ cmd=[\"/app\"]",
            "    history [v4] COPY --chown=1:1 /out /app # buildkit",
            "    history [empty] CMD [\"/app\"]",
        ]
    );
}
