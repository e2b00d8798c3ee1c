//! Per-project zstd dictionaries for payload parts (issue 8: bytes on disk per span).
//!
//! Most payload parts are a few hundred bytes of chat messages, prompts and metadata that
//! share their vocabulary and structure with the project's other parts; compressed one
//! by one they shrink 1.8× with zstd, and 3.4× with a dictionary trained on the project's
//! own parts (measured on the generated agent workload, see bench/README.md).
//!
//! Life of a project's dictionary:
//! 1. Until it has one, [`Dictionaries::offer`] keeps the first parts of its ingested
//!    requests as samples (bounded per project and in total).
//! 2. With enough samples, a training thread builds the dictionary and stores it in
//!    `payload_dictionaries` with the addresses of its samples, through the writer. Only
//!    once that commit is durable does the dictionary become *live*: before, nothing can
//!    refer to it.
//! 3. Payload parts prepared with a live dictionary are stored as codec 3 (see
//!    `payloads.rs`) naming it by its 8-byte hash. The writer checks that the dictionary a
//!    request was prepared with is still live, and stores the parts without it otherwise;
//!    parts it compresses itself (values the fold changed) use the live dictionary too.
//! 4. The training thread then re-encodes the parts the project stored before (the
//!    samples and the rest, codecs 0-2) with the dictionary ([`reencode`]): batches read
//!    beside the writer, each stored by one writer closure that first checks the
//!    dictionary is still live. When done, the row's `reencoded` is set; a start resumes
//!    the re-encodings left unfinished.
//!    Short trace and observation values are compressed with it in their rows too
//!    (manifest `Z`, a codec-4 frame), under the same check.
//! 5. A dictionary holds fragments of its samples, so when a delete sweeps away a payload
//!    that was a sample, the project's parts (and row values) compressed with it are
//!    stored again without it, the dictionary row is deleted, and sampling starts again
//!    (`payloads::sweep`).
//!
//! Every committed state decodes: a codec-3 part is only written while its dictionary's
//! row is committed and live, and the transaction that deletes the row re-encodes its
//! parts first.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, Weak};

use rusqlite::{Connection, params};
use sha2::{Digest, Sha256};

use glassbox_model::ProjectId;
use glassbox_model::time::now_micros;
use glassbox_store::{StoreError, StoreResult};

use crate::connection::{Writer, internal};

/// Bytes of a trained dictionary (smaller in unit tests, which train on few samples).
/// On the 10k-trace bench's parts, 112 KB compressed them 3.43×, 256 KB 3.45×, 512 KB
/// 3.55× (1 MB: worse), equally fast; see bench/README.md, round 4.
const DICTIONARY_BYTES: usize = if cfg!(test) { 16 * 1024 } else { 512 * 1024 };
/// Training starts once a project has this many sample parts or bytes.
const SAMPLE_PARTS: usize = if cfg!(test) { 300 } else { 4_000 };
const SAMPLE_BYTES: usize = 4 << 20;
/// Sample bytes held in memory across all projects that are still sampling.
const SAMPLE_BYTES_TOTAL: usize = 32 << 20;
/// zstd level of payload parts, with or without a dictionary.
pub(crate) const LEVEL: i32 = 3;
/// Length of the hash that names a dictionary.
pub(crate) const DICTIONARY_HASH_LEN: usize = 8;
/// Length of a payload address (must match `payloads::ADDRESS_LEN`).
const ADDRESS_LEN: usize = 16;
/// Parts read, and written in one writer closure, per step of a re-encoding.
const REENCODE_PARTS: usize = if cfg!(test) { 50 } else { 500 };

pub(crate) type DictionaryHash = [u8; DICTIONARY_HASH_LEN];

/// A live dictionary, digested for compression.
/// Every frame compressed with it carries the id in its header (parts of codec 4 name
/// their dictionary by it; unique among a project's rows).
pub(crate) struct Dictionary {
    pub hash: DictionaryHash,
    pub encoder: zstd::dict::EncoderDictionary<'static>,
}

