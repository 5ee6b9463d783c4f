//! What each instruction does to the config, the history and the graph, and where variables
//! are expanded.

use super::*;
use crate::graph::{CopySource, InlineFile};

#[test]
fn variables_are_expanded_where_buildkit_expands_them() {
    let g = graph(concat!(
        "FROM scratch\n",
        "ENV DIR=/srv FILE=a.txt USERNAME=app PORT=8081 SIG=SIGTERM LBL=value VOL=/data K=key M=640\n",
        "WORKDIR $DIR\n",
        "COPY --chown=${USERNAME}:${USERNAME} --chmod=$M --exclude=*.$FILE $FILE ${DIR}/copied-${FILE}\n",
        "USER ${USERNAME}\n",
        "EXPOSE $PORT ${PORT}/udp\n",
        "STOPSIGNAL $SIG\n",
        "LABEL $K=$LBL \"quoted $K\"=\"$LBL\"\n",
        "VOLUME $VOL\n",
        "RUN echo $DIR \"$FILE\"\n",
        "CMD echo $DIR\n",
        "ENTRYPOINT [\"/bin/$USERNAME\"]\n",
        "HEALTHCHECK CMD curl $DIR\n",
        "ONBUILD RUN echo $DIR\n",
    ));
    let config = &g.target_stage().config;
    assert_eq!(config.workdir, "/srv");
    assert_eq!(config.user, "app");
    assert!(config.exposed_ports.contains("8081/tcp") && config.exposed_ports.contains("8081/udp"));
    assert_eq!(config.stop_signal.as_deref(), Some("SIGTERM"));
    assert_eq!(config.labels.get("key").map(String::as_str), Some("value"));
    assert_eq!(
        config.labels.get("quoted key").map(String::as_str),
        Some("value")
    );
    assert!(config.volumes.contains("/data"));
    // Not expanded: the shell (or docker at run time) sees them.
    assert_eq!(
        config.cmd.as_deref().unwrap(),
        ["/bin/sh", "-c", "echo $DIR"]
    );
    assert_eq!(config.entrypoint.as_deref().unwrap(), ["/bin/$USERNAME"]);
    assert_eq!(
        config.healthcheck.as_ref().unwrap().test,
        ["CMD-SHELL", "curl $DIR"]
    );
    assert_eq!(config.onbuild, ["RUN echo $DIR"]);
    let run = execs(&g)[0];
    assert_eq!(run.argv, ["/bin/sh", "-c", "echo $DIR \"$FILE\""]);
    assert_eq!((run.cwd.as_str(), run.user.as_str()), ("/srv", "app"));
    let copy = copies(&g)[0];
    assert_eq!(copy.sources, [CopySource::Path("a.txt".into())]);
    assert_eq!(copy.dest, "/srv/copied-a.txt");
    assert_eq!(copy.chown.as_deref(), Some("app:app"));
    assert_eq!(copy.chmod, Some(0o640));
    assert_eq!(copy.exclude, ["*.a.txt"]);
    assert_eq!(copy.workdir, "/srv");
}

#[test]
fn history_is_recorded_as_buildkit_records_it() {
    let g = graph(concat!(
        "FROM scratch\n",
        "ARG V=1 NOVALUE\n",
        "ENV A=1 B=\"two words\"\n",
        "LABEL k=v\n",
        "MAINTAINER someone <a@b.c>\n",
        "WORKDIR /app\n",
        "WORKDIR /\n",
        "USER app:app\n",
        "EXPOSE 80 53/udp\n",
        "VOLUME /data /cache\n",
        "STOPSIGNAL SIGINT\n",
        "SHELL [\"/bin/bash\", \"-c\"]\n",
        "RUN make \"all\"\n",
        "RUN [\"ls\", \"-l\"]\n",
        "COPY --chown=app --chmod=644 a b /dst/\n",
        "COPY --parents x/./y /p/\n",
        "CMD [\"serve\", \"--port\", \"80\"]\n",
        "ENTRYPOINT /entry\n",
        "HEALTHCHECK --interval=30s --retries=3 CMD curl -f http://localhost/\n",
        "ONBUILD RUN echo child\n",
    ));
    assert_eq!(
        history(&g),
        [
            "ARG V=1 NOVALUE",
            "ENV A=1 B=two words",
            "LABEL k=v",
            "MAINTAINER someone <a@b.c>",
            "WORKDIR /app",
            "WORKDIR /",
            "USER app:app",
            "EXPOSE [80/tcp 53/udp]",
            "VOLUME [/data /cache]",
            "STOPSIGNAL SIGINT",
            "SHELL [/bin/bash -c]",
            "RUN |2 V=1 NOVALUE= /bin/bash -c make \"all\" # buildkit",
            "RUN |2 V=1 NOVALUE= ls -l # buildkit",
            "COPY --chown=app --chmod=644 a b /dst/ # buildkit",
            "COPY --parents x/./y /p/ # buildkit",
            "CMD [\"serve\" \"--port\" \"80\"]",
            "ENTRYPOINT [\"/bin/bash\" \"-c\" \"/entry\"]",
            "HEALTHCHECK {Test:[CMD-SHELL curl -f http://localhost/] Interval:30s Timeout:0s StartPeriod:0s StartInterval:0s Retries:3}",
        ]
    );
    let layers: Vec<bool> = g
        .target_stage()
        .history
        .iter()
        .map(|(h, _)| !h.empty_layer)
        .collect();
    let with_layer: Vec<usize> = layers
        .iter()
        .enumerate()
        .filter(|(_, l)| **l)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        with_layer,
        [4, 11, 12, 13, 14],
        "WORKDIR /app, the RUNs, COPY and ADD"
    );
    let config = &g.target_stage().config;
    assert_eq!(config.author.as_deref(), Some("someone <a@b.c>"));
    assert_eq!(config.shell, ["/bin/bash", "-c"]);
    assert_eq!(config.workdir, "/");
}

