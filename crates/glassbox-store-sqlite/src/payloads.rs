//! Content-addressed payloads (issue 8): large JSON values (input, output, metadata of
//! traces and observations, and the same fields in the event log) are stored once per
//! project and content (`payload_parts`, named by `payload_addresses`, which keys them by
//! the project's number in `payload_projects`; the view `payloads` joins them),
//! compressed with zstd when that pays: with the project's trained dictionary once it
//! has one (`payload_dictionaries.rs`).
//!
//! A payload's `data` is a codec byte and its bytes: 0 raw JSON text, 1 raw deflate
//! (written before zstd; still read), 2 a zstd frame, 3 the 8-byte hash of a
//! `payload_dictionaries` row and a zstd frame compressed with that dictionary (written
//! before codec 4; still read), 4 a zstd frame compressed with one of the project's
//! dictionaries, named by the dictionary id in the frame header, without the frame's
//! 4-byte magic number (12 bytes per part less than codec 3). A part's
//! `data` only changes from one encoding of its text to another: re-encoded with the
//! project's dictionary once that is live, or without it when it is retired.
//!
//! A column that holds such a value keeps a BLOB *manifest* instead of JSON text:
//! a tag byte, `V` (the value is its one part) or `A` (a JSON array: `[` parts joined by
//! `,` `]`), then the parts, each `i` + u32 LE length + JSON text (short array elements)
//! or `h` + the 16-byte address of a payload. Splitting arrays makes every chat message
//! its own payload, so a history re-sent on every call is stored once. Values whose text
//! is shorter than [`INLINE_MAX`] stay in the row: plain TEXT, or, in a trace or
//! observation column of a project with a live dictionary, the manifest `Z` + a codec-4
//! frame of the text when that is shorter ([`INLINE_COMPRESS_MIN`]); rows written
//! before keep their TEXT.
//!
//! Reads reassemble in SQL with `gb_json(project_id, column)` (registered on every
//! connection by [`register`]), or in Rust with [`read_text`].

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::functions::FunctionFlags;
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde_json::Value;
use sha2::{Digest, Sha256};

use glassbox_model::{JsonObject, ProjectId};
use glassbox_store::StoreResult;

use crate::connection::internal;
use crate::payload_dictionaries::{
    DICTIONARY_HASH_LEN, Dictionaries, Dictionary, DictionaryHash, LEVEL,
};
use crate::sql::query_all;

/// Values whose JSON text is shorter stay inline (plain TEXT).
const INLINE_MAX: usize = 256;
/// Array elements whose text is shorter stay inside the manifest.
const PART_INLINE_MAX: usize = 64;
/// Without a dictionary, parts at least this long are compressed (kept raw when that
/// does not save 1/8); with one, every stored part is.
const COMPRESS_MIN: usize = 512;
const ADDRESS_LEN: usize = 16;
/// Row values (shorter than [`INLINE_MAX`]) from this length on are compressed with the
/// project's dictionary when it has one: on the 10k-trace bench, 47 of the 90 bytes per
/// span that such values take (bench/README.md, round 9).
const INLINE_COMPRESS_MIN: usize = 24;
/// Manifest tag of a row value compressed alone with a dictionary: then a codec-4 frame.
const COMPRESSED_INLINE: u8 = b'Z';
/// Largest decompressed part accepted from a frame header (request bodies are smaller).
const PART_MAX: u64 = 256 << 20;

const RAW: u8 = 0;
const DEFLATE: u8 = 1;
const ZSTD: u8 = 2;
const ZSTD_DICTIONARY: u8 = 3;
const ZSTD_DICTIONARY_ID: u8 = 4;
/// The magic number that starts every zstd frame (RFC 8878, 3.1.1), little-endian.
const ZSTD_MAGIC: [u8; 4] = 0xFD2F_B528u32.to_le_bytes();

/// The whole zstd frame of a codec-4 part's bytes (its magic number put back) and the
/// dictionary id its header names.
fn codec_4_frame(rest: &[u8]) -> (Vec<u8>, Option<u32>) {
    let frame = [&ZSTD_MAGIC[..], rest].concat();
    let id = zstd::zstd_safe::get_dict_id_from_frame(&frame).map(|id| id.get());
    (frame, id)
}

/// Whether `data` is a part compressed with a dictionary (codec 3 or 4).
fn with_dictionary(data: &[u8]) -> bool {
    matches!(data.first(), Some(&(ZSTD_DICTIONARY | ZSTD_DICTIONARY_ID)))
}

/// Bytes of payload parts written by reference (`logical`), first stored (`unique`), and
/// the stored bytes after compression (`stored`): the dedup and compression ratios.
static LOGICAL: AtomicU64 = AtomicU64::new(0);
static UNIQUE: AtomicU64 = AtomicU64::new(0);
static STORED: AtomicU64 = AtomicU64::new(0);

/// `(logical, unique, stored)` bytes since start.
pub(crate) fn counters() -> (u64, u64, u64) {
    (
        LOGICAL.load(Ordering::Relaxed),
        UNIQUE.load(Ordering::Relaxed),
        STORED.load(Ordering::Relaxed),
    )
}

fn address(text: &[u8]) -> [u8; ADDRESS_LEN] {
    let digest = Sha256::digest(text);
    let mut address = [0u8; ADDRESS_LEN];
    address.copy_from_slice(&digest[..ADDRESS_LEN]);
    address
}

fn encode_data(text: &[u8]) -> Vec<u8> {
    encode_data_with(text, COMPRESS_MIN, None)
}

thread_local! {
    /// This thread's zstd context: its state is reused, not allocated, per part.
    static COMPRESSOR: std::cell::RefCell<zstd::zstd_safe::CCtx<'static>> =
        std::cell::RefCell::new(zstd::zstd_safe::CCtx::create());
    static DECOMPRESSOR: std::cell::RefCell<zstd::zstd_safe::DCtx<'static>> =
        std::cell::RefCell::new(zstd::zstd_safe::DCtx::create());
}