impl Dictionary {
    /// Digests `dictionary`; `None` for one without a dictionary id (zstd's trainer
    /// always writes one).
    fn digest(hash: DictionaryHash, dictionary: &[u8]) -> Option<Dictionary> {
        zstd::zstd_safe::get_dict_id_from_dict(dictionary)?;
        Some(Dictionary {
            hash,
            encoder: zstd::dict::EncoderDictionary::copy(dictionary, LEVEL),
        })
    }
}

enum Slot {
    /// Collecting training samples: (address, text).
    Sampling(Vec<([u8; ADDRESS_LEN], Vec<u8>)>, usize),
    /// A training thread owns the samples.
    Training,
    Ready(Arc<Dictionary>),
}

#[derive(Default)]
struct State {
    slots: HashMap<String, Slot>,
    /// Sample bytes held by every `Sampling` slot.
    sample_bytes: usize,
    /// Hashes of the dictionaries stored and committed, by project.
    live: HashSet<(String, DictionaryHash)>,
}

/// The store's dictionaries (one live per project at most).
#[derive(Default)]
pub(crate) struct Dictionaries {
    state: Mutex<State>,
    /// The database file, which re-encodings read through a connection of their own.
    path: PathBuf,
    /// Tests hold re-encodings back to run their steps themselves.
    #[cfg(test)]
    hold_reencoding: std::sync::atomic::AtomicBool,
}

/// A project whose live dictionary has parts to re-encode with (found at start-up).
pub(crate) type Pending = (ProjectId, Arc<Dictionary>);

pub(crate) fn dictionary_hash(dictionary: &[u8]) -> DictionaryHash {
    let digest = Sha256::digest(dictionary);
    let mut hash = [0u8; DICTIONARY_HASH_LEN];
    hash.copy_from_slice(&digest[..DICTIONARY_HASH_LEN]);
    hash
}

