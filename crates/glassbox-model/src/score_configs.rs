//! Score config rules: what a valid config is, how a new one is built from a request
//! and how a partial update applies. A config names the rule a score broke when it is
//! rejected (see `scores.rs`), so a config itself must be consistent: a numeric range
//! with `min < max`, categories with unique labels and values, fixed boolean categories.

use crate::{Micros, ScoreCategory, ScoreConfig, ScoreDataType};

/// Longest config name (Langfuse: 35).
pub const MAX_CONFIG_NAME_CHARS: usize = 35;
/// Most categories of one config.
pub const MAX_CATEGORIES: usize = 100;
/// Longest category label.
pub const MAX_CATEGORY_LABEL_CHARS: usize = 200;
/// Longest config description.
pub const MAX_CONFIG_DESCRIPTION_CHARS: usize = 5_000;

/// A config as a client asks for it (`POST /score-configs`).
#[derive(Debug, Clone, PartialEq)]
pub struct NewScoreConfig {
    pub name: String,
    pub data_type: ScoreDataType,
    pub categories: Option<Vec<ScoreCategory>>,
    pub min_value: Option<f64>,
    pub max_value: Option<f64>,
    pub description: Option<String>,
}

/// A partial update (`PATCH /score-configs/{id}`). `None` keeps the stored value; for
/// the nullable fields `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScoreConfigPatch {
    pub is_archived: Option<bool>,
    pub name: Option<String>,
    pub categories: Option<Vec<ScoreCategory>>,
    pub min_value: Option<Option<f64>>,
    pub max_value: Option<Option<f64>>,
    pub description: Option<Option<String>>,
}

impl ScoreConfigPatch {
    pub fn is_empty(&self) -> bool {
        *self == ScoreConfigPatch::default()
    }
}

/// The two categories every BOOLEAN config has.
pub fn boolean_categories() -> Vec<ScoreCategory> {
    vec![
        ScoreCategory {
            label: "True".into(),
            value: 1.0,
        },
        ScoreCategory {
            label: "False".into(),
            value: 0.0,
        },
    ]
}

/// Builds a new, checked config. BOOLEAN configs get their categories here.
pub fn new_score_config(
    id: String,
    input: NewScoreConfig,
    now: Micros,
) -> Result<ScoreConfig, String> {
    let config = ScoreConfig {
        id,
        name: input.name,
        data_type: input.data_type,
        is_archived: false,
        min_value: input.min_value,
        max_value: input.max_value,
        categories: input.categories,
        description: input.description,
        created_at: now,
        updated_at: now,
    };
    normalized(config)
}

/// Applies `patch` to `existing` and checks the result against its data type (which a
/// patch cannot change).
pub fn update_score_config(
    existing: &ScoreConfig,
    patch: &ScoreConfigPatch,
    now: Micros,
) -> Result<ScoreConfig, String> {
    let mut config = existing.clone();
    if let Some(is_archived) = patch.is_archived {
        config.is_archived = is_archived;
    }
    if let Some(name) = &patch.name {
        config.name = name.clone();
    }
    if let Some(categories) = &patch.categories {
        config.categories = Some(categories.clone());
    }
    if let Some(min_value) = patch.min_value {
        config.min_value = min_value;
    }
    if let Some(max_value) = patch.max_value {
        config.max_value = max_value;
    }
    if let Some(description) = &patch.description {
        config.description = description.clone();
    }
    config.updated_at = now.max(existing.updated_at);
    normalized(config)
}