/// The stored form of `text`: compressed (with `dictionary` when given, from
/// `compress_min` bytes without one) when that saves 1/8, else raw.
fn encode_data_with(text: &[u8], compress_min: usize, dictionary: Option<&Dictionary>) -> Vec<u8> {
    if dictionary.is_some() || text.len() >= compress_min {
        let mut compressed = Vec::with_capacity(1 + zstd::zstd_safe::compress_bound(text.len()));
        compressed.push(if dictionary.is_some() {
            ZSTD_DICTIONARY_ID
        } else {
            ZSTD
        });
        let written = COMPRESSOR.with(|compressor| {
            let mut compressor = compressor.borrow_mut();
            // The frame goes after the codec (a Vec alone would be written from its start).
            let mut frame = std::io::Cursor::new(&mut compressed);
            frame.set_position(1);
            match dictionary {
                // The frame header carries the dictionary's id (zstd's default).
                Some(dictionary) => {
                    compressor.compress_using_cdict(&mut frame, text, dictionary.encoder.as_cdict())
                }
                None => compressor.compress(&mut frame, text, LEVEL),
            }
        });
        let written = written.is_ok()
            && (dictionary.is_none() || compressed.get(1..5) == Some(&ZSTD_MAGIC[..]));
        if dictionary.is_some() && written {
            compressed.drain(1..5);
        }
        if written && compressed.len() < text.len() - text.len() / 8 {
            return compressed;
        }
    }
    let mut data = Vec::with_capacity(text.len() + 1);
    data.push(RAW);
    data.extend_from_slice(text);
    data
}

fn decode_data(connection: &Connection, project: &str, data: &[u8]) -> Result<String, String> {
    match data.split_first() {
        Some((&RAW, rest)) => String::from_utf8(rest.to_vec()).map_err(|error| error.to_string()),
        Some((&DEFLATE, rest)) => {
            let mut text = String::with_capacity(rest.len() * 3);
            flate2::read::DeflateDecoder::new(rest)
                .read_to_string(&mut text)
                .map_err(|error| error.to_string())?;
            Ok(text)
        }
        Some((&ZSTD, frame)) => unzstd(frame, None),
        Some((&ZSTD_DICTIONARY, rest)) => {
            let hash = rest.get(..DICTIONARY_HASH_LEN).ok_or("truncated payload")?;
            let decoder = crate::payload_dictionaries::decoder(connection, project, hash)?;
            unzstd(&rest[DICTIONARY_HASH_LEN..], Some(&decoder))
        }
        Some((&ZSTD_DICTIONARY_ID, rest)) => {
            let (frame, id) = codec_4_frame(rest);
            let id = id.ok_or("payload frame without a dictionary id")?;
            let decoder = crate::payload_dictionaries::decoder_by_id(connection, project, id)?;
            unzstd(&frame, Some(&decoder))
        }
        _ => Err("unknown payload codec".into()),
    }
}

fn unzstd(
    frame: &[u8],
    dictionary: Option<&zstd::dict::DecoderDictionary<'static>>,
) -> Result<String, String> {
    let size = zstd::zstd_safe::get_frame_content_size(frame)
        .ok()
        .flatten()
        .filter(|size| *size <= PART_MAX)
        .ok_or("payload frame without a valid size")?;
    let mut text = Vec::with_capacity(size as usize);
    DECOMPRESSOR
        .with(|decompressor| {
            let mut decompressor = decompressor.borrow_mut();
            match dictionary {
                Some(dictionary) => {
                    decompressor.decompress_using_ddict(&mut text, frame, dictionary.as_ddict())
                }
                None => decompressor.decompress(&mut text, frame),
            }
        })
        .map_err(|code| {
            format!(
                "payload decompression: {}",
                zstd::zstd_safe::get_error_name(code)
            )
        })?;
    String::from_utf8(text).map_err(|error| error.to_string())
}

/// A request's parts hashed and compressed off the writer thread.
#[derive(Default)]
pub(crate) struct Prepared {
    /// Stored form (codec byte + bytes) by address.
    parts: HashMap<[u8; ADDRESS_LEN], Vec<u8>>,
    /// Compressed manifests of short row values, by their text.
    inline: HashMap<String, Vec<u8>>,
    /// The dictionary the parts were compressed with.
    dictionary: Option<DictionaryHash>,
    /// Without a dictionary (and if the project samples): (address, text) of the parts,
    /// training samples for its dictionary.
    pub samples: Vec<([u8; ADDRESS_LEN], Vec<u8>)>,
}

thread_local! {
    /// The writer's prepared parts of the request it is applying.
    static PREPARED: std::cell::RefCell<HashMap<[u8; ADDRESS_LEN], Vec<u8>>> =
        std::cell::RefCell::new(HashMap::new());
    /// The writer's prepared compressed row values of the request it is applying.
    static PREPARED_INLINE: std::cell::RefCell<HashMap<String, Vec<u8>>> =
        std::cell::RefCell::new(HashMap::new());
    /// The live dictionary of the project whose request the writer is applying: parts
    /// that were not prepared (values the fold changed) are compressed with it.
    static WRITER_DICTIONARY: std::cell::RefCell<Option<Arc<Dictionary>>> =
        const { std::cell::RefCell::new(None) };
}

/// The parts of `planned` values and of `columns` (values of trace or observation
/// columns), compressed (CPU work that can run beside the writer) with the project's
/// `dictionary` if it has one, and so are the short texts of `columns`; `sample` keeps
/// the parts' texts as training samples.
pub(crate) fn prepare<'a>(
    planned: impl IntoIterator<Item = &'a PlannedValue>,
    columns: impl IntoIterator<Item = &'a PlannedValue>,
    dictionary: Option<&Dictionary>,
    sample: bool,
) -> Prepared {
    let mut prepared = Prepared {
        dictionary: dictionary.map(|dictionary| dictionary.hash),
        ..Prepared::default()
    };
    let sample = sample && dictionary.is_none();
    let columns: Vec<&PlannedValue> = columns.into_iter().collect();
    if let Some(dictionary) = dictionary {
        for column in &columns {
            if let SqlValue::Text(text) = &column.column
                && !prepared.inline.contains_key(text)
                && let Some(manifest) = compress_inline(text, dictionary)
            {
                prepared.inline.insert(text.clone(), manifest);
            }
        }
    }
    for (address, text) in planned
        .into_iter()
        .chain(columns)
        .flat_map(|planned| &planned.parts)
    {
        if let std::collections::hash_map::Entry::Vacant(entry) = prepared.parts.entry(*address) {
            entry.insert(encode_data_with(text, COMPRESS_MIN, dictionary));
            if sample {
                prepared.samples.push((*address, text.clone()));
            }
        }
    }
    prepared
}