impl Dictionaries {
    /// The dictionaries stored in the database at `path` (the newest per project is
    /// used), and those whose project has parts left to re-encode with them.
    pub(crate) fn load(
        connection: &Connection,
        path: &Path,
    ) -> Result<(Dictionaries, Vec<Pending>), String> {
        let mut statement = connection
            .prepare(
                "SELECT project_id, hash, dict, reencoded FROM payload_dictionaries \
                 ORDER BY project_id, created_at",
            )
            .map_err(|error| format!("reading payload dictionaries: {error}"))?;
        let rows = statement
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, Vec<u8>>(1)?,
                    row.get::<_, Vec<u8>>(2)?,
                    row.get::<_, bool>(3)?,
                ))
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|error| format!("reading payload dictionaries: {error}"))?;
        let mut state = State::default();
        let mut newest: HashMap<String, (Arc<Dictionary>, bool)> = HashMap::new();
        for (project, hash, dictionary, reencoded) in rows {
            let Ok(hash) = DictionaryHash::try_from(hash.as_slice()) else {
                continue;
            };
            let Some(dictionary) = Dictionary::digest(hash, &dictionary) else {
                tracing::warn!(project, "payload dictionary without an id is not used");
                continue;
            };
            let dictionary = Arc::new(dictionary);
            state.live.insert((project.clone(), hash));
            state
                .slots
                .insert(project.clone(), Slot::Ready(Arc::clone(&dictionary)));
            newest.insert(project, (dictionary, reencoded));
        }
        let pending = newest
            .into_iter()
            .filter(|(_, (_, reencoded))| !reencoded)
            .map(|(project, (dictionary, _))| (ProjectId(project), dictionary))
            .collect();
        let dictionaries = Dictionaries {
            state: Mutex::new(state),
            path: path.to_path_buf(),
            #[cfg(test)]
            hold_reencoding: std::sync::atomic::AtomicBool::new(false),
        };
        Ok((dictionaries, pending))
    }

    /// Tests: re-encodings started from now on (after training, at start-up) do nothing.
    #[cfg(test)]
    pub(crate) fn hold_reencoding(&self) {
        self.hold_reencoding
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// The project's live dictionary, if it has one.
    pub(crate) fn current(&self, project: &ProjectId) -> Option<Arc<Dictionary>> {
        let state = self.state.lock().ok()?;
        match state.slots.get(project.as_str()) {
            Some(Slot::Ready(dictionary)) => Some(Arc::clone(dictionary)),
            _ => None,
        }
    }

    /// Whether `hash` is a committed dictionary of `project` (checked by the writer).
    pub(crate) fn is_live(&self, project: &ProjectId, hash: &DictionaryHash) -> bool {
        self.state
            .lock()
            .is_ok_and(|state| state.live.contains(&(project.as_str().to_owned(), *hash)))
    }

    /// Whether the project takes training samples now (it has no dictionary, none is
    /// being trained, and the sample budget has room).
    pub(crate) fn wants_samples(&self, project: &ProjectId) -> bool {
        self.state
            .lock()
            .is_ok_and(|state| match state.slots.get(project.as_str()) {
                None => state.sample_bytes < SAMPLE_BYTES_TOTAL,
                Some(Slot::Sampling(_, _)) => true,
                Some(_) => false,
            })
    }

    /// Keeps `parts` (address, text) as training samples of a project without a
    /// dictionary; returns the samples once there are enough to train on.
    fn offer(
        &self,
        project: &ProjectId,
        parts: Vec<([u8; ADDRESS_LEN], Vec<u8>)>,
    ) -> Option<Vec<([u8; ADDRESS_LEN], Vec<u8>)>> {
        let mut state = self.state.lock().ok()?;
        let State {
            slots,
            sample_bytes,
            ..
        } = &mut *state;
        let slot = slots
            .entry(project.as_str().to_owned())
            .or_insert_with(|| Slot::Sampling(Vec::new(), 0));
        let Slot::Sampling(samples, bytes) = slot else {
            return None;
        };
        for (address, text) in parts {
            if samples.len() >= SAMPLE_PARTS
                || *bytes >= SAMPLE_BYTES
                || *sample_bytes + text.len() > SAMPLE_BYTES_TOTAL
            {
                break;
            }
            *bytes += text.len();
            *sample_bytes += text.len();
            samples.push((address, text));
        }
        if samples.len() < SAMPLE_PARTS && *bytes < SAMPLE_BYTES {
            return None;
        }
        *sample_bytes -= *bytes;
        match std::mem::replace(slot, Slot::Training) {
            Slot::Sampling(samples, _) => Some(samples),
            _ => None,
        }
    }

    /// After a training attempt: the committed dictionary, or (on failure) sampling again.
    fn trained(&self, project: &ProjectId, dictionary: Option<Arc<Dictionary>>) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let slot = match dictionary {
            Some(dictionary) => {
                state
                    .live
                    .insert((project.as_str().to_owned(), dictionary.hash));
                Slot::Ready(dictionary)
            }
            None => Slot::Sampling(Vec::new(), 0),
        };
        state.slots.insert(project.as_str().to_owned(), slot);
    }

    /// On the writer, inside the transaction that deletes `hash`: nothing may refer to it
    /// from now on, and the project samples again for a new one.
    pub(crate) fn retire(&self, project: &ProjectId, hash: &DictionaryHash) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        state.live.remove(&(project.as_str().to_owned(), *hash));
        let key = project.as_str().to_owned();
        if let Some(Slot::Ready(dictionary)) = state.slots.get(&key)
            && dictionary.hash == *hash
        {
            state.slots.insert(key, Slot::Sampling(Vec::new(), 0));
        }
    }
}

/// Offers the parts of a request prepared without a dictionary as samples and, when the
/// project has enough, trains its dictionary on a thread of its own (training takes a
/// fraction of a second; the request does not wait for it).
pub(crate) fn sample(
    dictionaries: &Arc<Dictionaries>,
    writer: Weak<Writer>,
    project: &ProjectId,
    parts: Vec<([u8; ADDRESS_LEN], Vec<u8>)>,
) {
    if parts.is_empty() {
        return;
    }
    let Some(samples) = dictionaries.offer(project, parts) else {
        return;
    };
    let training = Arc::clone(dictionaries);
    let owner = project.clone();
    let spawned = std::thread::Builder::new()
        .name("glassbox-dictionary".into())
        .spawn(move || {
            let dictionary = train_and_store(&writer, &owner, &samples);
            drop(samples);
            match dictionary {
                Ok(dictionary) => {
                    training.trained(&owner, Some(Arc::clone(&dictionary)));
                    reencode_logged(&writer, &training, &owner, &dictionary);
                }
                Err(error) => {
                    tracing::warn!(project = owner.as_str(), %error, "payload dictionary not trained");
                    training.trained(&owner, None);
                }
            }
        });
    if spawned.is_err() {
        dictionaries.trained(project, None);
    }
}

