//! [`Checkpoint`]s: where each (table, unit) collection stands, kept in the lake under `_state/`.
//!
//! [`CheckpointStore::save`] is a conditional write: it succeeds only if the checkpoint is still
//! the one [`CheckpointStore::load`] returned, so two overlapping runs can never move a cursor
//! backwards or lose each other's ids. On S3 that is `If-None-Match: *` for the first write and
//! `If-Match: <etag>` after; a local lake gets the same guarantee from an exclusive file lock
//! and a generation number (object_store's local store does not implement `PutMode::Update`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};

use crate::error::{Classify, ErrorClass};
use crate::lake::{Lake, store_error_class};

pub mod seen_ids;

/// The state of one (table, unit) collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub table: String,
    /// The AWS account or Entra tenant.
    pub unit: String,
    /// Everything up to this instant has been written.
    pub cursor: DateTime<Utc>,
    /// Ids already written whose time lies in the overlap before `cursor` (with that time);
    /// a re-scan skips them. Stored compactly, see [`seen_ids`] (times rounded up to the
    /// minute).
    #[serde(default, with = "seen_ids")]
    pub seen_ids: BTreeMap<String, DateTime<Utc>>,
    /// Where each query kind stands, for a source that pulls several side by side (Graph: one
    /// lane per sign-in event type). `cursor` is the lowest of them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub lanes: BTreeMap<String, LaneCheckpoint>,
    /// The run that wrote this checkpoint.
    pub run_id: String,
    pub updated_at: DateTime<Utc>,
    /// Incremented by every save.
    #[serde(default)]
    pub generation: u64,
}

/// Where one lane of a unit stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaneCheckpoint {
    /// Everything of this lane up to this instant has been written.
    pub cursor: DateTime<Utc>,
    /// Rows per hour of log time, as last measured: the next run sizes its queries with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows_per_hour: Option<f64>,
    /// The longest slice the next run may start in this lane, in seconds: half of one the
    /// time budget cut short, so a slice too long for one run is never read again and again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_slice_secs: Option<i64>,
    /// The slice at `cursor` that the time budget cut short, with the link to its next page:
    /// the next run goes on from there instead of reading its first pages again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<ResumeSlice>,
    /// When the run that last moved `cursor` began (its event time). Everything it read before
    /// `read_at − lag − overlap` was already older than lag + overlap when read, so the next
    /// run's overlap re-scan need not reach back past that: a record later than the overlap
    /// promises is all it could find there. Absent in older checkpoints (full re-scan).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_at: Option<DateTime<Utc>>,
}

/// A query to go on with: the slice `[from, to)` and the nextLink where it stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResumeSlice {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub next_link: String,
}

/// The version a checkpoint was loaded at; pass it back to [`CheckpointStore::save`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Version {
    /// Not yet written: the save must create it.
    Absent,
    /// S3 ETag of the loaded object.
    ETag(String),
    /// Generation number of a local checkpoint.
    Generation(u64),
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint {path} was changed by another run since it was read; this run's data is written, its checkpoint is not")]
    Conflict { path: String },
    #[error("checkpoint {path}: {message}")]
    Store { path: String, message: String, class: ErrorClass },
    #[error("checkpoint {path} is not valid: {message}")]
    Corrupt { path: String, message: String },
}

impl Classify for CheckpointError {
    fn class(&self) -> ErrorClass {
        match self {
            // The other run made progress; the next scheduled run resumes from it.
            CheckpointError::Conflict { .. } => ErrorClass::Retryable,
            CheckpointError::Store { class, .. } => *class,
            CheckpointError::Corrupt { .. } => ErrorClass::NonRetryable,
        }
    }
}

/// Loads and saves checkpoints of one lake.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    lake: Lake,
}

impl CheckpointStore {
    pub fn new(lake: Lake) -> Self {
        CheckpointStore { lake }
    }

    /// `_state/<table>/<unit>.json`, relative to the lake root.
    pub fn path(table: &str, unit: &str) -> Path {
        Path::from(format!("_state/{table}/{unit}.json"))
    }

    pub async fn load(&self, table: &str, unit: &str) -> Result<(Option<Checkpoint>, Version), CheckpointError> {
        self.load_document(&Self::path(table, unit)).await
    }

    /// Writes `checkpoint` if the stored one is still at `expected`; returns the new version.
    pub async fn save(&self, checkpoint: Checkpoint, expected: &Version) -> Result<Version, CheckpointError> {
        let path = Self::path(&checkpoint.table, &checkpoint.unit);
        self.save_document(&path, checkpoint, expected).await
    }