/// The manifest of a short row value compressed with `dictionary`, when that is shorter.
fn compress_inline(text: &str, dictionary: &Dictionary) -> Option<Vec<u8>> {
    if text.len() < INLINE_COMPRESS_MIN || text.len() >= INLINE_MAX {
        return None;
    }
    let mut manifest = encode_data_with(text.as_bytes(), 0, Some(dictionary));
    if manifest.first() != Some(&ZSTD_DICTIONARY_ID) || manifest.len() >= text.len() {
        return None;
    }
    manifest[0] = COMPRESSED_INLINE;
    Some(manifest)
}

/// [`plan_value`] of each large field of an event body (`input`, `output`, `metadata`)
/// that is set.
pub(crate) fn plan_body_fields(body: &JsonObject) -> Vec<PlannedValue> {
    BODY_FIELDS
        .iter()
        .filter_map(|field| body.get(*field).filter(|value| !value.is_null()))
        .map(plan_value)
        .collect()
}

/// Runs `work` (on the writer thread) with `prepared` available to [`put_part`]. Parts
/// compressed with a dictionary that is no longer live (`is_live` is false: retired by
/// a delete since they were prepared) are not used: the writer compresses those again,
/// with `current` (the project's dictionary now) if it is live. `work` must not retire
/// a dictionary (ingestion never deletes).
pub(crate) fn with_prepared<T>(
    prepared: Prepared,
    current: Option<Arc<Dictionary>>,
    is_live: impl Fn(&DictionaryHash) -> bool,
    work: impl FnOnce() -> T,
) -> T {
    let usable = prepared.dictionary.as_ref().is_none_or(&is_live);
    if usable {
        PREPARED.with(|slot| *slot.borrow_mut() = prepared.parts);
        PREPARED_INLINE.with(|slot| *slot.borrow_mut() = prepared.inline);
    }
    let current = current.filter(|dictionary| is_live(&dictionary.hash));
    WRITER_DICTIONARY.with(|slot| *slot.borrow_mut() = current);
    let result = work();
    PREPARED.with(|slot| slot.borrow_mut().clear());
    PREPARED_INLINE.with(|slot| slot.borrow_mut().clear());
    WRITER_DICTIONARY.with(|slot| slot.borrow_mut().take());
    result
}

/// Stores one part (once per project and content) at its `address`.
fn put_part(
    connection: &Connection,
    project: &ProjectId,
    address: &[u8; ADDRESS_LEN],
    text: &[u8],
) -> StoreResult<()> {
    LOGICAL.fetch_add(text.len() as u64, Ordering::Relaxed);
    // Prepared beside the writer (or not, for values the fold changed: compressed here).
    // Measured against appending first and `RETURNING` a computed id: the lookup is
    // cheapest.
    let prepared = PREPARED.with(|prepared| prepared.borrow_mut().remove(address));
    if crate::recent_addresses::writer_part_id(connection, project.as_str(), address)
        .map_err(internal)?
        .is_none()
    {
        let data = prepared.unwrap_or_else(|| {
            WRITER_DICTIONARY.with(|dictionary| {
                encode_data_with(text, COMPRESS_MIN, dictionary.borrow().as_deref())
            })
        });
        UNIQUE.fetch_add(text.len() as u64, Ordering::Relaxed);
        STORED.fetch_add(data.len() as u64, Ordering::Relaxed);
        let id = insert_part_data(connection, &data).map_err(internal)?;
        crate::recent_addresses::record(connection, project.as_str(), address, id)?;
    }
    Ok(())
}

/// Stores a part's bytes (appended: ids grow) and returns its id.
fn insert_part_data(connection: &Connection, data: &[u8]) -> rusqlite::Result<i64> {
    connection
        .prepare_cached("INSERT INTO payload_parts (data) VALUES (?1)")?
        .execute(params![data])?;
    Ok(connection.last_insert_rowid())
}

/// A value's stored form, worked out without the database (so beside the writer when
/// it can be): its column value (JSON text, or a manifest naming parts by address) and
/// the parts the manifest names, with their addresses and texts.
pub(crate) struct PlannedValue {
    column: SqlValue,
    parts: Vec<([u8; ADDRESS_LEN], Vec<u8>)>,
}

impl PlannedValue {
    /// A value stored in its column alone (JSON text or NULL), without parts.
    fn inline(column: SqlValue) -> PlannedValue {
        PlannedValue {
            column,
            parts: Vec::new(),
        }
    }

    fn push_part(&mut self, manifest: &mut Vec<u8>, text: Vec<u8>, inline_max: usize) {
        if text.len() < inline_max {
            manifest.push(b'i');
            manifest.extend_from_slice(&(text.len() as u32).to_le_bytes());
            manifest.extend_from_slice(&text);
        } else {
            let address = address(&text);
            manifest.push(b'h');
            manifest.extend_from_slice(&address);
            self.parts.push((address, text));
        }
    }
}

/// The stored form of `value`: its JSON text when short, else a manifest of parts (one
/// per element of a non-empty array, each element serialised once: the array's text is
/// `[` + the elements' texts joined by `,` + `]`).
pub(crate) fn plan_value(value: &Value) -> PlannedValue {
    match value {
        Value::Array(items) if !items.is_empty() => {
            let parts: Vec<String> = items.iter().map(Value::to_string).collect();
            let length = 1 + parts.iter().map(|part| part.len() + 1).sum::<usize>();
            if length < INLINE_MAX {
                return PlannedValue::inline(SqlValue::Text(format!("[{}]", parts.join(","))));
            }
            let mut planned = PlannedValue {
                column: SqlValue::Null,
                parts: Vec::with_capacity(parts.len()),
            };
            let mut manifest = Vec::with_capacity(1 + parts.len() * (1 + ADDRESS_LEN));
            manifest.push(b'A');
            for part in parts {
                planned.push_part(&mut manifest, part.into_bytes(), PART_INLINE_MAX);
            }
            planned.column = SqlValue::Blob(manifest);
            planned
        }
        _ => plan_text(value.to_string()),
    }
}

/// [`plan_value`] of an object.
pub(crate) fn plan_object(object: &JsonObject) -> PlannedValue {
    plan_text(serde_json::to_string(object).unwrap_or_else(|_| "{}".to_owned()))
}

/// [`plan_value`] of an optional value (`None` stays NULL).
pub(crate) fn plan_optional(value: Option<&Value>) -> PlannedValue {
    match value {
        Some(value) => plan_value(value),
        None => PlannedValue::inline(SqlValue::Null),
    }
}