fn train_and_store(
    writer: &Weak<Writer>,
    project: &ProjectId,
    samples: &[([u8; ADDRESS_LEN], Vec<u8>)],
) -> Result<Arc<Dictionary>, String> {
    let texts: Vec<&[u8]> = samples.iter().map(|(_, text)| text.as_slice()).collect();
    let started = std::time::Instant::now();
    let dictionary = zstd::dict::from_samples(&texts, DICTIONARY_BYTES)
        .map_err(|error| format!("training: {error}"))?;
    tracing::info!(
        project = project.as_str(),
        samples = texts.len(),
        sample_bytes = texts.iter().map(|text| text.len()).sum::<usize>(),
        dictionary_bytes = dictionary.len(),
        milliseconds = started.elapsed().as_millis() as u64,
        "payload dictionary trained"
    );
    let addresses: Vec<u8> = samples
        .iter()
        .flat_map(|(address, _)| address.iter().copied())
        .collect();
    let writer = writer.upgrade().ok_or("the store is closed")?;
    let owner = project.clone();
    let (hash, dictionary) = writer
        .write_blocking(move |connection| {
            let dictionary = with_small_id(connection, &owner, dictionary)?;
            let hash = dictionary_hash(&dictionary);
            let id = zstd::zstd_safe::get_dict_id_from_dict(&dictionary)
                .map(|id| id.get())
                .ok_or_else(|| StoreError::Internal("a dictionary without an id".into()))?;
            store_dictionary(connection, &owner, &hash, id, &dictionary, &addresses)?;
            Ok((hash, dictionary))
        })
        .map_err(|error| error.to_string())?;
    let digested = Dictionary::digest(hash, &dictionary).ok_or("a dictionary without an id")?;
    Ok(Arc::new(digested))
}

/// Offset and length of the dictionary id in a zstd dictionary's header (after its
/// 4-byte magic number).
const DICTIONARY_ID_AT: std::ops::Range<usize> = 4..8;

/// `dictionary` with the smallest id from 1 to 255 that none of the project's stored
/// dictionaries has (zstd's trainer picks a random 32-bit one). A frame's header names
/// its dictionary in as few bytes as the id needs: 1 byte instead of 4 per payload part
/// and compressed value. Unchanged when all 255 are taken.
fn with_small_id(
    connection: &Connection,
    project: &ProjectId,
    mut dictionary: Vec<u8>,
) -> StoreResult<Vec<u8>> {
    let taken: HashSet<u32> = stored_ids(connection, project.as_str())?
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    if let Some(id) = (1..=255u32).find(|id| !taken.contains(id))
        && let Some(header) = dictionary.get_mut(DICTIONARY_ID_AT)
    {
        header.copy_from_slice(&id.to_le_bytes());
    }
    Ok(dictionary)
}

fn store_dictionary(
    connection: &Connection,
    project: &ProjectId,
    hash: &DictionaryHash,
    id: u32,
    dictionary: &[u8],
    samples: &[u8],
) -> StoreResult<()> {
    // Codec-4 parts name their dictionary by id: another of the project's dictionaries
    // with the same id (1 in 2^31 per pair) would make them ambiguous.
    if hash_of_id(connection, project.as_str(), id)?.is_some_and(|other| other != *hash) {
        return Err(StoreError::Conflict(
            "a dictionary with this id is stored already".into(),
        ));
    }
    connection
        .prepare_cached(
            "INSERT OR IGNORE INTO payload_dictionaries (project_id, hash, dict, samples, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .and_then(|mut statement| {
            statement.execute(params![
                project.as_str(),
                &hash[..],
                dictionary,
                samples,
                now_micros()
            ])
        })
        .map(drop)
        .map_err(internal)
}

