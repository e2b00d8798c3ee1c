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
//!    request was prepared with is still live, and stores the parts without it otherwise.
//! 4. A dictionary holds fragments of its samples, so when a delete sweeps away a payload
//!    that was a sample, the project's parts are re-encoded without the dictionary, the
//!    dictionary row is deleted, and sampling starts again (`payloads::sweep`).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex, Weak};

use rusqlite::{Connection, params};
use sha2::{Digest, Sha256};

use glassbox_model::ProjectId;
use glassbox_model::time::now_micros;
use glassbox_store::StoreResult;

use crate::connection::{Writer, internal};

/// Bytes of a trained dictionary (smaller in unit tests, which train on few samples).
const DICTIONARY_BYTES: usize = if cfg!(test) { 16 * 1024 } else { 112 * 1024 };
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

pub(crate) type DictionaryHash = [u8; DICTIONARY_HASH_LEN];

/// A live dictionary, digested for compression.
pub(crate) struct Dictionary {
    pub hash: DictionaryHash,
    pub encoder: zstd::dict::EncoderDictionary<'static>,
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
}

pub(crate) fn dictionary_hash(dictionary: &[u8]) -> DictionaryHash {
    let digest = Sha256::digest(dictionary);
    let mut hash = [0u8; DICTIONARY_HASH_LEN];
    hash.copy_from_slice(&digest[..DICTIONARY_HASH_LEN]);
    hash
}

impl Dictionaries {
    /// The dictionaries stored in the database (the newest per project is used).
    pub(crate) fn load(connection: &Connection) -> Result<Dictionaries, String> {
        let mut statement = connection
            .prepare(
                "SELECT project_id, hash, dict FROM payload_dictionaries ORDER BY project_id, created_at",
            )
            .map_err(|error| format!("reading payload dictionaries: {error}"))?;
        let rows = statement
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, Vec<u8>>(1)?,
                    row.get::<_, Vec<u8>>(2)?,
                ))
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|error| format!("reading payload dictionaries: {error}"))?;
        let mut state = State::default();
        for (project, hash, dictionary) in rows {
            let Ok(hash) = DictionaryHash::try_from(hash.as_slice()) else {
                continue;
            };
            let encoder = zstd::dict::EncoderDictionary::copy(&dictionary, LEVEL);
            state.live.insert((project.clone(), hash));
            state
                .slots
                .insert(project, Slot::Ready(Arc::new(Dictionary { hash, encoder })));
        }
        Ok(Dictionaries {
            state: Mutex::new(state),
        })
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
            if let Err(error) = &dictionary {
                tracing::warn!(project = owner.as_str(), %error, "payload dictionary not trained");
            }
            training.trained(&owner, dictionary.ok());
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
    let dictionary = zstd::dict::from_samples(&texts, DICTIONARY_BYTES)
        .map_err(|error| format!("training: {error}"))?;
    let hash = dictionary_hash(&dictionary);
    let addresses: Vec<u8> = samples
        .iter()
        .flat_map(|(address, _)| address.iter().copied())
        .collect();
    let encoder = zstd::dict::EncoderDictionary::copy(&dictionary, LEVEL);
    let writer = writer.upgrade().ok_or("the store is closed")?;
    let owner = project.clone();
    writer
        .write_blocking(move |connection| {
            store_dictionary(connection, &owner, &hash, &dictionary, &addresses)
        })
        .map_err(|error| error.to_string())?;
    Ok(Arc::new(Dictionary { hash, encoder }))
}

fn store_dictionary(
    connection: &Connection,
    project: &ProjectId,
    hash: &DictionaryHash,
    dictionary: &[u8],
    samples: &[u8],
) -> StoreResult<()> {
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
        .map(drop)
        .map_err(internal)
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
