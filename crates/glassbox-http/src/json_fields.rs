//! Reading the fields of a JSON request body with Langfuse's 400 errors: every string has
//! a length limit, every list a size limit, and the message names the field. For PATCH
//! bodies the `nullable_*` readers tell "absent" (keep) from `null` (clear).

use serde_json::{Map, Value};

use crate::error::ApiError;

pub use crate::error::invalid;

/// The fields of a JSON object body.
pub struct JsonFields<'a> {
    object: &'a Map<String, Value>,
}

impl<'a> JsonFields<'a> {
    /// The body must be a JSON object.
    pub fn of(body: &'a Value) -> Result<JsonFields<'a>, ApiError> {
        match body {
            Value::Object(object) => Ok(JsonFields { object }),
            _ => Err(invalid("the body must be a JSON object")),
        }
    }

    fn present(&self, key: &str) -> Option<&'a Value> {
        self.object.get(key).filter(|value| !value.is_null())
    }

    /// True when the key is in the body (even as `null`).
    pub fn has(&self, key: &str) -> bool {
        self.object.contains_key(key)
    }

    pub fn keys(&self) -> impl Iterator<Item = &'a str> {
        self.object.keys().map(String::as_str)
    }

    /// A non-empty string of at most `max_chars` characters.
    pub fn required_string(&self, key: &str, max_chars: usize) -> Result<String, ApiError> {
        self.optional_string(key, max_chars)?
            .ok_or_else(|| invalid(format!("{key} is required")))
    }

    /// A string of 1 to `max_chars` characters, or `None` when absent or `null`.
    pub fn optional_string(&self, key: &str, max_chars: usize) -> Result<Option<String>, ApiError> {
        match self.present(key) {
            None => Ok(None),
            Some(Value::String(text)) => {
                let length = text.chars().count();
                if length == 0 {
                    Err(invalid(format!("{key} must not be empty")))
                } else if length > max_chars {
                    Err(invalid(format!(
                        "{key} must have at most {max_chars} characters"
                    )))
                } else {
                    Ok(Some(text.clone()))
                }
            }
            Some(_) => Err(invalid(format!("{key} must be a string"))),
        }
    }

    /// Absent: `None`; `null`: `Some(None)`; a string: `Some(Some(text))`.
    pub fn nullable_string(
        &self,
        key: &str,
        max_chars: usize,
    ) -> Result<Option<Option<String>>, ApiError> {
        if !self.has(key) {
            return Ok(None);
        }
        self.optional_string(key, max_chars).map(Some)
    }

    pub fn optional_bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.present(key) {
            None => Ok(None),
            Some(Value::Bool(flag)) => Ok(Some(*flag)),
            Some(_) => Err(invalid(format!("{key} must be true or false"))),
        }
    }

    /// A finite number, or `None` when absent or `null`.
    pub fn optional_number(&self, key: &str) -> Result<Option<f64>, ApiError> {
        match self.present(key) {
            None => Ok(None),
            Some(value) => value
                .as_f64()
                .filter(|number| number.is_finite())
                .map(Some)
                .ok_or_else(|| invalid(format!("{key} must be a number"))),
        }
    }

    /// Absent: `None`; `null`: `Some(None)`; a number: `Some(Some(number))`.
    pub fn nullable_number(&self, key: &str) -> Result<Option<Option<f64>>, ApiError> {
        if !self.has(key) {
            return Ok(None);
        }
        self.optional_number(key).map(Some)
    }

    /// An integer in `range`, or `None` when absent or `null`.
    pub fn optional_integer(
        &self,
        key: &str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<Option<i64>, ApiError> {
        match self.present(key) {
            None => Ok(None),
            Some(value) => value
                .as_i64()
                .filter(|number| range.contains(number))
                .map(Some)
                .ok_or_else(|| {
                    invalid(format!(
                        "{key} must be an integer from {} to {}",
                        range.start(),
                        range.end()
                    ))
                }),
        }
    }

    /// A list of non-empty strings: at most `max_items`, each at most `max_chars`.
    pub fn string_list(
        &self,
        key: &str,
        max_items: usize,
        max_chars: usize,
    ) -> Result<Option<Vec<String>>, ApiError> {
        let Some(value) = self.present(key) else {
            return Ok(None);
        };
        let Value::Array(items) = value else {
            return Err(invalid(format!("{key} must be an array of strings")));
        };
        if items.len() > max_items {
            return Err(invalid(format!(
                "{key} may have at most {max_items} entries"
            )));
        }
        items
            .iter()
            .map(|item| match item {
                Value::String(text) if !text.is_empty() && text.chars().count() <= max_chars => {
                    Ok(text.clone())
                }
                _ => Err(invalid(format!(
                    "every entry of {key} must be a string of 1 to {max_chars} characters"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// The raw value, when present and not `null`.
    pub fn value(&self, key: &str) -> Option<&'a Value> {
        self.present(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn absent_null_and_values_are_told_apart() {
        let body = json!({"a": "x", "n": null, "num": 1.5, "list": ["p", "q"], "flag": true});
        let fields = JsonFields::of(&body).unwrap();
        assert_eq!(
            fields.optional_string("a", 5).unwrap().as_deref(),
            Some("x")
        );
        assert_eq!(fields.optional_string("n", 5).unwrap(), None);
        assert_eq!(fields.nullable_string("n", 5).unwrap(), Some(None));
        assert_eq!(fields.nullable_string("missing", 5).unwrap(), None);
        assert_eq!(fields.nullable_number("num").unwrap(), Some(Some(1.5)));
        assert_eq!(fields.optional_bool("flag").unwrap(), Some(true));
        assert_eq!(
            fields.string_list("list", 2, 3).unwrap(),
            Some(vec!["p".to_owned(), "q".to_owned()])
        );
        assert!(fields.string_list("list", 1, 3).is_err());
        assert!(fields.required_string("missing", 5).is_err());
        assert!(fields.optional_string("a", 0).is_err());
        assert!(fields.optional_number("a").is_err());
        assert!(fields.optional_integer("num", 0..=5).is_err());
        assert!(JsonFields::of(&json!([1])).is_err());
    }
}
