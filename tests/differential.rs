//! Differential tests: every case of `tests/differential/cases/` is built by `docker build`
//! (dockerd from Debian's docker.io, BuildKit) and by `strata build`, from the same base image,
//! and the two images must agree on the config fields a user sees and on the flattened
//! filesystem (type, mode, owner, size, content, link target of every path). A difference is
//! a failure unless the case's `expected-differences` gives the reason it is genuine.
//!
//! Run one or a few cases: `STRATA_DIFF_CASES=onbuild,copy cargo test differential`.
//! `STRATA_DIFF_DUMP=DIR` writes each image's config and file listing to
//! `DIR/<case>.<docker|strata>.txt`; `STRATA_DIFF_DOCKER_ONLY=1` checks the corpus against
//! docker alone (as happens by itself while strata lacks `build`, `import` or `save`).
//! See `differential/corpus.rs` for the case format.

mod base;
mod compare;
mod corpus;
mod harness;
mod image;
mod reader_tests;

use std::fmt::Write as _;
use std::path::Path;

use base::BASE;
use corpus::Case;
use harness::Strata;
use image::Image;

use crate::util::{is_root, skip, skip_unless, TestEnv};

/// The issue asks for a corpus of at least this many cases.
const MIN_CASES: usize = 40;

/// What one side made of one case: an image per build, or why it failed.
type Built = Result<Vec<Image>, String>;

fn build_all(
    cases: &[Case],
    mut build: impl FnMut(&corpus::Build) -> Result<Image, String>,
) -> Vec<Built> {
    cases
        .iter()
        .map(|case| case.builds.iter().map(&mut build).collect())
        .collect()
}