/// A value that is not a non-empty array, by its JSON text.
fn plan_text(text: String) -> PlannedValue {
    if text.len() < INLINE_MAX {
        return PlannedValue::inline(SqlValue::Text(text));
    }
    let mut planned = PlannedValue {
        column: SqlValue::Null,
        parts: Vec::with_capacity(1),
    };
    let mut manifest = Vec::with_capacity(1 + 1 + ADDRESS_LEN);
    manifest.push(b'V');
    planned.push_part(&mut manifest, text.into_bytes(), 0);
    planned.column = SqlValue::Blob(manifest);
    planned
}

/// Stores the parts of a planned value and returns its column value.
pub(crate) fn store_planned(
    connection: &Connection,
    project: &ProjectId,
    planned: PlannedValue,
) -> StoreResult<SqlValue> {
    for (address, text) in &planned.parts {
        put_part(connection, project, address, text)?;
    }
    Ok(planned.column)
}

/// [`store_planned`] for a trace or observation column: a short text is compressed with
/// the project's live dictionary (prepared beside the writer, or here) when that pays.
pub(crate) fn store_column(
    connection: &Connection,
    project: &ProjectId,
    planned: PlannedValue,
) -> StoreResult<SqlValue> {
    let column = store_planned(connection, project, planned)?;
    let SqlValue::Text(text) = &column else {
        return Ok(column);
    };
    if text.len() < INLINE_COMPRESS_MIN {
        return Ok(column);
    }
    // Not taken out: another row of the request may hold the same text.
    let manifest = PREPARED_INLINE
        .with(|prepared| prepared.borrow().get(text).cloned())
        .or_else(|| {
            WRITER_DICTIONARY.with(|dictionary| {
                dictionary
                    .borrow()
                    .as_deref()
                    .and_then(|dictionary| compress_inline(text, dictionary))
            })
        });
    Ok(manifest.map_or(column, SqlValue::Blob))
}

/// The stored form of `value` ([`plan_value`]), its parts stored.
pub(crate) fn store_value(
    connection: &Connection,
    project: &ProjectId,
    value: &Value,
) -> StoreResult<SqlValue> {
    store_planned(connection, project, plan_value(value))
}

fn fetch_part(connection: &Connection, project: &str, address: &[u8]) -> Result<String, String> {
    let lookup_failed = |error: rusqlite::Error| format!("payload lookup: {error}");
    let part = |id: i64| -> Result<Option<Vec<u8>>, String> {
        connection
            .prepare_cached("SELECT data FROM payload_parts WHERE id = ?1")
            .and_then(|mut statement| statement.query_row(params![id], |row| row.get(0)))
            .optional()
            .map_err(lookup_failed)
    };
    // The recent-address map first; if its part is gone, the tables.
    let recent = crate::recent_addresses::of(connection).and_then(|map| map.get(project, address));
    let data = match recent.map(part).transpose()?.flatten() {
        Some(data) => data,
        None => {
            let id = crate::recent_addresses::part_id_in_tables(connection, project, address)
                .map_err(lookup_failed)?
                .ok_or("payload lookup: no part at this address")?;
            part(id)?.ok_or("payload lookup: the part at this address is gone")?
        }
    };
    decode_data(connection, project, &data)
}

/// Reassembles the JSON text of a manifest.
fn assemble(connection: &Connection, project: &str, manifest: &[u8]) -> Result<String, String> {
    let (&tag, mut rest) = manifest.split_first().ok_or("empty manifest")?;
    let array = match tag {
        b'A' => true,
        b'V' => false,
        COMPRESSED_INLINE => return decode_compressed_inline(connection, project, rest),
        _ => return Err("unknown manifest tag".into()),
    };
    let mut text = String::new();
    if array {
        text.push('[');
    }
    let mut first = true;
    while let Some((&kind, after)) = rest.split_first() {
        if !first {
            text.push(',');
        }
        first = false;
        match kind {
            b'i' => {
                let length: [u8; 4] = after
                    .get(..4)
                    .and_then(|bytes| bytes.try_into().ok())
                    .ok_or("truncated manifest")?;
                let length = u32::from_le_bytes(length) as usize;
                let part = after.get(4..4 + length).ok_or("truncated manifest")?;
                text.push_str(std::str::from_utf8(part).map_err(|error| error.to_string())?);
                rest = &after[4 + length..];
            }
            b'h' => {
                let address = after.get(..ADDRESS_LEN).ok_or("truncated manifest")?;
                text.push_str(&fetch_part(connection, project, address)?);
                rest = &after[ADDRESS_LEN..];
            }
            _ => return Err("unknown manifest part".into()),
        }
    }
    if array {
        text.push(']');
    }
    Ok(text)
}

/// The text of a [`COMPRESSED_INLINE`] manifest (after its tag).
fn decode_compressed_inline(
    connection: &Connection,
    project: &str,
    rest: &[u8],
) -> Result<String, String> {
    let (frame, id) = codec_4_frame(rest);
    let id = id.ok_or("compressed value without a dictionary id")?;
    let decoder = crate::payload_dictionaries::decoder_by_id(connection, project, id)?;
    unzstd(&frame, Some(&decoder))
}

/// The JSON text of a stored value (TEXT as it is, a manifest reassembled).
pub(crate) fn read_text(
    connection: &Connection,
    project: &str,
    value: ValueRef<'_>,
) -> Result<Option<String>, String> {
    match value {
        ValueRef::Null => Ok(None),
        ValueRef::Text(text) => Ok(Some(
            std::str::from_utf8(text)
                .map_err(|error| error.to_string())?
                .to_owned(),
        )),
        ValueRef::Blob(manifest) => assemble(connection, project, manifest).map(Some),
        ValueRef::Integer(number) => Ok(Some(number.to_string())),
        ValueRef::Real(number) => Ok(Some(number.to_string())),
    }
}