/// How a project's re-encoding ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reencoding {
    /// Every part stored without the dictionary was read; `parts` were re-encoded.
    Done { parts: usize, saved_bytes: usize },
    /// The dictionary was retired (by a delete) before the end.
    Retired,
    /// The store closed before the end; the next start resumes.
    Closed,
    /// Held back (tests).
    #[cfg(test)]
    Held,
}

/// Re-encodes, and logs how that ended.
fn reencode_logged(
    writer: &Weak<Writer>,
    dictionaries: &Arc<Dictionaries>,
    project: &ProjectId,
    dictionary: &Arc<Dictionary>,
) {
    let started = std::time::Instant::now();
    match reencode(writer, dictionaries, project, dictionary) {
        Ok(outcome) => tracing::info!(
            project = project.as_str(),
            ?outcome,
            milliseconds = started.elapsed().as_millis() as u64,
            "payload parts re-encoded with the project's dictionary"
        ),
        Err(error) => tracing::warn!(
            project = project.as_str(),
            %error,
            "payload parts not re-encoded with the project's dictionary"
        ),
    }
}

/// Re-encodes at start-up, on a thread of its own, the parts of the projects whose
/// re-encoding did not finish before (or whose dictionary predates it).
pub(crate) fn resume_reencoding(
    writer: Weak<Writer>,
    dictionaries: &Arc<Dictionaries>,
    pending: Vec<Pending>,
) {
    if pending.is_empty() {
        return;
    }
    let dictionaries = Arc::clone(dictionaries);
    let spawned = std::thread::Builder::new()
        .name("glassbox-reencode".into())
        .spawn(move || {
            for (project, dictionary) in pending {
                reencode_logged(&writer, &dictionaries, &project, &dictionary);
            }
        });
    if let Err(error) = spawned {
        tracing::warn!(%error, "could not start re-encoding payload parts");
    }
}

/// Once `dictionary` is live: stores the project's parts that were stored without a
/// dictionary (before it was trained) compressed with it, [`REENCODE_PARTS`] at a time.
/// Each step reads and compresses on a connection of its own, beside the writer, and
/// hands the writer one closure that checks, in its transaction, that the dictionary is
/// still live (a delete may retire it at any moment, and re-encodes its parts without it
/// in the transaction that does) and replaces only parts whose stored form is still the
/// one read. A part is thus always stored in a form the committed state can decode. At
/// the end, the dictionary row is marked `reencoded`; a start finds those left unmarked
/// and begins again (parts already re-encoded are skipped).
pub(crate) fn reencode(
    writer: &Weak<Writer>,
    dictionaries: &Arc<Dictionaries>,
    project: &ProjectId,
    dictionary: &Arc<Dictionary>,
) -> Result<Reencoding, String> {
    #[cfg(test)]
    if dictionaries
        .hold_reencoding
        .load(std::sync::atomic::Ordering::SeqCst)
    {
        return Ok(Reencoding::Held);
    }
    // A small page cache: the scan reads each page once.
    let reader = crate::connection::open_reader(&dictionaries.path)
        .and_then(|reader| {
            reader
                .execute_batch("PRAGMA cache_size = -2048")
                .map(|()| reader)
        })
        .map_err(|error| format!("opening {}: {error}", dictionaries.path.display()))?;
    // Requests prepared without the dictionary just before it became live are committed
    // before the first read (they are queued before this write), and the addresses of
    // recent parts are moved into the index that the candidates are read from.
    if let Some(outcome) = write_step(writer, crate::recent_addresses::flush_in_transaction)?.err()
    {
        return Ok(outcome);
    }
    let (mut parts, mut saved_bytes) = (0, 0);
    let mut after = Vec::new();
    loop {
        if !dictionaries.is_live(project, &dictionary.hash) {
            return Ok(Reencoding::Retired);
        }
        let batch = crate::payloads::reencode_candidates(
            &reader,
            project,
            &after,
            REENCODE_PARTS,
            dictionary,
        )
        .map_err(|error| error.to_string())?;
        let next = batch.next.clone();
        if !batch.parts.is_empty() {
            let saved = batch.saved();
            let step = write_step(
                writer,
                reencode_step(
                    Arc::clone(dictionaries),
                    project.clone(),
                    dictionary.hash,
                    batch.parts,
                ),
            )?;
            match step {
                Ok(Some(replaced)) => {
                    parts += replaced;
                    saved_bytes += saved;
                }
                Ok(None) => return Ok(Reencoding::Retired),
                Err(outcome) => return Ok(outcome),
            }
        }
        match next {
            Some(next) => after = next,
            None => break,
        }
    }
    let (owner, hash) = (project.clone(), dictionary.hash);
    if let Some(outcome) = write_step(writer, move |connection| {
        connection
            .prepare_cached(
                "UPDATE payload_dictionaries SET reencoded = 1 WHERE project_id = ?1 AND hash = ?2",
            )
            .and_then(|mut statement| statement.execute(params![owner.as_str(), &hash[..]]))
            .map(drop)
            .map_err(internal)
    })?
    .err()
    {
        return Ok(outcome);
    }
    Ok(Reencoding::Done { parts, saved_bytes })
}

