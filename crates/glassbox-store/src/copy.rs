//! The vocabulary of `glassbox migrate-data`, which copies an embedded install into
//! PostgreSQL table by table: the embedded backend exports rows of plain values, the
//! PostgreSQL backend imports them. Both schemas use the same table and column names, so
//! a row is just its column names and values. No SQL here.

use serde_json::Value as Json;

/// One column value, as SQLite stores it.
#[derive(Debug, Clone, PartialEq)]
pub enum CopyValue {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// One chunk of a table, rows in primary-key order.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyChunk {
    /// The values of the key columns of the last row: where the next chunk starts, and
    /// the progress an interrupted copy resumes from.
    pub last_key: Vec<CopyValue>,
    pub rows: Vec<Vec<CopyValue>>,
}

/// A key as JSON text (for the progress table), and back.
pub fn key_to_json(key: &[CopyValue]) -> String {
    Json::Array(key.iter().map(value_to_json).collect()).to_string()
}

pub fn key_from_json(text: &str) -> Result<Vec<CopyValue>, String> {
    let parsed: Json =
        serde_json::from_str(text).map_err(|error| format!("invalid stored key: {error}"))?;
    let Json::Array(values) = parsed else {
        return Err(format!("invalid stored key: {text}"));
    };
    values.iter().map(value_from_json).collect()
}

fn value_to_json(value: &CopyValue) -> Json {
    match value {
        CopyValue::Null => Json::Null,
        CopyValue::Integer(number) => Json::from(*number),
        CopyValue::Real(number) => serde_json::json!({ "real": number }),
        CopyValue::Text(text) => Json::String(text.clone()),
        CopyValue::Blob(bytes) => serde_json::json!({
            "blob": bytes.iter().map(|byte| format!("{byte:02x}")).collect::<String>()
        }),
    }
}

fn value_from_json(json: &Json) -> Result<CopyValue, String> {
    let invalid = || format!("invalid stored key value: {json}");
    Ok(match json {
        Json::Null => CopyValue::Null,
        Json::Number(number) => CopyValue::Integer(number.as_i64().ok_or_else(invalid)?),
        Json::String(text) => CopyValue::Text(text.clone()),
        Json::Object(object) => match (object.get("real"), object.get("blob")) {
            (Some(real), None) => CopyValue::Real(real.as_f64().ok_or_else(invalid)?),
            (None, Some(Json::String(hex))) => {
                let bytes = (0..hex.len())
                    .step_by(2)
                    .map(|at| {
                        hex.get(at..at + 2)
                            .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                    })
                    .collect::<Option<Vec<u8>>>()
                    .ok_or_else(invalid)?;
                CopyValue::Blob(bytes)
            }
            _ => return Err(invalid()),
        },
        _ => return Err(invalid()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_json() {
        let key = vec![
            CopyValue::Text("project \"a\"".into()),
            CopyValue::Integer(-42),
            CopyValue::Real(1.5),
            CopyValue::Null,
            CopyValue::Blob(vec![0, 15, 255]),
        ];
        assert_eq!(key_from_json(&key_to_json(&key)).unwrap(), key);
        assert!(key_from_json("{}").is_err());
        assert!(key_from_json("[{\"blob\":\"0\"}]").is_err());
    }
}