/// Registers `gb_json(project_id, value)`: the JSON text of a stored value.
///
/// Payloads are looked up through a second, read-only connection to `path` (opened on
/// first use; a function cannot borrow its own connection without `unsafe`). Payloads are
/// immutable and committed with the rows that reference them, so any row a reader sees
/// has its payloads visible to a fresh snapshot. The writer therefore never reads stored
/// rows through `gb_json` inside its transaction: it resolves them with [`read_text`].
pub(crate) fn register(connection: &Connection, path: &Path) -> rusqlite::Result<()> {
    let path = path.to_path_buf();
    let lookup: Mutex<Option<Connection>> = Mutex::new(None);
    connection.create_scalar_function(
        "gb_json",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DIRECTONLY,
        move |context| {
            let value = context.get_raw(1);
            if let ValueRef::Blob(_) = value {
                let project: String = context.get(0)?;
                let failed = |error: String| rusqlite::Error::UserFunctionError(error.into());
                let mut lookup = lookup.lock().map_err(|error| failed(error.to_string()))?;
                if lookup.is_none() {
                    let opened = Connection::open_with_flags(
                        &path,
                        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                    )?;
                    opened.busy_timeout(std::time::Duration::from_secs(10))?;
                    *lookup = Some(opened);
                }
                let connection = lookup
                    .as_ref()
                    .ok_or_else(|| failed("no connection".into()))?;
                return read_text(connection, &project, value).map_err(failed);
            }
            read_text_plain(value)
        },
    )
}

fn read_text_plain(value: ValueRef<'_>) -> rusqlite::Result<Option<String>> {
    Ok(match value {
        ValueRef::Null => None,
        ValueRef::Text(text) => Some(String::from_utf8_lossy(text).into_owned()),
        ValueRef::Integer(number) => Some(number.to_string()),
        ValueRef::Real(number) => Some(number.to_string()),
        ValueRef::Blob(_) => None,
    })
}

/// The payload addresses a stored value (manifest) refers to.
fn manifest_addresses(manifest: &[u8], into: &mut HashSet<Vec<u8>>) {
    let Some((&tag, mut rest)) = manifest.split_first() else {
        return;
    };
    if tag == COMPRESSED_INLINE {
        return;
    }
    while let Some((&kind, after)) = rest.split_first() {
        match kind {
            b'i' => {
                let Some(length) = after.get(..4).and_then(|bytes| bytes.try_into().ok()) else {
                    return;
                };
                let length = u32::from_le_bytes(length) as usize;
                rest = after.get(4 + length..).unwrap_or_default();
            }
            b'h' => {
                let Some(address) = after.get(..ADDRESS_LEN) else {
                    return;
                };
                into.insert(address.to_vec());
                rest = &after[ADDRESS_LEN..];
            }
            _ => return,
        }
    }
}

fn body_addresses(blob: &[u8], into: &mut HashSet<Vec<u8>>) {
    let mut bytes = blob;
    let parsed = (|| -> Result<(), String> {
        take(&mut bytes, 4)?;
        let length = take_u32(&mut bytes)?;
        take(&mut bytes, length)?;
        while !bytes.is_empty() {
            let name_length = take(&mut bytes, 1)?[0] as usize;
            take(&mut bytes, name_length)?;
            let manifest_length = take_u32(&mut bytes)?;
            manifest_addresses(take(&mut bytes, manifest_length)?, into);
        }
        Ok(())
    })();
    drop(parsed);
}

