//! SQL expressions of the numbers derived from an observation's usage and cost maps
//! (JSON text columns), computed at query time exactly as the embedded backend derives
//! them at ingest (the measure columns of its `observations`): tokens and costs are the
//! sums of the map's numeric values whose lowercased key contains `input` / `output`;
//! tokens are truncated to integers; `total` tokens are the map's integral `total` entry.

/// Sum (`DOUBLE PRECISION`, 0 when none) of the numeric values of the JSON object text
/// `map` whose lowercased key contains `needle` (a fixed ASCII word, never input).
pub(crate) fn key_sum(map: &str, needle: &'static str) -> String {
    debug_assert!(needle.chars().all(|c| c.is_ascii_lowercase()));
    format!(
        "(SELECT COALESCE(SUM((j.value #>> '{{}}')::float8), 0::float8) FROM json_each(({map})::json) j \
         WHERE strpos(lower(j.key), '{needle}') > 0 AND json_typeof(j.value) = 'number')"
    )
}

/// [`key_sum`] truncated toward zero to a `BIGINT` (the embedded backend's token columns).
pub(crate) fn key_sum_tokens(map: &str, needle: &'static str) -> String {
    format!(
        "trunc(GREATEST(LEAST({}, 9.2e18::float8), -9.2e18::float8))::bigint",
        key_sum(map, needle)
    )
}

/// The map's `total` entry when it is an integer (`BIGINT`), else 0 (the embedded facts'
/// `total_tokens`).
pub(crate) fn total_tokens(map: &str) -> String {
    format!(
        "(SELECT CASE WHEN json_typeof(u.m -> 'total') = 'number' \
         AND (u.m ->> 'total') ~ '^-?[0-9]{{1,18}}$' THEN (u.m ->> 'total')::bigint ELSE 0::bigint END \
         FROM (SELECT ({map})::json AS m) u)"
    )
}

/// The map's numeric `total` entry as `DOUBLE PRECISION`, `NULL` when absent or not a
/// number (what the web UI's trace table sums).
pub(crate) fn total_number(map: &str) -> String {
    format!(
        "(SELECT CASE WHEN json_typeof(u.m -> 'total') = 'number' \
         THEN (u.m ->> 'total')::float8 END FROM (SELECT ({map})::json AS m) u)"
    )
}