#[test]
fn corpus_builds_the_same_with_docker_and_strata() {
    if skip_unless(
        is_root(),
        "the differential suite needs root (strata's sandbox)",
    ) || skip_unless(
        base::busybox_available(),
        "/bin/busybox is missing (busybox-static): no base image",
    ) {
        return;
    }
    if let Some(reason) = harness::docker_unavailable() {
        skip(&reason);
        return;
    }
    let filter = std::env::var("STRATA_DIFF_CASES").ok();
    let dirs = corpus::list(filter.as_deref()).unwrap();
    if filter.is_none() {
        assert!(
            dirs.len() >= MIN_CASES,
            "the corpus has {} cases, fewer than {MIN_CASES}",
            dirs.len()
        );
    }
    let env = TestEnv::new();
    let work = env.path("cases");
    let cases: Vec<Case> = dirs
        .iter()
        .map(|dir| corpus::prepare(dir, &work).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let _lock = harness::lock_docker().unwrap_or_else(|e| panic!("{e}"));
    let base_tar = env.path("base.tar");
    base::write_base_tar(&base_tar).unwrap();
    harness::docker_import_base(&base_tar, BASE).unwrap_or_else(|e| panic!("{e}"));

    let strata = Strata {
        bin: crate::util::strata_bin().into(),
        root: env.root(),
    };
    let strata_missing = match std::env::var_os("STRATA_DIFF_DOCKER_ONLY") {
        Some(_) => Some("STRATA_DIFF_DOCKER_ONLY is set".to_string()),
        None => strata.unavailable(),
    };
    if strata_missing.is_none() {
        strata
            .import_base(&base_tar, BASE)
            .unwrap_or_else(|e| panic!("{e}"));
    }

    // One thread per builder: docker's daemon and strata's store each take one build at a
    // time here, and the two sides overlap.
    let scratch = env.path("saved");
    std::fs::create_dir_all(&scratch).unwrap();
    let (docker_side, strata_side) = std::thread::scope(|scope| {
        let strata_thread = strata_missing
            .is_none()
            .then(|| scope.spawn(|| build_all(&cases, |b| strata.build(b, &scratch))));
        let docker_side = build_all(&cases, |b| harness::docker_build(b, &scratch));
        (docker_side, strata_thread.map(|t| t.join().unwrap()))
    });
    let tags: Vec<String> = cases
        .iter()
        .flat_map(|c| c.builds.iter().map(|b| b.tag.clone()))
        .collect();
    harness::docker_remove(&tags);
    if let Some(dir) = std::env::var_os("STRATA_DIFF_DUMP") {
        dump(Path::new(&dir), &cases, "docker", &docker_side);
        if let Some(strata_side) = &strata_side {
            dump(Path::new(&dir), &cases, "strata", strata_side);
        }
    }

    let report = match (&strata_side, &strata_missing) {
        (Some(strata_side), _) => compare_sides(&cases, &docker_side, strata_side),
        (None, Some(reason)) => {
            eprintln!("strata side not run: {reason}; checked that docker builds every case");
            docker_only(&cases, &docker_side)
        }
        (None, None) => unreachable!("strata runs when nothing is missing"),
    };
    eprintln!("{}", report.text);
    assert!(
        report.failed == 0,
        "{} of {} differential cases failed (see above)",
        report.failed,
        cases.len()
    );
}

/// Writes every built image's listing (the last build of a case is the case's own image).
fn dump(dir: &Path, cases: &[Case], side: &str, built: &[Built]) {
    std::fs::create_dir_all(dir).unwrap();
    for (case, built) in cases.iter().zip(built) {
        let text = match built {
            Ok(images) => images.last().map(Image::listing).unwrap_or_default(),
            Err(e) => format!("build failed: {e}\n"),
        };
        std::fs::write(dir.join(format!("{}.{side}.txt", case.name)), text).unwrap();
    }
}

struct Report {
    text: String,
    failed: usize,
}

/// Without strata: every case must build with docker and read back sensibly.
fn docker_only(cases: &[Case], docker_side: &[Built]) -> Report {
    let mut report = Report {
        text: String::new(),
        failed: 0,
    };
    for (case, built) in cases.iter().zip(docker_side) {
        let must_fail = case.expect_failure.as_ref().and_then(|f| f.docker.as_ref());
        let status = match (built, must_fail) {
            (Err(e), Some(_)) if !case.expect_failure.as_ref().unwrap().names_what_it_must(e) => {
                report.failed += 1;
                format!("FAILED: fails, but its error does not say what it must: {e}")
            }
            (Err(_), Some(why)) => format!("ok (fails as it must: {why})"),
            (Ok(_), Some(why)) => {
                report.failed += 1;
                format!("FAILED: docker built it, but it must fail: {why}")
            }
            (built, None) => match built {
                Ok(images) if images.iter().all(|i| i.files.contains_key("/bin/busybox")) => {
                    format!("ok ({} paths)", images.last().unwrap().files.len())
                }
                Ok(_) => {
                    report.failed += 1;
                    "FAILED: the image read back lacks /bin/busybox".to_string()
                }
                Err(e) => {
                    report.failed += 1;
                    format!("FAILED: {e}")
                }
            },
        };
        writeln!(report.text, "docker {}: {status}", case.name).unwrap();
    }
    report
}

/// Compares every case's images and writes one block per case.
fn compare_sides(cases: &[Case], docker_side: &[Built], strata_side: &[Built]) -> Report {
    let mut report = Report {
        text: String::new(),
        failed: 0,
    };
    for ((case, docker), strata) in cases.iter().zip(docker_side).zip(strata_side) {
        let text = &mut report.text;
        if let Some(failure) = &case.expect_failure {
            let mut ok = true;
            let mut lines = String::new();
            for (name, built, must) in [
                ("docker", docker, &failure.docker),
                ("strata", strata, &failure.strata),
            ] {
                let line = match (built, must) {
                    (Err(e), Some(_)) if !failure.names_what_it_must(e) => {
                        ok = false;
                        format!(
                            "fails, but its error does not contain {:?}: {}",
                            failure.message.as_deref().unwrap_or_default(),
                            e.replace('\n', "\n    ")
                        )
                    }
                    (Err(_), Some(why)) => format!("fails as it must: {why}"),
                    (Ok(_), None) => "builds as it must".to_string(),
                    (Ok(_), Some(why)) => {
                        ok = false;
                        format!("built an image, but must fail: {why}")
                    }
                    (Err(e), None) => {
                        ok = false;
                        format!("failed, but must build: {}", e.replace('\n', "\n    "))
                    }
                };
                writeln!(lines, "  {name} {line}").unwrap();
            }
            if !ok {
                report.failed += 1;
            }
            let status = if ok { "ok  " } else { "FAIL" };
            write!(text, "{status} {}\n{lines}", case.name).unwrap();
            continue;
        }
        let (docker, strata) = match (docker, strata) {
            (Ok(d), Ok(s)) => (d, s),
            (d, s) => {
                report.failed += 1;
                writeln!(text, "FAIL {}: a build failed", case.name).unwrap();
                for (side, result) in [("docker", d), ("strata", s)] {
                    if let Err(e) = result {
                        writeln!(text, "  {side}: {}", e.replace('\n', "\n    ")).unwrap();
                    }
                }
                continue;
            }
        };
        let mut differences = Vec::new();
        for ((build, d), s) in case.builds.iter().zip(docker).zip(strata) {
            let prefix = if build.tag.starts_with("strata-diff/") {
                String::new()
            } else {
                format!("[{}] ", build.tag)
            };
            differences.extend(compare::compare(d, s).into_iter().map(|mut diff| {
                diff.key = format!("{prefix}{}", diff.key);
                diff
            }));
        }
        let verdict = compare::judge(differences, &case.expected);
        let status = if verdict.passed() { "ok  " } else { "FAIL" };
        if !verdict.passed() {
            report.failed += 1;
        }
        let note = case
            .reference
            .as_deref()
            .map(|r| format!(" (docker built Dockerfile.docker: {r})"))
            .unwrap_or_default();
        writeln!(text, "{status} {}{note}", case.name).unwrap();
        for diff in &verdict.unexpected {
            writeln!(text, "  differs  {diff}").unwrap();
        }
        for (diff, reason) in &verdict.explained {
            writeln!(text, "  expected {diff}\n           because {reason}").unwrap();
        }
        for stale in &verdict.stale {
            writeln!(
                text,
                "  stale    `{}` is listed in expected-differences but does not differ",
                stale.key
            )
            .unwrap();
        }
    }
    report
}

/// The corpus files parse: every case folder is well formed (no docker needed).
#[test]
fn every_case_folder_is_well_formed() {
    let dirs = corpus::list(None).unwrap();
    assert!(dirs.len() >= MIN_CASES, "only {} cases", dirs.len());
    let env = TestEnv::new();
    for dir in dirs {
        corpus::prepare(&dir, &env.path("cases")).unwrap_or_else(|e| panic!("{e}"));
    }
}