/// Deletes the project's payloads that no row refers to any more (after deletions), so
/// deleted content does not outlive its rows. Scans the project's manifests. A
/// dictionary trained on a deleted part holds fragments of it: the parts compressed with
/// it are stored again without it and it is deleted (see `payload_dictionaries.rs`).
pub(crate) fn sweep(
    connection: &Connection,
    dictionaries: &Dictionaries,
    project: &ProjectId,
) -> StoreResult<()> {
    let mut live: HashSet<Vec<u8>> = HashSet::new();
    for (sql, body) in [
        (
            "SELECT metadata, input, output FROM traces WHERE project_id = ?1 AND \
          (typeof(metadata) = 'blob' OR typeof(input) = 'blob' OR typeof(output) = 'blob')",
            false,
        ),
        (
            "SELECT metadata, input, output FROM observations WHERE project_id = ?1 AND \
          (typeof(metadata) = 'blob' OR typeof(input) = 'blob' OR typeof(output) = 'blob')",
            false,
        ),
        (
            "SELECT body FROM ingest_events WHERE project_id = ?1 AND typeof(body) = 'blob'",
            true,
        ),
    ] {
        let mut statement = connection.prepare_cached(sql).map_err(internal)?;
        let columns = statement.column_count();
        let mut rows = statement
            .query(params![project.as_str()])
            .map_err(internal)?;
        while let Some(row) = rows.next().map_err(internal)? {
            for index in 0..columns {
                if let ValueRef::Blob(blob) = row.get_ref(index).map_err(internal)? {
                    if body {
                        body_addresses(blob, &mut live);
                    } else {
                        manifest_addresses(blob, &mut live);
                    }
                }
            }
        }
    }
    // Indexed parts by address; recent ones by id (their table is keyed by part id).
    let stored: Vec<(Vec<u8>, Option<i64>)> = query_all(
        connection,
        "SELECT hash, NULL FROM payload_addresses WHERE project = \
             (SELECT number FROM payload_projects WHERE project_id = ?1) \
             UNION ALL SELECT hash, part_id FROM payload_recent_addresses WHERE project = \
             (SELECT number FROM payload_projects WHERE project_id = ?1)",
        params![project.as_str()],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    let mut deleted: HashSet<Vec<u8>> = HashSet::new();
    for (address, recent_id) in stored {
        if live.contains(&address) {
            continue;
        }
        let execute = |sql: &str, parameters: &[&dyn rusqlite::ToSql]| {
            connection
                .prepare_cached(sql)
                .and_then(|mut statement| statement.execute(parameters))
                .map_err(internal)
        };
        let project = project.as_str();
        match recent_id {
            None => {
                execute(
                    "DELETE FROM payload_parts WHERE id = (SELECT part_id FROM \
                     payload_addresses WHERE project = \
                     (SELECT number FROM payload_projects WHERE project_id = ?1) AND hash = ?2)",
                    params![project, address],
                )?;
                execute(
                    "DELETE FROM payload_addresses WHERE project = \
                     (SELECT number FROM payload_projects WHERE project_id = ?1) AND hash = ?2",
                    params![project, address],
                )?;
            }
            Some(id) => {
                execute("DELETE FROM payload_parts WHERE id = ?1", params![id])?;
                execute(
                    "DELETE FROM payload_recent_addresses WHERE part_id = ?1",
                    params![id],
                )?;
            }
        }
        deleted.insert(address);
    }
    if let Some(recent) = crate::recent_addresses::of(connection) {
        recent.remove(project.as_str(), deleted.iter().map(Vec::as_slice));
    }
    for hash in crate::payload_dictionaries::tainted(connection, project, &deleted)? {
        dictionaries.retire(project, &hash);
        recompress_without(connection, project, &hash)?;
        crate::payload_dictionaries::delete(connection, project, &hash)?;
    }
    Ok(())
}

/// Stores every part of `project` compressed with dictionary `hash` without it.
fn recompress_without(
    connection: &Connection,
    project: &ProjectId,
    hash: &DictionaryHash,
) -> StoreResult<()> {
    let id = crate::payload_dictionaries::id_of(connection, project.as_str(), hash)?;
    let parts: Vec<(i64, Vec<u8>)> = query_all(
        connection,
        "SELECT p.id, p.data FROM payload_parts p WHERE p.id IN \
             (SELECT part_id FROM payload_addresses WHERE project = \
             (SELECT number FROM payload_projects WHERE project_id = ?1) \
             UNION ALL SELECT part_id FROM payload_recent_addresses WHERE project = \
             (SELECT number FROM payload_projects WHERE project_id = ?1)) \
             AND substr(p.data, 1, 1) IN (x'03', x'04')",
        params![project.as_str()],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    decompress_rows_without(connection, project, id)?;
    recompress_bodies_without(connection, project, hash, id)?;
    for (part, data) in parts {
        if !compressed_with(&data, hash, id) {
            continue;
        }
        let text = decode_data(connection, project.as_str(), &data).map_err(internal)?;
        connection
            .prepare_cached("UPDATE payload_parts SET data = ?2 WHERE id = ?1")
            .and_then(|mut statement| {
                statement.execute(params![part, encode_data(text.as_bytes())])
            })
            .map_err(internal)?;
    }
    Ok(())
}

/// Stores every trace and observation value of `project` compressed with the dictionary
/// of header id `id` ([`COMPRESSED_INLINE`]) as its text.
fn decompress_rows_without(
    connection: &Connection,
    project: &ProjectId,
    id: Option<u32>,
) -> StoreResult<()> {
    let Some(id) = id else {
        return Ok(());
    };
    for table in ["traces", "observations"] {
        for column in ["metadata", "input", "output"] {
            let values: Vec<(i64, Vec<u8>)> = query_all(
                connection,
                &format!(
                    "SELECT rowid, {column} FROM {table} WHERE project_id = ?1 \
                     AND typeof({column}) = 'blob' AND substr({column}, 1, 1) = x'5A'"
                ),
                params![project.as_str()],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )?;
            for (rowid, manifest) in values {
                let frame = &manifest[1..];
                if codec_4_frame(frame).1 != Some(id) {
                    continue;
                }
                let text = decode_compressed_inline(connection, project.as_str(), frame)
                    .map_err(internal)?;
                connection
                    .prepare_cached(&format!(
                        "UPDATE {table} SET {column} = ?2 WHERE rowid = ?1"
                    ))
                    .and_then(|mut statement| statement.execute(params![rowid, text]))
                    .map_err(internal)?;
            }
        }
    }
    Ok(())
}

/// Stores the rest of every event body of `project` compressed with the dictionary
/// (`hash`, header id `id`) without it ([`store_body`]).
fn recompress_bodies_without(
    connection: &Connection,
    project: &ProjectId,
    hash: &DictionaryHash,
    id: Option<u32>,
) -> StoreResult<()> {
    let bodies: Vec<(String, String, String, Vec<u8>)> = query_all(
        connection,
        "SELECT entity_kind, entity_id, event_id, body FROM ingest_events \
         WHERE project_id = ?1 AND typeof(body) = 'blob' AND substr(body, 9, 1) IN (x'03', x'04')",
        params![project.as_str()],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
    )?;
    for (kind, entity, event, blob) in bodies {
        let mut bytes = blob.as_slice();
        let parsed = (|| -> Result<(Vec<u8>, &[u8]), String> {
            if take(&mut bytes, 4)? != BODY_MAGIC {
                return Err("unknown event body format".into());
            }
            let length = take_u32(&mut bytes)?;
            let data = take(&mut bytes, length)?.to_vec();
            Ok((data, bytes))
        })();
        let Ok((data, fields)) = parsed else {
            continue;
        };
        if !compressed_with(&data, hash, id) {
            continue;
        }
        let json = decode_data(connection, project.as_str(), &data).map_err(internal)?;
        let data = encode_data_with(json.as_bytes(), BODY_COMPRESS_MIN, None);
        let mut rewritten = Vec::with_capacity(8 + data.len() + fields.len());
        rewritten.extend_from_slice(BODY_MAGIC);
        rewritten.extend_from_slice(&(data.len() as u32).to_le_bytes());
        rewritten.extend_from_slice(&data);
        rewritten.extend_from_slice(fields);
        connection
            .prepare_cached(
                "UPDATE ingest_events SET body = ?5 WHERE project_id = ?1 AND entity_kind = ?2 \
                 AND entity_id = ?3 AND event_id = ?4",
            )
            .and_then(|mut statement| {
                statement.execute(params![project.as_str(), kind, entity, event, rewritten])
            })
            .map_err(internal)?;
    }
    Ok(())
}

/// Whether stored part `data` was compressed with the dictionary named `hash` (codec 3)
/// or with header id `id` (codec 4).
fn compressed_with(data: &[u8], hash: &DictionaryHash, id: Option<u32>) -> bool {
    match data.split_first() {
        Some((&ZSTD_DICTIONARY, rest)) => rest.starts_with(hash),
        Some((&ZSTD_DICTIONARY_ID, rest)) => id.is_some() && codec_4_frame(rest).1 == id,
        _ => false,
    }
}

/// A part stored without a dictionary (`old`) and its form with one (`new`).
pub(crate) struct Reencoded {
    address: Vec<u8>,
    old: Vec<u8>,
    new: Vec<u8>,
}

/// One step of a project's re-encoding (`payload_dictionaries::reencode`).
pub(crate) struct ReencodeBatch {
    /// The parts that are smaller with the dictionary.
    pub parts: Vec<Reencoded>,
    /// The address to continue after, or `None` when the project's parts are all read.
    pub next: Option<Vec<u8>>,
}

impl ReencodeBatch {
    /// Stored bytes the batch saves.
    pub(crate) fn saved(&self) -> usize {
        self.parts
            .iter()
            .map(|part| part.old.len() - part.new.len())
            .sum()
    }
}

/// The next parts of `project` after address `after` (in address order, at most `limit`
/// parts or 8 MB of text) that are stored without a dictionary, each with
/// its form compressed with `dictionary` where that is smaller. Runs on a read-only
/// connection, beside the writer; [`store_reencoded`] writes the result.
pub(crate) fn reencode_candidates(
    connection: &Connection,
    project: &ProjectId,
    after: &[u8],
    limit: usize,
    dictionary: &Dictionary,
) -> StoreResult<ReencodeBatch> {
    /// Text decompressed per batch at most (parts are usually far smaller).
    const REENCODE_BYTES: usize = 8 << 20;
    let mut statement = connection
        .prepare_cached(
            "SELECT a.hash, p.data FROM payload_addresses a JOIN payload_parts p \
             ON p.id = a.part_id WHERE a.project = \
             (SELECT number FROM payload_projects WHERE project_id = ?1) AND a.hash > ?2 \
             AND substr(p.data, 1, 1) NOT IN (x'03', x'04') ORDER BY a.hash LIMIT ?3",
        )
        .map_err(internal)?;
    let mut rows = statement
        .query(params![project.as_str(), after, limit as i64])
        .map_err(internal)?;
    let mut batch = ReencodeBatch {
        parts: Vec::new(),
        next: None,
    };
    let (mut read, mut bytes) = (0usize, 0usize);
    while let Some(row) = rows.next().map_err(internal)? {
        let address: Vec<u8> = row.get(0).map_err(internal)?;
        let old: Vec<u8> = row.get(1).map_err(internal)?;
        read += 1;
        // A part that does not decode is left as it is (and does not stop the others).
        match decode_data(connection, project.as_str(), &old) {
            Ok(text) => {
                bytes += text.len();
                let new = encode_data_with(text.as_bytes(), COMPRESS_MIN, Some(dictionary));
                if with_dictionary(&new) && new.len() < old.len() {
                    batch.parts.push(Reencoded {
                        address: address.clone(),
                        old,
                        new,
                    });
                }
            }
            Err(error) => {
                tracing::warn!(project = project.as_str(), %error, "payload part not re-encoded");
            }
        }
        if read == limit || bytes >= REENCODE_BYTES {
            batch.next = Some(address);
            break;
        }
    }
    Ok(batch)
}

/// On the writer: stores the re-encoded parts whose stored form is still the one read
/// (a part deleted since is not stored again). The caller checked that the dictionary is
/// live in this transaction. Returns how many parts were replaced.
///
/// A part is deleted and inserted again (under a new id, which its address then names)
/// rather than updated: its row moves to the end of the table, so the pages of the parts
/// stored before the dictionary (the first ones of the project) empty and are reused.
/// Shrunk in place, the rows would leave that space inside the pages (measured: no change
/// in the file's size).
pub(crate) fn store_reencoded(
    connection: &Connection,
    project: &ProjectId,
    parts: &[Reencoded],
) -> StoreResult<usize> {
    let mut replaced = 0;
    for part in parts {
        let stored: Option<i64> = connection
            .prepare_cached(
                "SELECT p.id FROM payload_addresses a JOIN payload_parts p ON p.id = a.part_id \
                 WHERE a.project = \
                 (SELECT number FROM payload_projects WHERE project_id = ?1) AND a.hash = ?2 AND p.data = ?3",
            )
            .and_then(|mut statement| {
                statement
                    .query_row(params![project.as_str(), part.address, part.old], |row| {
                        row.get(0)
                    })
                    .optional()
            })
            .map_err(internal)?;
        let Some(old_id) = stored else {
            continue;
        };
        connection
            .prepare_cached("DELETE FROM payload_parts WHERE id = ?1")
            .and_then(|mut statement| statement.execute(params![old_id]))
            .map_err(internal)?;
        let new_id = insert_part_data(connection, &part.new).map_err(internal)?;
        connection
            .prepare_cached(
                "UPDATE payload_addresses SET part_id = ?3 WHERE project = \
                 (SELECT number FROM payload_projects WHERE project_id = ?1) AND hash = ?2",
            )
            .and_then(|mut statement| {
                statement.execute(params![project.as_str(), part.address, new_id])
            })
            .map_err(internal)?;
        replaced += 1;
    }
    Ok(replaced)
}

// ---------------------------------------------------------------------------------------
// Event log bodies

/// Body fields that may be moved into payloads.
const BODY_FIELDS: [&str; 3] = ["input", "output", "metadata"];
const BODY_MAGIC: &[u8; 4] = b"GBE1";
/// The other fields' JSON is deflated from this length on (when that pays).
const BODY_COMPRESS_MIN: usize = 192;

/// The stored form of an event body: JSON text, or (when a large input, output or
/// metadata was moved into payloads, or the rest compresses) `GBE1` + u32 LE length +
/// the JSON of the other fields as payload data (codec byte, then its bytes: raw,
/// deflated, zstd, or zstd with the project's dictionary), then per moved field: u8 name
/// length + name + u32 LE length + manifest.
pub(crate) fn store_body(
    connection: &Connection,
    project: &ProjectId,
    body: &JsonObject,
) -> StoreResult<SqlValue> {
    let mut rest = JsonObject::new();
    let mut moved: Vec<(&str, Vec<u8>)> = Vec::new();
    for (key, value) in body {
        if BODY_FIELDS.contains(&key.as_str())
            && !value.is_null()
            && let SqlValue::Blob(manifest) = store_value(connection, project, value)?
        {
            let name = BODY_FIELDS
                .iter()
                .find(|field| **field == key.as_str())
                .copied()
                .unwrap_or("input");
            moved.push((name, manifest));
            continue;
        }
        rest.insert(key.clone(), value.clone());
    }
    let json = Value::Object(rest).to_string();
    // With the project's live dictionary (on the writer, while it applies a request) from
    // the length at which a short row value is compressed; else plain zstd.
    let data = WRITER_DICTIONARY.with(|dictionary| match dictionary.borrow().as_deref() {
        Some(dictionary) if json.len() >= INLINE_COMPRESS_MIN => {
            encode_data_with(json.as_bytes(), 0, Some(dictionary))
        }
        _ => encode_data_with(json.as_bytes(), BODY_COMPRESS_MIN, None),
    });
    if moved.is_empty() && data.first() == Some(&RAW) {
        return Ok(SqlValue::Text(json));
    }
    let mut blob = Vec::with_capacity(data.len() + 64);
    blob.extend_from_slice(BODY_MAGIC);
    blob.extend_from_slice(&(data.len() as u32).to_le_bytes());
    blob.extend_from_slice(&data);
    for (name, manifest) in moved {
        blob.push(name.len() as u8);
        blob.extend_from_slice(name.as_bytes());
        blob.extend_from_slice(&(manifest.len() as u32).to_le_bytes());
        blob.extend_from_slice(&manifest);
    }
    Ok(SqlValue::Blob(blob))
}

fn take<'a>(bytes: &mut &'a [u8], count: usize) -> Result<&'a [u8], String> {
    if bytes.len() < count {
        return Err("truncated event body".into());
    }
    let (head, tail) = bytes.split_at(count);
    *bytes = tail;
    Ok(head)
}

