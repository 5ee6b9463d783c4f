//! Kept containers: the writable layer of a `strata run` and the facts about it, under
//! `containers-v1/<id>/`:
//!
//! ```text
//! containers-v1/<id>/
//!   record.json   the ContainerRecord (written whole, then renamed into place)
//!   running       flock'd by the strata process that runs the container, while it runs
//!   upper/ work/  the overlay's upper and work dirs (the container's changes)
//!   run/          per-run scratch (the merged mount point, /etc files): empty when stopped
//! ```
//!
//! There is no daemon: a container runs exactly as long as the `strata run` that started it,
//! which holds the `running` lock and not the store's (a shell can stay open while builds
//! run). GC treats a running container's image layers as roots and deletes stopped ones
//! (`strata prune`, as `docker system prune` drops stopped containers). A directory without a
//! readable record is a container an interrupted `strata run` was making: garbage.
//!
//! Bump the `-v1` when the record's meaning changes (not for an added optional field).

use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::scratch::{remove_tree, unique_name};

/// The directory under the root; the suffix is the on-disk format's version.
pub const CONTAINERS_DIR: &str = "containers-v1";

/// What strata remembers about a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// 64 lower-case hex characters.
    pub id: String,
    /// The unique name (`--name`, or one strata made up).
    pub name: String,
    /// The image as the user named it.
    pub image: String,
    /// The image's ID (config digest).
    pub image_id: Digest,
    /// The image's config JSON (what `commit` builds on, even after the image is removed).
    pub image_config: serde_json::Value,
    /// The image's layers (DiffIDs), bottom first: the overlay's lower dirs.
    pub layers: Vec<Digest>,
    /// The command it ran (entrypoint and arguments).
    pub command: Vec<String>,
    /// Unix seconds.
    pub created: i64,
    /// Unix seconds when it stopped; `None` while it runs (or if strata was killed).
    pub finished: Option<i64>,
    /// Its exit code, once it stopped.
    pub exit_code: Option<i32>,
    /// `--rm`: removed by the `strata run` itself when it stops.
    pub auto_remove: bool,
}

/// The containers of a store.
#[derive(Debug, Clone)]
pub struct Containers {
    dir: PathBuf,
}

/// Held while a container runs: the flock on its `running` file. Dropping it (or the process
/// dying) marks the container stopped.
#[derive(Debug)]
pub struct RunningGuard {
    _file: File,
}

impl Containers {
    pub(crate) fn new(root: &Path) -> Result<Self> {
        let dir = root.join(CONTAINERS_DIR);
        crate::private::create_private_dir(&dir)?;
        Ok(Containers { dir })
    }