/// The writer's part of a re-encoding step: stores `parts` (compressed with dictionary
/// `hash`) if the dictionary is still live in this transaction; `None` if it was retired.
pub(crate) fn reencode_step(
    dictionaries: Arc<Dictionaries>,
    project: ProjectId,
    hash: DictionaryHash,
    parts: Vec<crate::payloads::Reencoded>,
) -> impl FnOnce(&Connection) -> StoreResult<Option<usize>> + Send + 'static {
    move |connection| {
        if !dictionaries.is_live(&project, &hash) {
            return Ok(None);
        }
        crate::payloads::store_reencoded(connection, &project, &parts).map(Some)
    }
}

/// Runs `work` through the writer, waiting while it is overloaded; `Err(Closed)` once
/// the store is closed.
fn write_step<T, F>(writer: &Weak<Writer>, work: F) -> Result<Result<T, Reencoding>, String>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
{
    let work = Arc::new(Mutex::new(Some(work)));
    loop {
        let Some(writer) = writer.upgrade() else {
            return Ok(Err(Reencoding::Closed));
        };
        let attempt = Arc::clone(&work);
        let result = writer.write_blocking(move |connection| {
            let work = attempt
                .lock()
                .map_err(internal)?
                .take()
                .ok_or_else(|| internal("re-encoding step ran twice"))?;
            work(connection)
        });
        drop(writer);
        match result {
            Ok(value) => return Ok(Ok(value)),
            Err(StoreError::Overloaded) => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(StoreError::Unavailable(_)) => return Ok(Err(Reencoding::Closed)),
            Err(error) => return Err(error.to_string()),
        }
    }
}

