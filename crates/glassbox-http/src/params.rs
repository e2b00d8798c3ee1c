//! Query-string parsing with Langfuse's rules: repeated or comma-separated arrays, `""`
//! meaning "use the default", ISO datetimes with offsets, page/limit bounds.

use glassbox_model::Micros;
use glassbox_model::filter::{Column, FilterCondition, parse_filter};
use glassbox_model::time::{parse_iso_lenient, parse_iso_with_offset};
use glassbox_store::{Page, PageRequest};

use crate::error::{ApiError, invalid};

pub struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    pub fn parse(raw: Option<&str>) -> QueryParams {
        let pairs = raw
            .map(|raw| {
                form_urlencoded::parse(raw.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        QueryParams(pairs)
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(key, _)| key.as_str())
    }

    /// The first non-empty value.
    pub fn string(&self, key: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(name, value)| name == key && !value.is_empty())
            .map(|(_, value)| value.clone())
    }

    /// Every value of a repeated parameter.
    pub fn repeated(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(name, value)| name == key && !value.is_empty())
            .map(|(_, value)| value.clone())
            .collect()
    }

    /// Repeated parameters, each also split at commas.
    pub fn list(&self, key: &str) -> Vec<String> {
        self.repeated(key)
            .iter()
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
            .collect()
    }

    pub fn integer(&self, key: &str) -> Result<Option<i64>, ApiError> {
        self.string(key)
            .map(|text| {
                text.trim()
                    .parse::<i64>()
                    .map_err(|_| invalid(format!("{key} must be an integer")))
            })
            .transpose()
    }

    pub fn number(&self, key: &str) -> Result<Option<f64>, ApiError> {
        self.string(key)
            .map(|text| {
                text.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|number| number.is_finite())
                    .ok_or_else(|| invalid(format!("{key} must be a number")))
            })
            .transpose()
    }

    pub fn boolean(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.string(key).as_deref() {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(_) => Err(invalid(format!("{key} must be true or false"))),
        }
    }

    /// An ISO-8601 datetime with an offset.
    pub fn datetime(&self, key: &str) -> Result<Option<Micros>, ApiError> {
        self.string(key)
            .map(|text| {
                parse_iso_with_offset(&text).ok_or_else(|| {
                    invalid(format!("{key} must be an ISO-8601 datetime with an offset"))
                })
            })
            .transpose()
    }

    /// Any `Date`-coercible datetime (v3 scores).
    pub fn lenient_datetime(&self, key: &str) -> Result<Option<Micros>, ApiError> {
        self.string(key)
            .map(|text| {
                parse_iso_lenient(&text).ok_or_else(|| invalid(format!("{key} must be a datetime")))
            })
            .transpose()
    }

    /// `page` ≥ 1 (default 1) and `limit` in 1..=max (default `default_limit`).
    pub fn page(&self, default_limit: u32, max_limit: u32) -> Result<PageRequest, ApiError> {
        let page = self.integer("page")?.unwrap_or(1);
        let limit = self.integer("limit")?.unwrap_or(i64::from(default_limit));
        if page < 1 || page > 1_000_000 {
            return Err(invalid("page must be at least 1"));
        }
        if limit < 1 || limit > i64::from(max_limit) {
            return Err(invalid(format!("limit must be between 1 and {max_limit}")));
        }
        Ok(PageRequest {
            page: page as u32,
            limit: limit as u32,
        })
    }

    /// The advanced `filter` parameter.
    pub fn filter(&self, columns: &[Column]) -> Result<Vec<FilterCondition>, ApiError> {
        match self.string("filter") {
            None => Ok(Vec::new()),
            Some(text) => parse_filter(&text, columns).map_err(invalid),
        }
    }
}

/// `meta` of page-based responses.
pub fn page_meta(page: PageRequest, total_items: u64) -> serde_json::Value {
    let limit = u64::from(page.limit);
    serde_json::json!({
        "page": page.page,
        "limit": page.limit,
        "totalItems": total_items,
        "totalPages": total_items.div_ceil(limit),
    })
}

/// Langfuse's body for a paged list: `{data, meta}`, each item in its wire form.
pub fn page_response<T>(
    page: PageRequest,
    result: &Page<T>,
    item_to_wire: impl FnMut(&T) -> serde_json::Value,
) -> axum::Json<serde_json::Value> {
    let data: Vec<serde_json::Value> = result.items.iter().map(item_to_wire).collect();
    axum::Json(serde_json::json!({"data": data, "meta": page_meta(page, result.total_items)}))
}