fn take_u32(bytes: &mut &[u8]) -> Result<usize, String> {
    let head: [u8; 4] = take(bytes, 4)?
        .try_into()
        .map_err(|_| "truncated event body")?;
    Ok(u32::from_le_bytes(head) as usize)
}

/// The logical JSON text of a stored event body (see [`store_body`]).
pub(crate) fn body_text(
    connection: &Connection,
    project: &str,
    value: ValueRef<'_>,
) -> Result<String, String> {
    let blob = match value {
        ValueRef::Blob(blob) => blob,
        other => return Ok(read_text(connection, project, other)?.unwrap_or_default()),
    };
    let object = read_body_blob(connection, project, blob)?;
    Ok(Value::Object(object).to_string())
}

/// The body object of a stored event body.
pub(crate) fn read_body(
    connection: &Connection,
    project: &str,
    value: ValueRef<'_>,
) -> Result<JsonObject, String> {
    match value {
        ValueRef::Blob(blob) => read_body_blob(connection, project, blob),
        ValueRef::Text(text) => Ok(serde_json::from_slice::<JsonObject>(text).unwrap_or_default()),
        _ => Ok(JsonObject::new()),
    }
}

fn read_body_blob(
    connection: &Connection,
    project: &str,
    blob: &[u8],
) -> Result<JsonObject, String> {
    let mut bytes = blob;
    if take(&mut bytes, 4)? != BODY_MAGIC {
        return Err("unknown event body format".into());
    }
    let length = take_u32(&mut bytes)?;
    let json = decode_data(connection, project, take(&mut bytes, length)?)?;
    let mut object: JsonObject = serde_json::from_str(&json).map_err(|error| error.to_string())?;
    while !bytes.is_empty() {
        let name_length = take(&mut bytes, 1)?[0] as usize;
        let name = String::from_utf8(take(&mut bytes, name_length)?.to_vec())
            .map_err(|error| error.to_string())?;
        let manifest_length = take_u32(&mut bytes)?;
        let text = assemble(connection, project, take(&mut bytes, manifest_length)?)?;
        let value: Value = serde_json::from_str(&text).map_err(|error| error.to_string())?;
        object.insert(name, value);
    }
    Ok(object)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn connection() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let mut connection = Connection::open(&path).unwrap();
        crate::migrations::apply(&mut connection).unwrap();
        register(&connection, &path).unwrap();
        (dir, connection)
    }

    fn long(text: &str) -> String {
        text.repeat(200)
    }

    #[test]
    fn values_round_trip_and_messages_are_stored_once() {
        let (_dir, connection) = connection();
        let project = ProjectId("p".into());
        let system = json!({"role": "system", "content": long("be brief. ")});
        let first = json!([system, {"role": "user", "content": long("hello ")}]);
        let second = json!([system, {"role": "user", "content": long("hello ")}, {"role": "assistant", "content": "hi"}]);
        for value in [
            &first,
            &second,
            &json!({"answer": long("an answer ")}),
            &json!("short"),
        ] {
            let stored = store_value(&connection, &project, value).unwrap();
            let text: Option<String> = connection
                .query_row("SELECT gb_json('p', ?1)", [&stored], |row| row.get(0))
                .unwrap();
            assert_eq!(text.unwrap(), value.to_string());
        }
        // system + user message + the object: the re-sent history added nothing.
        let count: i64 = connection
            .query_row("SELECT COUNT(*) FROM payloads", [], |row| row.get(0))
            .unwrap();
        assert_eq!(count, 3);
        // Another project does not see these payloads.
        let stored = store_value(&connection, &project, &first).unwrap();
        let other: rusqlite::Result<Option<String>> =
            connection.query_row("SELECT gb_json('q', ?1)", [&stored], |row| row.get(0));
        assert!(other.is_err());
    }

    #[test]
    fn large_payloads_are_compressed() {
        let (_dir, connection) = connection();
        let project = ProjectId("p".into());
        store_value(&connection, &project, &json!(long("compressible text "))).unwrap();
        let (length,): (i64,) = connection
            .query_row("SELECT length(data) FROM payloads", [], |row| {
                Ok((row.get(0)?,))
            })
            .unwrap();
        assert!(length < 200, "{length}");
    }

    #[test]
    fn event_bodies_round_trip() {
        let (_dir, connection) = connection();
        let project = ProjectId("p".into());
        let body: JsonObject =
            json!({"name": "n", "input": [{"role": "user", "content": long("q ")}],
            "output": "tiny", "metadata": {"k": long("v")}, "startTime": 5})
            .as_object()
            .unwrap()
            .clone();
        let stored = store_body(&connection, &project, &body).unwrap();
        assert!(matches!(stored, SqlValue::Blob(_)));
        let read = match &stored {
            SqlValue::Blob(blob) => read_body(&connection, "p", ValueRef::Blob(blob)).unwrap(),
            _ => unreachable!(),
        };
        assert_eq!(read.len(), body.len());
        for (key, value) in &body {
            assert_eq!(read.get(key), Some(value), "{key}");
        }
        let small: JsonObject = json!({"name": "n"}).as_object().unwrap().clone();
        assert_eq!(
            store_body(&connection, &project, &small).unwrap(),
            SqlValue::Text("{\"name\":\"n\"}".into())
        );
        // Nothing moved, but the rest compresses: still read back as it was.
        let wordy: JsonObject = json!({"name": "n", "statusMessage": long("failed ")})
            .as_object()
            .unwrap()
            .clone();
        let SqlValue::Blob(blob) = store_body(&connection, &project, &wordy).unwrap() else {
            panic!("a compressible body is stored as a blob");
        };
        assert!(blob.len() < 200, "{}", blob.len());
        assert_eq!(
            read_body(&connection, "p", ValueRef::Blob(&blob)).unwrap(),
            wordy
        );
    }
}
