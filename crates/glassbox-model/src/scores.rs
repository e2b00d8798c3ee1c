//! Score rules: value types per data type, and the check against a score config.
//! Langfuse accepts a score that breaks its config and drops it later without a word;
//! glassbox rejects it with a message that names the rule.

use serde_json::Value;

use crate::merge::MergedScore;
use crate::{Score, ScoreConfig, ScoreDataType};

pub const MAX_TEXT_SCORE_CHARS: usize = 500;

/// Turns a merged score into the stored score, checking it against its config when it
/// names one (`config` is the config found for `merged.config_id`, if any).
pub fn finalize_score(merged: MergedScore, config: Option<&ScoreConfig>) -> Result<Score, String> {
    let mut data_type = merged.data_type;
    let mut name = merged.name.clone();
    if merged.source == "ANNOTATION"
        && merged.config_id.is_none()
        && data_type != Some(ScoreDataType::Correction)
    {
        return Err("scores with source ANNOTATION require a configId".to_owned());
    }
    if let Some(config_id) = &merged.config_id {
        if data_type == Some(ScoreDataType::Correction) {
            return Err("CORRECTION scores cannot reference a score config".to_owned());
        }
        let Some(config) = config else {
            return Err(format!(
                "score config `{config_id}` does not exist in this project"
            ));
        };
        if config.is_archived {
            return Err(format!("score config `{config_id}` is archived"));
        }
        if let Some(given) = data_type {
            if given != config.data_type {
                return Err(format!(
                    "dataType {} does not match the {} data type of score config `{}`",
                    given.as_str(),
                    config.data_type.as_str(),
                    config.name
                ));
            }
        }
        data_type = Some(config.data_type);
        name = config.name.clone();
    }
    let data_type = match data_type {
        Some(data_type) => data_type,
        None => match &merged.raw_value {
            Value::Number(_) => ScoreDataType::Numeric,
            Value::String(_) => ScoreDataType::Categorical,
            _ => return Err("value must be a number or a string".to_owned()),
        },
    };
    let (value, string_value) = typed_value(data_type, &merged.raw_value, config)?;
    if matches!(data_type, ScoreDataType::Correction)
        && (merged.session_id.is_some() || merged.dataset_run_id.is_some())
    {
        return Err("CORRECTION scores can only target a trace or an observation".to_owned());
    }
    Ok(Score {
        id: merged.id,
        timestamp: merged.timestamp,
        name: if data_type == ScoreDataType::Correction {
            "output".to_owned()
        } else {
            name
        },
        value,
        string_value,
        data_type,
        source: merged.source,
        comment: merged.comment,
        metadata: merged.metadata,
        config_id: merged.config_id,
        queue_id: merged.queue_id,
        author_user_id: merged.author_user_id,
        execution_trace_id: merged.execution_trace_id,
        trace_id: merged.trace_id,
        observation_id: merged.observation_id,
        session_id: merged.session_id,
        dataset_run_id: merged.dataset_run_id,
        environment: merged.environment,
        created_at: merged.created_at,
        updated_at: merged.updated_at,
    })
}