    /// Loads any state document at `path` (lake-relative), with the version to save it at.
    pub async fn load_document<T: StateDocument>(&self, path: &Path) -> Result<(Option<T>, Version), CheckpointError> {
        let path = path.clone();
        if let Some(root) = self.lake.local_root() {
            let file = root.join(path.as_ref());
            return tokio::task::spawn_blocking(move || local::load(&file))
                .await
                .map_err(|e| store_err(&path, e.to_string(), ErrorClass::Retryable))?;
        }
        match self.lake.store().get(&path).await {
            Ok(got) => {
                let etag = got.meta.e_tag.clone().unwrap_or_default();
                let bytes = got.bytes().await.map_err(|e| store_err(&path, e.to_string(), store_error_class(&e)))?;
                let document = parse(&path, &bytes)?;
                Ok((Some(document), Version::ETag(etag)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok((None, Version::Absent)),
            Err(e) => Err(store_err(&path, e.to_string(), store_error_class(&e))),
        }
    }

    /// Writes any state document at `path` if the stored one is still at `expected`.
    pub async fn save_document<T: StateDocument>(
        &self,
        path: &Path,
        mut document: T,
        expected: &Version,
    ) -> Result<Version, CheckpointError> {
        let path = path.clone();
        if let Some(root) = self.lake.local_root() {
            let file = root.join(path.as_ref());
            let expected = expected.clone();
            return tokio::task::spawn_blocking(move || local::save(&file, document, &expected))
                .await
                .map_err(|e| store_err(&path, e.to_string(), ErrorClass::Retryable))?;
        }
        document.set_generation(document.generation() + 1);
        let body = serde_json::to_vec_pretty(&document).expect("a state document always serializes");
        let mode = match expected {
            Version::Absent => PutMode::Create,
            Version::ETag(e_tag) => PutMode::Update(UpdateVersion { e_tag: Some(e_tag.clone()), version: None }),
            Version::Generation(_) => {
                return Err(store_err(&path, "a local version cannot guard an S3 write".into(), ErrorClass::NonRetryable));
            }
        };
        let opts = PutOptions { mode, ..Default::default() };
        match self.lake.store().put_opts(&path, PutPayload::from(body), opts).await {
            Ok(result) => Ok(Version::ETag(result.e_tag.unwrap_or_default())),
            Err(object_store::Error::Precondition { .. } | object_store::Error::AlreadyExists { .. }) => {
                Err(CheckpointError::Conflict { path: path.to_string() })
            }
            Err(e) => Err(store_err(&path, e.to_string(), store_error_class(&e))),
        }
    }
}

fn store_err(path: impl std::fmt::Display, message: String, class: ErrorClass) -> CheckpointError {
    CheckpointError::Store { path: path.to_string(), message, class }
}

/// A JSON document under `_state/` written with the checkpoints' conditional write
/// ([`CheckpointStore::save_document`]): checkpoints, and the Azure delivery progress.
pub trait StateDocument: Serialize + serde::de::DeserializeOwned + Send + 'static {
    /// How many times it was written: the version a local store compares (S3 uses the ETag).
    fn generation(&self) -> u64;
    fn set_generation(&mut self, generation: u64);
}

impl StateDocument for Checkpoint {
    fn generation(&self) -> u64 {
        self.generation
    }
    fn set_generation(&mut self, generation: u64) {
        self.generation = generation;
    }
}

fn parse<T: StateDocument>(path: impl std::fmt::Display, bytes: &[u8]) -> Result<T, CheckpointError> {
    serde_json::from_slice(bytes).map_err(|e| CheckpointError::Corrupt { path: path.to_string(), message: e.to_string() })
}

/// Local-directory checkpoints: an exclusive lock on `<file>.lock` serialises savers, and the
/// generation inside the file plays the role of the ETag. Errors show the path as the user
/// gave the lake.
mod local {
    use super::*;
    use fs4::fs_std::FileExt;
    use std::io::Write;

    pub(super) fn load<T: StateDocument>(file: &PathBuf) -> Result<(Option<T>, Version), CheckpointError> {
        match std::fs::read(file) {
            Ok(bytes) => {
                let document: T = parse(file.display(), &bytes)?;
                let generation = document.generation();
                Ok((Some(document), Version::Generation(generation)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((None, Version::Absent)),
            Err(e) => Err(store_err(file.display(), e.to_string(), ErrorClass::Retryable)),
        }
    }

    pub(super) fn save<T: StateDocument>(
        file: &PathBuf,
        mut document: T,
        expected: &Version,
    ) -> Result<Version, CheckpointError> {
        let io = |e: std::io::Error| store_err(file.display(), e.to_string(), ErrorClass::Retryable);
        let dir = file.parent().expect("checkpoint paths have a parent");
        std::fs::create_dir_all(dir).map_err(io)?;
        let lock =
            std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(file.with_extension("lock")).map_err(io)?;
        lock.lock_exclusive().map_err(io)?;

        let (_, current) = load::<T>(file)?;
        let matches = match (expected, &current) {
            (Version::Absent, Version::Absent) => true,
            (Version::Generation(a), Version::Generation(b)) => a == b,
            _ => false,
        };
        if !matches {
            return Err(CheckpointError::Conflict { path: file.display().to_string() });
        }
        document.set_generation(match current {
            Version::Generation(g) => g + 1,
            _ => 1,
        });
        replace_file(file, &serde_json::to_vec_pretty(&document).expect("a state document always serializes")).map_err(io)?;
        Ok(Version::Generation(document.generation()))
        // The lock is released when `lock` is dropped.
    }

    /// Writes `body` to a temporary file beside `file` and renames it into place, so a reader
    /// sees the old checkpoint or the new one, never half of one. The temporary file removes
    /// itself when any step fails.
    pub(super) fn replace_file(file: &std::path::Path, body: &[u8]) -> std::io::Result<()> {
        let dir = file.parent().expect("checkpoint paths have a parent");
        let mut tmp = tempfile::Builder::new().prefix(".checkpoint-").suffix(".tmp").tempfile_in(dir)?;
        tmp.write_all(body)?;
        tmp.as_file().sync_all()?;
        tmp.persist(file).map_err(|e| e.error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::LakeUrl;

    fn checkpoint(unit: &str, cursor: &str) -> Checkpoint {
        Checkpoint {
            table: "t".into(),
            unit: unit.into(),
            cursor: cursor.parse().unwrap(),
            seen_ids: BTreeMap::from([("a".to_string(), "2026-11-01T00:00:00Z".parse().unwrap())]),
            lanes: BTreeMap::new(),
            run_id: "r1".into(),
            updated_at: Utc::now(),
            generation: 0,
        }
    }

    #[tokio::test]
    async fn local_store_refuses_a_stale_write() {
        let dir = tempfile::tempdir().unwrap();
        let aws = aws_config::SdkConfig::builder().build();
        let lake = Lake::open(&LakeUrl::Local(dir.path().into()), &aws).await.unwrap();
        let store = CheckpointStore::new(lake);

        let (none, v0) = store.load("t", "u").await.unwrap();
        assert!(none.is_none());
        assert_eq!(v0, Version::Absent);

        let v1 = store.save(checkpoint("u", "2026-11-01T00:00:00Z"), &v0).await.unwrap();
        // A second run that also read "absent" must not overwrite the first one's checkpoint.
        let err = store.save(checkpoint("u", "2026-10-01T00:00:00Z"), &v0).await.unwrap_err();
        assert!(matches!(err, CheckpointError::Conflict { .. }), "{err}");

        let (loaded, v) = store.load("t", "u").await.unwrap();
        assert_eq!(v, v1);
        assert_eq!(loaded.unwrap().cursor, "2026-11-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap());

        let v2 = store.save(checkpoint("u", "2026-11-02T00:00:00Z"), &v1).await.unwrap();
        assert!(matches!(store.save(checkpoint("u", "2026-11-03T00:00:00Z"), &v1).await, Err(CheckpointError::Conflict { .. })));
        assert_eq!(v2, Version::Generation(2));
    }

    #[tokio::test]
    async fn a_corrupt_checkpoint_names_its_path_as_the_user_gave_the_lake() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("_state/t")).unwrap();
        std::fs::write(dir.path().join("_state/t/u.json"), b"{not json").unwrap();
        let lake = Lake::open(&LakeUrl::Local(dir.path().into()), &aws_config::SdkConfig::builder().build()).await.unwrap();
        let err = CheckpointStore::new(lake).load("t", "u").await.unwrap_err();
        let expected = dir.path().join("_state/t/u.json");
        assert!(err.to_string().contains(&format!("checkpoint {} is not valid", expected.display())), "{err}");
    }

    #[test]
    fn a_failed_local_write_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the checkpoint file should go: the final rename fails.
        let file = dir.path().join("u.json");
        std::fs::create_dir_all(file.join("occupied")).unwrap();
        local::replace_file(&file, b"{}").unwrap_err();
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from("u.json")], "only the directory that was in the way");

        // The same helper succeeds where nothing is in the way, also leaving nothing behind.
        let file = dir.path().join("v.json");
        local::replace_file(&file, b"{\"a\":1}").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"{\"a\":1}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