#[test]
fn workdir_joins_creates_and_rejects_empty_paths() {
    let g =
        graph("FROM scratch\nUSER app\nWORKDIR a\nWORKDIR b/../c\nWORKDIR /\nWORKDIR /x/./y/\n");
    let mkdirs: Vec<(&str, &str)> = g
        .vertices
        .iter()
        .filter_map(|v| match &v.op {
            Op::Mkdir { path, user } => Some((path.as_str(), user.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(
        mkdirs,
        [("/a", "app"), ("/a/c", "app"), ("/x/y", "app")],
        "`/` makes nothing"
    );
    // BuildKit keeps an absolute WORKDIR as written (config and history), and joins a
    // relative one onto it cleanly.
    assert_eq!(g.target_stage().config.workdir, "/x/./y/");
    assert_eq!(history(&g).last().unwrap(), "WORKDIR /x/./y/");
    let g = graph("FROM scratch\nWORKDIR /x/./y/\nWORKDIR ../z\nRUN pwd\n");
    assert_eq!(g.target_stage().config.workdir, "/x/z");
    assert_eq!(execs(&g)[0].cwd, "/x/z");
    let empty = graph("FROM scratch\n");
    assert_eq!(
        empty.target_stage().config.workdir,
        "/",
        "as BuildKit's empty image"
    );
    let e = err("FROM scratch\nARG EMPTY\nWORKDIR $EMPTY\n");
    assert_eq!(
        e.message(),
        "normalizing workdir: cannot normalize empty path"
    );
    assert_eq!(e.location().unwrap().start_line, 3);
}

#[test]
fn bad_values_are_errors_at_their_line() {
    let at = |text: &str| {
        let e = err(text);
        (e.message().to_string(), e.location().unwrap().start_line)
    };
    assert_eq!(
        at("FROM scratch\nEXPOSE 80/icmp\n"),
        ("invalid proto: icmp".into(), 2)
    );
    assert_eq!(
        at("FROM scratch\nENV P=x\nEXPOSE $P\n"),
        ("invalid containerPort: x".into(), 3)
    );
    assert_eq!(
        at("FROM scratch\nARG V=\nVOLUME $V\n"),
        ("VOLUME specified can not be an empty string".into(), 3)
    );
    assert_eq!(
        at("FROM scratch\nSTOPSIGNAL SIGNOPE\n"),
        ("invalid signal: SIGNOPE".into(), 2)
    );
    assert_eq!(
        at("FROM scratch\nARG M=999\nCOPY --chmod=$M a /b\n"),
        (
            "invalid chmod parameter: '999'. it should be octal string and between 0 and 07777"
                .into(),
            3
        )
    );
    assert_eq!(
        at("FROM scratch\nCOPY https://x.org/a /b\n"),
        ("source can't be a URL for COPY: https://x.org/a".into(), 2)
    );
    assert_eq!(
        at("FROM scratch\nADD --checksum=sha256:0 a /b\n"),
        ("checksum requires HTTP(S) or Git sources".into(), 2)
    );
    let (message, line) = at("FROM scratch\nUSER ${U:?set U}\n");
    assert_eq!(
        (message.as_str(), line),
        ("failed to process \"${U:?set U}\": U: set U", 2)
    );
}

#[test]
fn copy_heredocs_keep_quotes_and_expand_only_unquoted_delimiters() {
    let g = graph(concat!(
        "FROM scratch\n",
        "ARG NAME=world\n",
        "COPY <<EOF /etc/app.conf\n",
        "name=\"${NAME}\" 'x'\n",
        "EOF\n",
        "COPY <<\"EOF\" /raw.txt\n",
        "$NOT_EXPANDED\n",
        "EOF\n",
        "ARG MODE=u+x\n",
        "COPY --chmod=$MODE <<one <<two /multi/\n",
        "first\n",
        "one\n",
        "second\n",
        "two\n",
    ));
    let c = copies(&g);
    assert_eq!(
        c[0].sources,
        [CopySource::Inline {
            name: "EOF".into(),
            content: "name=\"world\" 'x'\n".into()
        }]
    );
    assert_eq!(
        c[1].sources,
        [CopySource::Inline {
            name: "EOF".into(),
            content: "$NOT_EXPANDED\n".into()
        }]
    );
    assert_eq!(c[2].sources.len(), 2);
    assert_eq!(
        (c[2].chmod, c[2].chmod_symbolic.as_deref()),
        (None, Some("u+x"))
    );
    let h = history(&g);
    assert_eq!(h[1], "COPY <<EOF /etc/app.conf # buildkit");
    assert_eq!(h[4], "COPY --chmod=u+x <<one <<two /multi/ # buildkit");
    assert!(
        g.context_paths.is_empty(),
        "heredocs read nothing from the context"
    );
}

#[test]
fn run_heredocs_run_as_buildkit_runs_them() {
    let g = graph(concat!(
        "FROM scratch\n",
        "RUN <<EOF\n",
        "echo one\n",
        "echo two\n",
        "EOF\n",
        "RUN <<EOF\n",
        "#!/usr/bin/env python3\n",
        "print(1)\n",
        "EOF\n",
        "RUN cat <<A >a && cat <<B >b\n",
        "x\n",
        "A\n",
        "y\n",
        "B\n",
    ));
    let runs = execs(&g);
    assert_eq!(runs[0].argv, ["/bin/sh", "-c", "echo one\necho two\n"]);
    assert_eq!(runs[1].argv, ["/bin/sh", "-c", "/dev/pipes/EOF"]);
    assert_eq!(
        runs[1].files,
        [InlineFile {
            path: "/dev/pipes/EOF".into(),
            content: "#!/usr/bin/env python3\nprint(1)\n".into(),
            mode: 0o755
        }]
    );
    assert_eq!(runs[2].argv[2], "cat <<A >a && cat <<B >b\nx\nA\ny\nB");
    assert_eq!(
        names(&g),
        [
            "[1/3] RUN <<EOF (echo one...)",
            "[2/3] RUN <<EOF (#!/usr/bin/env python3...)",
            "[3/3] RUN cat <<A >a && cat <<B >b"
        ]
    );
}

#[test]
fn run_network_security_and_mount_values() {
    let options = BuildOptions {
        network: "none".into(),
        ..BuildOptions::default()
    };
    let g = graph_with(
        "FROM scratch\nARG CACHE=/root/.cache\nRUN --network=default a\nRUN --network=host --security=insecure b\nRUN --mount=type=cache,target=$CACHE,id=${CACHE##*/} c\n",
        options,
        &UnknownBaseImages,
    )
    .unwrap();
    let runs = execs(&g);
    assert_eq!(
        (runs[0].network.as_str(), runs[0].security.as_str()),
        ("none", "sandbox")
    );
    assert_eq!(
        (runs[1].network.as_str(), runs[1].security.as_str()),
        ("host", "insecure")
    );
    let mount = &runs[2].mounts[0].mount;
    assert_eq!(mount.target.as_deref(), Some("/root/.cache"));
    assert_eq!(mount.id.as_deref(), Some(".cache"));
    assert!(!mount.uses_variables);
    let e = err("FROM scratch\nARG U=x\nRUN --mount=type=cache,target=/c,uid=$U y\n");
    assert_eq!(e.location().unwrap().start_line, 3);
}

#[test]
fn context_paths_list_what_copies_and_bind_mounts_read() {
    let g = graph("FROM scratch\nCOPY go.mod go.sum ./\nCOPY ./cmd/ /src/cmd\nADD https://x.org/f.tgz /\nRUN --mount=source=vendor,target=/v true\n");
    assert_eq!(g.context_paths, ["cmd", "go.mod", "go.sum", "vendor"]);
    let g = graph("FROM scratch\nCOPY . /src\n");
    assert_eq!(g.context_paths, ["."]);
    let g = graph("FROM scratch AS a\nRUN x\nFROM scratch\nCOPY --from=a / /\n");
    assert!(g.context_paths.is_empty());
}