fn normalized(mut config: ScoreConfig) -> Result<ScoreConfig, String> {
    check_name(&config.name)?;
    if let Some(description) = &config.description
        && description.chars().count() > MAX_CONFIG_DESCRIPTION_CHARS
    {
        return Err(format!(
            "description must have at most {MAX_CONFIG_DESCRIPTION_CHARS} characters"
        ));
    }
    let data_type = config.data_type;
    let has_range = config.min_value.is_some() || config.max_value.is_some();
    let has_categories = config.categories.as_ref().is_some_and(|c| !c.is_empty());
    match data_type {
        ScoreDataType::Numeric => {
            if has_categories {
                return Err("categories are only allowed for CATEGORICAL configs".into());
            }
            config.categories = None;
            for (key, bound) in [
                ("minValue", config.min_value),
                ("maxValue", config.max_value),
            ] {
                if bound.is_some_and(|bound| !bound.is_finite()) {
                    return Err(format!("{key} must be a finite number"));
                }
            }
            if let (Some(min), Some(max)) = (config.min_value, config.max_value)
                && min >= max
            {
                return Err(format!(
                    "minValue ({min}) must be less than maxValue ({max})"
                ));
            }
        }
        ScoreDataType::Categorical => {
            if has_range {
                return Err("minValue and maxValue are only allowed for NUMERIC configs".into());
            }
            let categories = config.categories.as_deref().unwrap_or_default();
            check_categories(categories)?;
        }
        ScoreDataType::Boolean => {
            if has_range {
                return Err("minValue and maxValue are only allowed for NUMERIC configs".into());
            }
            let given = config.categories.as_deref().unwrap_or_default();
            if !given.is_empty() && !same_categories(given, &boolean_categories()) {
                return Err(
                    "BOOLEAN configs have the fixed categories True=1 and False=0; do not pass categories"
                        .into(),
                );
            }
            config.categories = Some(boolean_categories());
        }
        ScoreDataType::Text => {
            if has_range {
                return Err("minValue and maxValue are only allowed for NUMERIC configs".into());
            }
            if has_categories {
                return Err("categories are only allowed for CATEGORICAL configs".into());
            }
            config.categories = None;
        }
        ScoreDataType::Correction => {
            return Err("dataType must be NUMERIC, CATEGORICAL, BOOLEAN or TEXT".into());
        }
    }
    Ok(config)
}

/// 1 to 35 characters: letters, numbers, `_`, space, `.`, `(`, `)` and `-`.
fn check_name(name: &str) -> Result<(), String> {
    let length = name.chars().count();
    if name.trim().is_empty() || length > MAX_CONFIG_NAME_CHARS {
        return Err(format!(
            "name must have 1 to {MAX_CONFIG_NAME_CHARS} characters"
        ));
    }
    let allowed = |c: char| c.is_alphanumeric() || matches!(c, '_' | ' ' | '.' | '(' | ')' | '-');
    if let Some(bad) = name.chars().find(|c| !allowed(*c)) {
        return Err(format!(
            "name may only contain letters, numbers, underscores, spaces, periods, parentheses and hyphens (found `{bad}`)"
        ));
    }
    Ok(())
}

fn check_categories(categories: &[ScoreCategory]) -> Result<(), String> {
    if categories.is_empty() {
        return Err("CATEGORICAL configs need at least one category".into());
    }
    if categories.len() > MAX_CATEGORIES {
        return Err(format!("at most {MAX_CATEGORIES} categories are allowed"));
    }
    for (index, category) in categories.iter().enumerate() {
        let length = category.label.chars().count();
        if category.label.trim().is_empty() || length > MAX_CATEGORY_LABEL_CHARS {
            return Err(format!(
                "category labels must have 1 to {MAX_CATEGORY_LABEL_CHARS} characters"
            ));
        }
        if !category.value.is_finite() {
            return Err(format!(
                "the value of category `{}` must be a finite number",
                category.label
            ));
        }
        let earlier = &categories[..index];
        if earlier.iter().any(|other| other.label == category.label) {
            return Err(format!(
                "category labels must be unique (`{}` appears twice)",
                category.label
            ));
        }
        if earlier.iter().any(|other| other.value == category.value) {
            return Err(format!(
                "category values must be unique ({} appears twice)",
                category.value
            ));
        }
    }
    Ok(())
}

