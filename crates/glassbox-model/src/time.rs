//! Timestamps are UTC microseconds since the Unix epoch (`Micros`) everywhere in the model.
//! The wire format is ISO-8601; input must carry an offset (`Z` or `+hh:mm`), as Langfuse
//! requires, and output is always UTC with millisecond precision and a `Z`.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// Microseconds since the Unix epoch, UTC.
pub type Micros = i64;

/// `0001-01-01T00:00:00Z`, the earliest instant [`format_iso`] writes as a valid
/// ISO-8601 (and Python `datetime`) timestamp.
pub const MIN_MICROS: Micros = -62_135_596_800_000_000;
/// `9999-12-31T23:59:59.999999Z`, the latest instant [`format_iso`] can write.
pub const MAX_MICROS: Micros = 253_402_300_799_999_999;

/// Parses an ISO-8601 datetime that carries an offset. A naive datetime is rejected, and
/// so is one whose UTC instant lies outside the years 1 to 9999 (`9999-12-31T23:59-01:00`
/// is in year 10000 UTC): such a value could not be written back.
pub fn parse_iso_with_offset(text: &str) -> Option<Micros> {
    let parsed = OffsetDateTime::parse(text, &Rfc3339).ok().or_else(|| {
        // RFC 3339 needs seconds; ISO-8601 allows `2025-01-01T10:00Z`. Accept that too.
        let (date_time, offset) = split_offset(text)?;
        let with_seconds = format!("{date_time}:00{offset}");
        OffsetDateTime::parse(&with_seconds, &Rfc3339).ok()
    })?;
    Some(to_micros(parsed)).filter(|micros| (MIN_MICROS..=MAX_MICROS).contains(micros))
}

/// Parses a datetime leniently: with an offset, or naive (taken as UTC), or a date only.
/// Used only where Langfuse itself coerces (`Date`-coercible v3 score filters).
pub fn parse_iso_lenient(text: &str) -> Option<Micros> {
    if let Some(micros) = parse_iso_with_offset(text) {
        return Some(micros);
    }
    let format = time::macros::format_description!(
        version = 2,
        "[year]-[month]-[day][optional [T[hour]:[minute][optional [:[second][optional [.[subsecond]]]]]]]"
    );
    PrimitiveDateTime::parse(text, format)
        .ok()
        .map(|naive| to_micros(naive.assume_offset(UtcOffset::UTC)))
        .or_else(|| {
            let date_format = time::macros::format_description!("[year]-[month]-[day]");
            time::Date::parse(text, date_format)
                .ok()
                .map(|date| to_micros(date.midnight().assume_offset(UtcOffset::UTC)))
        })
}

fn split_offset(text: &str) -> Option<(&str, &str)> {
    if let Some(stripped) = text.strip_suffix('Z').or_else(|| text.strip_suffix('z')) {
        return Some((stripped, "Z"));
    }
    let position = text.rfind(['+', '-'])?;
    if position < 11 {
        return None;
    }
    Some((&text[..position], &text[position..]))
}

fn to_micros(value: OffsetDateTime) -> Micros {
    let nanos = value.unix_timestamp_nanos();
    (nanos / 1_000) as Micros
}

/// Formats as `2025-01-01T10:00:00.123Z` (UTC, milliseconds), the form Langfuse returns.
pub fn format_iso(micros: Micros) -> String {
    let nanos = i128::from(micros) * 1_000;
    let Ok(value) = OffsetDateTime::from_unix_timestamp_nanos(nanos) else {
        return "1970-01-01T00:00:00.000Z".to_owned();
    };
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    value
        .format(format)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000Z".to_owned())
}

/// Current time in microseconds.
pub fn now_micros() -> Micros {
    to_micros(OffsetDateTime::now_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_offsets_and_rejects_naive() {
        let utc = parse_iso_with_offset("2025-01-01T10:00:00.123Z").unwrap();
        let shifted = parse_iso_with_offset("2025-01-01T12:00:00.123+02:00").unwrap();
        assert_eq!(utc, shifted);
        assert_eq!(format_iso(utc), "2025-01-01T10:00:00.123Z");
        assert_eq!(
            parse_iso_with_offset("2026-11-27T04:23:13.588520Z").unwrap() % 1_000_000,
            588_520
        );
        assert!(parse_iso_with_offset("2025-01-01T10:00:00").is_none());
        assert!(parse_iso_with_offset("not a date").is_none());
        assert_eq!(
            parse_iso_with_offset("2025-01-01T10:00Z").unwrap(),
            parse_iso_with_offset("2025-01-01T10:00:00Z").unwrap()
        );
    }

    #[test]
    fn rejects_instants_that_cannot_be_written_back() {
        assert_eq!(
            parse_iso_with_offset("0001-01-01T00:00:00Z"),
            Some(MIN_MICROS)
        );
        assert_eq!(
            parse_iso_with_offset("9999-12-31T23:59:59.999999Z"),
            Some(MAX_MICROS)
        );
        assert_eq!(format_iso(MIN_MICROS), "0001-01-01T00:00:00.000Z");
        assert_eq!(format_iso(MAX_MICROS), "9999-12-31T23:59:59.999Z");
        assert!(parse_iso_with_offset("9999-12-31T23:59:59-23:59").is_none());
        assert!(parse_iso_with_offset("0001-01-01T00:00:00+01:00").is_none());
        assert!(parse_iso_with_offset("0000-06-01T00:00:00Z").is_none());
    }

    #[test]
    fn lenient_accepts_naive_and_dates() {
        assert_eq!(
            parse_iso_lenient("2025-01-01").unwrap(),
            parse_iso_with_offset("2025-01-01T00:00:00Z").unwrap()
        );
        assert_eq!(
            parse_iso_lenient("2025-01-01T10:00:00").unwrap(),
            parse_iso_with_offset("2025-01-01T10:00:00Z").unwrap()
        );
    }
}