fn typed_value(
    data_type: ScoreDataType,
    raw: &Value,
    config: Option<&ScoreConfig>,
) -> Result<(f64, Option<String>), String> {
    match data_type {
        ScoreDataType::Numeric => {
            let number = raw
                .as_f64()
                .ok_or_else(|| "NUMERIC scores need a numeric value".to_owned())?;
            if let Some(config) = config {
                if let Some(min) = config.min_value.filter(|min| number < *min) {
                    return Err(format!(
                        "value {number} is below the minimum {min} of score config `{}`",
                        config.name
                    ));
                }
                if let Some(max) = config.max_value.filter(|max| number > *max) {
                    return Err(format!(
                        "value {number} is above the maximum {max} of score config `{}`",
                        config.name
                    ));
                }
            }
            Ok((number, None))
        }
        ScoreDataType::Boolean => {
            let number = raw
                .as_f64()
                .filter(|n| *n == 0.0 || *n == 1.0)
                .ok_or_else(|| "BOOLEAN scores need the value 0 or 1".to_owned())?;
            let label = if number == 1.0 { "True" } else { "False" };
            Ok((number, Some(label.to_owned())))
        }
        ScoreDataType::Categorical => {
            let label = raw
                .as_str()
                .ok_or_else(|| "CATEGORICAL scores need a string value".to_owned())?;
            let mut value = 0.0;
            if let Some(config) = config {
                let categories = config.categories.as_deref().unwrap_or_default();
                let category = categories
                    .iter()
                    .find(|category| category.label == label)
                    .ok_or_else(|| {
                        let labels: Vec<&str> = categories
                            .iter()
                            .map(|category| category.label.as_str())
                            .collect();
                        format!(
                            "value `{label}` is not a category of score config `{}` (allowed: {})",
                            config.name,
                            labels.join(", ")
                        )
                    })?;
                value = category.value;
            }
            Ok((value, Some(label.to_owned())))
        }
        ScoreDataType::Text => {
            let text = raw
                .as_str()
                .ok_or_else(|| "TEXT scores need a string value".to_owned())?;
            let length = text.chars().count();
            if length == 0 || length > MAX_TEXT_SCORE_CHARS {
                return Err(format!(
                    "TEXT score values must have 1 to {MAX_TEXT_SCORE_CHARS} characters"
                ));
            }
            Ok((0.0, Some(text.to_owned())))
        }
        ScoreDataType::Correction => {
            let text = raw
                .as_str()
                .ok_or_else(|| "CORRECTION scores need a string value".to_owned())?;
            Ok((0.0, Some(text.to_owned())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScoreCategory;
    use serde_json::json;

    fn merged(
        value: Value,
        data_type: Option<ScoreDataType>,
        config_id: Option<&str>,
    ) -> MergedScore {
        MergedScore {
            id: "s".into(),
            timestamp: 0,
            name: "n".into(),
            raw_value: value,
            data_type,
            source: "API".into(),
            comment: None,
            metadata: Default::default(),
            config_id: config_id.map(str::to_owned),
            queue_id: None,
            author_user_id: None,
            execution_trace_id: None,
            trace_id: Some("t".into()),
            observation_id: None,
            session_id: None,
            dataset_run_id: None,
            environment: "default".into(),
            created_at: 0,
            updated_at: 0,
        }
    }

    fn config(data_type: ScoreDataType) -> ScoreConfig {
        ScoreConfig {
            id: "c".into(),
            name: "quality".into(),
            data_type,
            is_archived: false,
            min_value: Some(0.0),
            max_value: Some(1.0),
            categories: Some(vec![ScoreCategory {
                label: "good".into(),
                value: 1.0,
            }]),
            description: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn infers_types_without_config() {
        let numeric = finalize_score(merged(json!(0.5), None, None), None).unwrap();
        assert_eq!(numeric.data_type, ScoreDataType::Numeric);
        let categorical = finalize_score(merged(json!("x"), None, None), None).unwrap();
        assert_eq!(categorical.string_value.as_deref(), Some("x"));
        let boolean =
            finalize_score(merged(json!(1.0), Some(ScoreDataType::Boolean), None), None).unwrap();
        assert_eq!(boolean.string_value.as_deref(), Some("True"));
        assert!(
            finalize_score(merged(json!(2), Some(ScoreDataType::Boolean), None), None).is_err()
        );
    }

    #[test]
    fn config_rules_name_what_was_broken() {
        let numeric = config(ScoreDataType::Numeric);
        let error = finalize_score(merged(json!(3), None, Some("c")), Some(&numeric)).unwrap_err();
        assert!(error.contains("above the maximum"), "{error}");
        let ok = finalize_score(merged(json!(0.5), None, Some("c")), Some(&numeric)).unwrap();
        assert_eq!(ok.name, "quality");
        let categorical = config(ScoreDataType::Categorical);
        let error =
            finalize_score(merged(json!("bad"), None, Some("c")), Some(&categorical)).unwrap_err();
        assert!(error.contains("not a category"), "{error}");
        let mapped =
            finalize_score(merged(json!("good"), None, Some("c")), Some(&categorical)).unwrap();
        assert_eq!(mapped.value, 1.0);
        let missing = finalize_score(merged(json!(1), None, Some("nope")), None).unwrap_err();
        assert!(missing.contains("does not exist"));
        let mismatch = finalize_score(
            merged(json!(1), Some(ScoreDataType::Boolean), Some("c")),
            Some(&numeric),
        )
        .unwrap_err();
        assert!(mismatch.contains("does not match"));
    }
}