fn same_categories(a: &[ScoreCategory], b: &[ScoreCategory]) -> bool {
    a.len() == b.len()
        && a.iter().all(|category| {
            b.iter()
                .any(|other| other.label == category.label && other.value == category.value)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn category(label: &str, value: f64) -> ScoreCategory {
        ScoreCategory {
            label: label.into(),
            value,
        }
    }

    fn input(data_type: ScoreDataType) -> NewScoreConfig {
        NewScoreConfig {
            name: "quality (v2)".into(),
            data_type,
            categories: None,
            min_value: None,
            max_value: None,
            description: None,
        }
    }

    fn build(input: NewScoreConfig) -> Result<ScoreConfig, String> {
        new_score_config("id".into(), input, 10)
    }

    #[test]
    fn numeric_ranges() {
        let open = build(input(ScoreDataType::Numeric)).unwrap();
        assert_eq!((open.min_value, open.max_value), (None, None));
        let half = build(NewScoreConfig {
            min_value: Some(0.0),
            ..input(ScoreDataType::Numeric)
        })
        .unwrap();
        assert_eq!(half.min_value, Some(0.0));
        for (min, max) in [(1.0, 1.0), (2.0, 1.0)] {
            let error = build(NewScoreConfig {
                min_value: Some(min),
                max_value: Some(max),
                ..input(ScoreDataType::Numeric)
            })
            .unwrap_err();
            assert!(error.contains("less than maxValue"), "{error}");
        }
        let error = build(NewScoreConfig {
            categories: Some(vec![category("a", 1.0)]),
            ..input(ScoreDataType::Numeric)
        })
        .unwrap_err();
        assert!(error.contains("only allowed for CATEGORICAL"), "{error}");
    }

    #[test]
    fn categorical_needs_unique_categories() {
        let ok = build(NewScoreConfig {
            categories: Some(vec![category("good", 1.0), category("bad", 0.0)]),
            ..input(ScoreDataType::Categorical)
        })
        .unwrap();
        assert_eq!(ok.categories.unwrap().len(), 2);
        let cases = [
            (None, "at least one category"),
            (Some(vec![]), "at least one category"),
            (
                Some(vec![category("a", 1.0), category("a", 2.0)]),
                "labels must be unique",
            ),
            (
                Some(vec![category("a", 1.0), category("b", 1.0)]),
                "values must be unique",
            ),
            (Some(vec![category(" ", 1.0)]), "category labels"),
        ];
        for (categories, needle) in cases {
            let error = build(NewScoreConfig {
                categories,
                ..input(ScoreDataType::Categorical)
            })
            .unwrap_err();
            assert!(error.contains(needle), "{error} should mention {needle}");
        }
        let error = build(NewScoreConfig {
            categories: Some(vec![category("a", 1.0)]),
            max_value: Some(3.0),
            ..input(ScoreDataType::Categorical)
        })
        .unwrap_err();
        assert!(error.contains("only allowed for NUMERIC"), "{error}");
    }

    #[test]
    fn boolean_categories_are_generated_and_text_has_none() {
        let boolean = build(input(ScoreDataType::Boolean)).unwrap();
        assert_eq!(boolean.categories, Some(boolean_categories()));
        let echoed = build(NewScoreConfig {
            categories: Some(vec![category("False", 0.0), category("True", 1.0)]),
            ..input(ScoreDataType::Boolean)
        })
        .unwrap();
        assert_eq!(echoed.categories, Some(boolean_categories()));
        let error = build(NewScoreConfig {
            categories: Some(vec![category("yes", 1.0)]),
            ..input(ScoreDataType::Boolean)
        })
        .unwrap_err();
        assert!(error.contains("fixed categories"), "{error}");
        let text = build(input(ScoreDataType::Text)).unwrap();
        assert_eq!(text.categories, None);
        assert!(
            build(NewScoreConfig {
                min_value: Some(1.0),
                ..input(ScoreDataType::Text)
            })
            .is_err()
        );
        assert!(build(input(ScoreDataType::Correction)).is_err());
    }

    #[test]
    fn names_follow_langfuse_rules() {
        for good in ["a", "Relevance_2", "tone (v1.0)", "über-güte", "数字"] {
            assert!(
                build(NewScoreConfig {
                    name: good.into(),
                    ..input(ScoreDataType::Text)
                })
                .is_ok(),
                "{good}"
            );
        }
        for bad in ["", "   ", "a/b", "x".repeat(36).as_str(), "semi;colon"] {
            assert!(
                build(NewScoreConfig {
                    name: bad.into(),
                    ..input(ScoreDataType::Text)
                })
                .is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn patches_are_rechecked_against_the_data_type() {
        let numeric = build(NewScoreConfig {
            min_value: Some(0.0),
            max_value: Some(10.0),
            description: Some("d".into()),
            ..input(ScoreDataType::Numeric)
        })
        .unwrap();
        let narrowed = update_score_config(
            &numeric,
            &ScoreConfigPatch {
                max_value: Some(Some(5.0)),
                description: Some(None),
                is_archived: Some(true),
                ..ScoreConfigPatch::default()
            },
            20,
        )
        .unwrap();
        assert_eq!(narrowed.max_value, Some(5.0));
        assert_eq!(narrowed.min_value, Some(0.0), "untouched fields stay");
        assert_eq!(narrowed.description, None, "null clears");
        assert!(narrowed.is_archived);
        assert_eq!((narrowed.created_at, narrowed.updated_at), (10, 20));
        let error = update_score_config(
            &numeric,
            &ScoreConfigPatch {
                min_value: Some(Some(20.0)),
                ..ScoreConfigPatch::default()
            },
            20,
        )
        .unwrap_err();
        assert!(error.contains("less than maxValue"), "{error}");
        let error = update_score_config(
            &numeric,
            &ScoreConfigPatch {
                categories: Some(vec![category("a", 1.0)]),
                ..ScoreConfigPatch::default()
            },
            20,
        )
        .unwrap_err();
        assert!(error.contains("only allowed for CATEGORICAL"), "{error}");
        assert!(ScoreConfigPatch::default().is_empty());
    }
}
