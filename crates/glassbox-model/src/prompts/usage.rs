//! Usage of prompt versions: what the generations linked to a version (observations
//! whose `promptName`/`promptVersion` resolved to it) add up to.

use crate::Micros;

/// Count, sum, mean and percentiles of a set of numbers. Percentiles interpolate
/// linearly between the two nearest ranks (as PostgreSQL's `percentile_cont`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Distribution {
    pub count: u64,
    pub sum: f64,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
}

impl Distribution {
    /// `None` for no values; NaN values are ignored.
    pub fn of(mut values: Vec<f64>) -> Option<Distribution> {
        values.retain(|value| !value.is_nan());
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let sum: f64 = values.iter().sum();
        let count = values.len();
        Some(Distribution {
            count: count as u64,
            sum,
            mean: sum / count as f64,
            min: values[0],
            max: values[count - 1],
            p50: percentile(&values, 0.50),
            p90: percentile(&values, 0.90),
            p95: percentile(&values, 0.95),
            p99: percentile(&values, 0.99),
        })
    }
}

/// The `q` quantile (0..=1) of sorted, non-empty values.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    let rank = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let below = rank.floor() as usize;
    let above = rank.ceil() as usize;
    let weight = rank - below as f64;
    sorted[below] + (sorted[above] - sorted[below]) * weight
}

/// The average of one score name (numeric and boolean scores) over a version's
/// generations, or over the traces that contain them.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreAverage {
    pub name: String,
    /// `NUMERIC` or `BOOLEAN`.
    pub data_type: String,
    pub count: u64,
    pub average: f64,
}

/// Usage statistics of one prompt version.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptVersionUsage {
    pub prompt_id: String,
    pub version: i64,
    pub labels: Vec<String>,
    pub generation_count: u64,
    /// Start time of the first and the last linked generation.
    pub first_used_at: Option<Micros>,
    pub last_used_at: Option<Micros>,
    /// Seconds from start to end, over the generations that have ended.
    pub latency_seconds: Option<Distribution>,
    /// Token counts (the usage keys containing `input` / `output`, and `total`), over the
    /// generations that reported usage.
    pub input_tokens: Option<Distribution>,
    pub output_tokens: Option<Distribution>,
    pub total_tokens: Option<Distribution>,
    /// Total cost in USD, over the generations that have one.
    pub cost: Option<Distribution>,
    /// Scores attached to the linked generations themselves.
    pub generation_scores: Vec<ScoreAverage>,
    /// Trace-level scores of the traces that contain a linked generation.
    pub trace_scores: Vec<ScoreAverage>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distribution() {
        assert_eq!(Distribution::of(Vec::new()), None);
        let one = Distribution::of(vec![2.0]).unwrap();
        assert_eq!((one.p50, one.p99, one.mean, one.count), (2.0, 2.0, 2.0, 1));
        let values: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let spread = Distribution::of(values).unwrap();
        assert_eq!(spread.count, 100);
        assert_eq!(spread.sum, 5050.0);
        assert!((spread.p50 - 50.5).abs() < 1e-9);
        assert!((spread.p90 - 90.1).abs() < 1e-9);
        assert!((spread.p99 - 99.01).abs() < 1e-9);
        assert_eq!((spread.min, spread.max), (1.0, 100.0));
        assert_eq!(Distribution::of(vec![f64::NAN]), None);
    }
}