/// The project's dictionaries whose samples include one of `deleted` (payload
/// addresses a sweep removes): they hold fragments of deleted content.
pub(crate) fn tainted(
    connection: &Connection,
    project: &ProjectId,
    deleted: &HashSet<Vec<u8>>,
) -> StoreResult<Vec<DictionaryHash>> {
    if deleted.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(Vec<u8>, Vec<u8>)> = connection
        .prepare_cached("SELECT hash, samples FROM payload_dictionaries WHERE project_id = ?1")
        .and_then(|mut statement| {
            statement
                .query_map(params![project.as_str()], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(internal)?;
    Ok(rows
        .into_iter()
        .filter(|(_, samples)| {
            samples
                .chunks_exact(ADDRESS_LEN)
                .any(|address| deleted.contains(address))
        })
        .filter_map(|(hash, _)| DictionaryHash::try_from(hash.as_slice()).ok())
        .collect())
}

/// Deletes a dictionary row (its parts were re-encoded first).
pub(crate) fn delete(
    connection: &Connection,
    project: &ProjectId,
    hash: &DictionaryHash,
) -> StoreResult<()> {
    connection
        .prepare_cached("DELETE FROM payload_dictionaries WHERE project_id = ?1 AND hash = ?2")
        .and_then(|mut statement| statement.execute(params![project.as_str(), &hash[..]]))
        .map_err(internal)?;
    // A dictionary trained later may reuse the id.
    if let Ok(mut ids) = IDS.lock() {
        ids.retain(|(_, owner, _), named| owner != project.as_str() || named != hash);
    }
    Ok(())
}

/// Dictionary hashes by (database file, project, dictionary id), for codec-4 parts.
type IdCache = HashMap<(String, String, u32), DictionaryHash>;
static IDS: LazyLock<Mutex<IdCache>> = LazyLock::new(Mutex::default);

/// The project's stored dictionaries: (hash, the id in the dictionary's header). A
/// project has one, or a few while one is retired.
fn stored_ids(connection: &Connection, project: &str) -> StoreResult<Vec<(DictionaryHash, u32)>> {
    let rows: Vec<(Vec<u8>, Vec<u8>)> = connection
        .prepare_cached("SELECT hash, dict FROM payload_dictionaries WHERE project_id = ?1")
        .and_then(|mut statement| {
            statement
                .query_map(params![project], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(internal)?;
    Ok(rows
        .into_iter()
        .filter_map(|(hash, dictionary)| {
            let hash = DictionaryHash::try_from(hash.as_slice()).ok()?;
            let id = zstd::zstd_safe::get_dict_id_from_dict(&dictionary)?.get();
            Some((hash, id))
        })
        .collect())
}

/// The hash of the project's dictionary with header id `id`.
fn hash_of_id(
    connection: &Connection,
    project: &str,
    id: u32,
) -> StoreResult<Option<DictionaryHash>> {
    Ok(stored_ids(connection, project)?
        .into_iter()
        .find_map(|(hash, stored)| (stored == id).then_some(hash)))
}

/// The header id of the project's dictionary `hash`, if it is stored and has one.
pub(crate) fn id_of(
    connection: &Connection,
    project: &str,
    hash: &DictionaryHash,
) -> StoreResult<Option<u32>> {
    Ok(stored_ids(connection, project)?
        .into_iter()
        .find_map(|(stored, id)| (stored == *hash).then_some(id)))
}

/// The digested dictionary with header id `id` of `project` (for codec-4 parts).
pub(crate) fn decoder_by_id(
    connection: &Connection,
    project: &str,
    id: u32,
) -> Result<Arc<zstd::dict::DecoderDictionary<'static>>, String> {
    let key = (
        connection.path().unwrap_or_default().to_owned(),
        project.to_owned(),
        id,
    );
    let cached = IDS.lock().ok().and_then(|ids| ids.get(&key).copied());
    let hash = match cached {
        Some(hash) => hash,
        None => {
            let hash = hash_of_id(connection, project, id)
                .map_err(|error| format!("payload dictionary lookup: {error}"))?
                .ok_or("payload dictionary not found")?;
            if let Ok(mut ids) = IDS.lock() {
                if ids.len() >= 1024 {
                    ids.clear();
                }
                ids.insert(key, hash);
            }
            hash
        }
    };
    decoder(connection, project, &hash)
}

/// Digested dictionaries for decompression, by hash (content-addressed, so one cache
/// serves every connection and store of the process), loaded on first use.
pub(crate) fn decoder(
    connection: &Connection,
    project: &str,
    hash: &[u8],
) -> Result<Arc<zstd::dict::DecoderDictionary<'static>>, String> {
    type Cache = HashMap<Vec<u8>, Arc<zstd::dict::DecoderDictionary<'static>>>;
    static CACHE: LazyLock<Mutex<Cache>> = LazyLock::new(Mutex::default);
    /// Dictionaries kept digested (each ~ its size plus tables).
    const CACHED: usize = 64;
    if let Some(found) = CACHE.lock().ok().and_then(|cache| cache.get(hash).cloned()) {
        return Ok(found);
    }
    let dictionary: Vec<u8> = connection
        .prepare_cached("SELECT dict FROM payload_dictionaries WHERE project_id = ?1 AND hash = ?2")
        .and_then(|mut statement| statement.query_row(params![project, hash], |row| row.get(0)))
        .map_err(|error| format!("payload dictionary lookup: {error}"))?;
    if dictionary_hash(&dictionary)[..] != *hash {
        return Err("payload dictionary does not match its hash".into());
    }
    let decoder = Arc::new(zstd::dict::DecoderDictionary::copy(&dictionary));
    if let Ok(mut cache) = CACHE.lock() {
        if cache.len() >= CACHED {
            cache.clear();
        }
        cache.insert(hash.to_vec(), Arc::clone(&decoder));
    }
    Ok(decoder)
}