    /// The directory of container `id`.
    pub fn path(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Creates the container's directory (with `upper/`, `work/` and `run/`) and record and
    /// marks it running. Call with the store open (so no prune runs meanwhile).
    pub fn create(&self, record: &ContainerRecord) -> Result<RunningGuard> {
        if !is_id(&record.id) {
            return Err(Error::NotFound(format!("container id {:?}", record.id)));
        }
        // Made aside and renamed: a half-made container never has its final name.
        let staging = self.dir.join(format!(".{}", unique_name("new")));
        let made = (|| {
            for sub in ["upper", "work", "run"] {
                let dir = staging.join(sub);
                fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            }
            write_record(&staging, record)?;
            let guard = lock_running(&staging)?;
            let target = self.path(&record.id);
            fs::rename(&staging, &target).map_err(|e| Error::io(&target, e))?;
            Ok(guard)
        })();
        if made.is_err() {
            let _ = remove_tree(&staging);
        }
        made
    }

    /// Rewrites a container's record (its owner does, when the container stops).
    pub fn update(&self, record: &ContainerRecord) -> Result<()> {
        write_record(&self.path(&record.id), record)
    }

    /// Every container with a readable record, oldest first.
    pub fn list(&self) -> Result<Vec<ContainerRecord>> {
        let mut out = Vec::new();
        for id in self.ids()? {
            if let Some(record) = read_record(&self.path(&id)) {
                out.push(record);
            }
        }
        out.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// The container a user names: its name, full ID or a unique ID prefix (as docker).
    pub fn find(&self, name_or_id: &str) -> Result<Option<ContainerRecord>> {
        let all = self.list()?;
        if let Some(found) = all
            .iter()
            .find(|c| c.name == name_or_id || c.id == name_or_id)
        {
            return Ok(Some(found.clone()));
        }
        if name_or_id.is_empty() || !name_or_id.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let mut matches = all.iter().filter(|c| c.id.starts_with(name_or_id));
        match (matches.next(), matches.next()) {
            (Some(one), None) => Ok(Some(one.clone())),
            (Some(_), Some(_)) => Err(Error::NotFound(format!(
                "a unique container for the ID prefix `{name_or_id}` (several match)"
            ))),
            _ => Ok(None),
        }
    }

    /// Whether a `strata run` is running container `id` now.
    pub fn is_running(&self, id: &str) -> bool {
        let path = self.path(id).join("running");
        let Ok(file) = File::open(&path) else {
            return false;
        };
        // The shared lock, if we get it, is released when `file` closes.
        rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockShared).is_err()
    }

    /// Deletes a stopped container and its writable layer.
    pub fn remove(&self, id: &str) -> Result<()> {
        let path = self.path(id);
        // Renamed away first: a removal cut short leaves a `.`-name that the next prune ends.
        let doomed = self.dir.join(format!(".{}", unique_name("rm")));
        match fs::rename(&path, &doomed) {
            Ok(()) => remove_tree(&doomed).map_err(|e| Error::io(&doomed, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// Removes every stopped container and what interrupted runs left; returns the removed
    /// records (leftovers without one are not counted).
    pub(crate) fn remove_stopped(&self) -> Result<Vec<ContainerRecord>> {
        let mut removed = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))? {
            let entry = entry.map_err(|e| Error::io(&self.dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                remove_tree(&entry.path()).map_err(|e| Error::io(entry.path(), e))?;
                continue;
            }
            if self.is_running(&name) {
                continue;
            }
            let record = read_record(&entry.path());
            self.remove(&name)?;
            removed.extend(record);
        }
        Ok(removed)
    }

    /// Layers running containers use (GC roots).
    pub(crate) fn running_layers(&self) -> Result<Vec<Digest>> {
        Ok(self
            .list()?
            .into_iter()
            .filter(|c| self.is_running(&c.id))
            .flat_map(|c| c.layers)
            .collect())
    }

    fn ids(&self) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))? {
            let entry = entry.map_err(|e| Error::io(&self.dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_id(&name) {
                ids.push(name);
            }
        }
        Ok(ids)
    }
}

fn is_id(name: &str) -> bool {
    name.len() == 64
        && name
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

fn lock_running(dir: &Path) -> Result<RunningGuard> {
    let path = dir.join("running");
    let file = crate::lock::open_lock_file(&path)?;
    crate::lock::try_lock_exclusive(&file).map_err(|e| Error::io(&path, e))?;
    Ok(RunningGuard { _file: file })
}

fn write_record(dir: &Path, record: &ContainerRecord) -> Result<()> {
    let path = dir.join("record.json");
    let tmp = dir.join(".record.json.tmp");
    let json = serde_json::to_vec_pretty(record).expect("a record serializes");
    let mut file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    file.write_all(&json).map_err(|e| Error::io(&tmp, e))?;
    file.sync_all().map_err(|e| Error::io(&tmp, e))?;
    fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))
}

fn read_record(dir: &Path) -> Option<ContainerRecord> {
    let bytes = fs::read(dir.join("record.json")).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: char, name: &str) -> ContainerRecord {
        ContainerRecord {
            id: std::iter::repeat_n(id, 64).collect(),
            name: name.into(),
            image: "img".into(),
            image_id: Digest::of(b"config"),
            image_config: serde_json::json!({}),
            layers: vec![Digest::of(b"layer")],
            command: vec!["sh".into()],
            created: 1,
            finished: None,
            exit_code: None,
            auto_remove: false,
        }
    }

    #[test]
    fn a_running_container_survives_prune_and_a_stopped_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let containers = Containers::new(dir.path()).unwrap();
        let running = containers.create(&record('a', "one")).unwrap();
        let stopped = containers.create(&record('b', "two")).unwrap();
        drop(stopped);
        assert!(containers.is_running(&"a".repeat(64)));
        assert!(!containers.is_running(&"b".repeat(64)));
        assert_eq!(containers.running_layers().unwrap().len(), 1);
        let removed = containers.remove_stopped().unwrap();
        assert_eq!(removed.len(), 1);
        assert_eq!(removed[0].name, "two");
        assert_eq!(containers.list().unwrap().len(), 1);
        assert_eq!(
            containers.find("aaaa").unwrap().unwrap().name,
            "one",
            "an ID prefix finds it"
        );
        assert_eq!(containers.find("one").unwrap().unwrap().id, "a".repeat(64));
        drop(running);
        assert!(containers.running_layers().unwrap().is_empty());
    }
}
