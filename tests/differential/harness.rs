//! Running the two builders: docker (dockerd 20.10 with BuildKit, `/usr/bin/docker`) and
//! strata (the binary under test, on a temporary root), each saving what it built to a tarball
//! the image reader understands.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

use super::corpus::Build;
use super::image::{hex, read_saved, Image};

pub const DOCKER: &str = "/usr/bin/docker";

/// The last lines of a command's output, for error messages that stay readable.
fn tail(output: &Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(25);
    lines[start..].join("\n")
}

fn run(command: &mut Command, what: &str) -> Result<Output, String> {
    let output = command
        .output()
        .map_err(|e| format!("{what}: cannot run: {e}"))?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(format!(
            "{what} failed ({}):\n{}",
            output.status,
            tail(&output)
        ))
    }
}

/// Why docker cannot be used here, if it cannot.
pub fn docker_unavailable() -> Option<String> {
    if !Path::new(DOCKER).is_file() {
        return Some(format!("{DOCKER} is missing (apt-get install docker.io)"));
    }
    match Command::new(DOCKER)
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
    {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!(
            "dockerd does not answer ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Some(format!("cannot run {DOCKER}: {e}")),
    }
}

/// Holds an exclusive lock for the docker side: two runs on one machine (a developer's and
/// another test binary's) would otherwise tag and remove the same `strata-diff` names.
pub struct DockerLock(#[allow(dead_code)] std::fs::File);

/// Takes the lock, waiting for another run to finish.
pub fn lock_docker() -> Result<DockerLock, String> {
    use std::os::fd::AsRawFd;
    let path = std::env::temp_dir().join("strata-differential.lock");
    let file = std::fs::File::create(&path).map_err(|e| format!("`{}`: {e}", path.display()))?;
    // SAFETY: flock on a descriptor this function owns; no memory is shared.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(format!(
            "locking `{}`: {}",
            path.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok(DockerLock(file))
}

fn docker() -> Command {
    let mut command = Command::new(DOCKER);
    command.env("DOCKER_BUILDKIT", "1");
    command
}

fn sha256_file(path: &Path) -> Result<String, String> {
    let data = std::fs::read(path).map_err(|e| format!("`{}`: {e}", path.display()))?;
    Ok(hex(&Sha256::digest(&data)))
}

/// Imports the base tarball into docker as `name`, unless docker already holds exactly these
/// bytes under that name (the single layer's DiffID is the tarball's sha256): re-importing
/// would give a new image ID and throw docker's build cache away.
pub fn docker_import_base(tar: &Path, name: &str) -> Result<(), String> {
    let want = format!("[\"sha256:{}\"]", sha256_file(tar)?);
    let have = docker()
        .args([
            "image",
            "inspect",
            "--format",
            "{{json .RootFS.Layers}}",
            name,
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    if have == want {
        return Ok(());
    }
    run(
        docker().arg("import").arg(tar).arg(name),
        &format!("docker import {name}"),
    )?;
    Ok(())
}

/// Builds with docker and reads the result back through `docker save`.
pub fn docker_build(build: &Build, scratch: &Path) -> Result<Image, String> {
    run(
        docker()
            .args(["build", "--progress=plain", "-t", &build.tag, "-f"])
            .arg(&build.docker_dockerfile)
            .args(&build.args)
            .arg(&build.context),
        &format!("docker build -t {}", build.tag),
    )?;
    let out = scratch.join(format!("{}.docker.tar", file_name(&build.tag)));
    run(
        docker().args(["save", "-o"]).arg(&out).arg(&build.tag),
        &format!("docker save {}", build.tag),
    )?;
    let image = read_saved(&out);
    let _ = std::fs::remove_file(&out);
    image
}

/// Removes the tags the run made in docker's shared store (the build cache stays).
pub fn docker_remove(tags: &[String]) {
    if tags.is_empty() {
        return;
    }
    let _ = docker().arg("rmi").args(tags).output();
}

fn file_name(tag: &str) -> String {
    tag.replace(['/', ':'], "_")
}

/// strata on a root of its own.
pub struct Strata {
    pub bin: PathBuf,
    pub root: PathBuf,
}

impl Strata {
    fn command(&self) -> Command {
        let mut command = Command::new(&self.bin);
        command.arg("--root").arg(&self.root);
        command.env_remove("STRATA_ROOT");
        command
    }

    /// Why the strata side cannot run yet: a subcommand the harness needs is missing.
    pub fn unavailable(&self) -> Option<String> {
        for sub in ["build", "save", "import"] {
            let ok = self
                .command()
                .args([sub, "--help"])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            if !ok {
                return Some(format!("`strata {sub}` is not available"));
            }
        }
        None
    }

    /// `strata import TAR NAME`: the same bytes docker imported.
    pub fn import_base(&self, tar: &Path, name: &str) -> Result<(), String> {
        run(
            self.command().arg("import").arg(tar).arg(name),
            &format!("strata import {name}"),
        )?;
        Ok(())
    }

    /// Builds with strata and reads the result back through `strata save`.
    pub fn build(&self, build: &Build, scratch: &Path) -> Result<Image, String> {
        run(
            self.command()
                .args(["build", "--progress=plain", "-t", &build.tag, "-f"])
                .arg(&build.dockerfile)
                .args(&build.args)
                .arg(&build.context),
            &format!("strata build -t {}", build.tag),
        )?;
        let out = scratch.join(format!("{}.strata.tar", file_name(&build.tag)));
        run(
            self.command()
                .args(["save", "-o"])
                .arg(&out)
                .arg(&build.tag),
            &format!("strata save {}", build.tag),
        )?;
        let image = read_saved(&out);
        let _ = std::fs::remove_file(&out);
        image
    }
}
