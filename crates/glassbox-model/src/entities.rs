//! The entities glassbox stores. Field names follow the Langfuse data model.

use serde_json::{Map, Value};

use crate::Micros;

/// A project id. Every store call is scoped by one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProjectId(pub String);

impl ProjectId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ProjectId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// JSON object used for metadata and key/value maps.
pub type JsonObject = Map<String, Value>;

#[derive(Debug, Clone, PartialEq)]
pub struct Organization {
    pub id: String,
    pub name: String,
    pub created_at: Micros,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    pub id: ProjectId,
    pub org_id: String,
    pub name: String,
    pub retention_days: Option<i64>,
    pub metadata: JsonObject,
    pub created_at: Micros,
}

/// What an authenticated API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessLevel {
    /// Basic `publicKey:secretKey`: everything in the project.
    Project,
    /// Bearer public key: only score creation.
    Scores,
}

/// An API key as stored: the secret only as a hash.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    pub id: String,
    pub project_id: ProjectId,
    pub public_key: String,
    /// `sha256_hex(secret ‖ sha256_hex(salt))`, the lookup key (Langfuse's "fast hash").
    pub hashed_secret_key: String,
    /// `sk-lf-...abcd`: shown in listings.
    pub display_secret_key: String,
    pub note: Option<String>,
    pub created_at: Micros,
    pub last_used_at: Option<Micros>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    /// PHC string of a memory-hard hash (argon2id).
    pub password_hash: String,
    pub created_at: Micros,
}

/// Roles, highest first, as in Langfuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Owner,
    Admin,
    Member,
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "OWNER",
            Role::Admin => "ADMIN",
            Role::Member => "MEMBER",
            Role::Viewer => "VIEWER",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    pub id: String,
    pub timestamp: Micros,
    pub name: Option<String>,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub release: Option<String>,
    pub version: Option<String>,
    pub environment: String,
    pub metadata: JsonObject,
    pub tags: Vec<String>,
    pub public: bool,
    pub bookmarked: bool,
    pub input: Option<Value>,
    pub output: Option<Value>,
    pub created_at: Micros,
    pub updated_at: Micros,
}

/// Observation types. Everything but SPAN and EVENT is "generation-like".
pub const OBSERVATION_TYPES: [&str; 10] = [
    "SPAN",
    "EVENT",
    "GENERATION",
    "AGENT",
    "TOOL",
    "CHAIN",
    "RETRIEVER",
    "EVALUATOR",
    "EMBEDDING",
    "GUARDRAIL",
];

pub const LEVELS: [&str; 4] = ["DEBUG", "DEFAULT", "WARNING", "ERROR"];

#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub id: String,
    pub trace_id: String,
    pub parent_observation_id: Option<String>,
    /// The app's logical root although it has a parent (a framework span that was not
    /// exported); counts as a root for the v2 observations API.
    pub is_app_root: bool,
    pub r#type: String,
    pub name: Option<String>,
    pub start_time: Micros,
    pub end_time: Option<Micros>,
    pub completion_start_time: Option<Micros>,
    pub environment: String,
    pub metadata: JsonObject,
    pub level: String,
    pub status_message: Option<String>,
    pub version: Option<String>,
    pub input: Option<Value>,
    pub output: Option<Value>,
    pub model: Option<String>,
    pub internal_model_id: Option<String>,
    pub model_parameters: Option<Value>,
    pub provided_usage_details: Map<String, Value>,
    pub usage_details: Map<String, Value>,
    pub provided_cost_details: Map<String, Value>,
    pub cost_details: Map<String, Value>,
    pub total_cost: Option<f64>,
    pub prompt_id: Option<String>,
    pub prompt_name: Option<String>,
    pub prompt_version: Option<i64>,
    pub created_at: Micros,
    pub updated_at: Micros,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreDataType {
    Numeric,
    Categorical,
    Boolean,
    Text,
    Correction,
}

impl ScoreDataType {
    pub fn as_str(self) -> &'static str {
        match self {
            ScoreDataType::Numeric => "NUMERIC",
            ScoreDataType::Categorical => "CATEGORICAL",
            ScoreDataType::Boolean => "BOOLEAN",
            ScoreDataType::Text => "TEXT",
            ScoreDataType::Correction => "CORRECTION",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "NUMERIC" => ScoreDataType::Numeric,
            "CATEGORICAL" => ScoreDataType::Categorical,
            "BOOLEAN" => ScoreDataType::Boolean,
            "TEXT" => ScoreDataType::Text,
            "CORRECTION" => ScoreDataType::Correction,
            _ => return None,
        })
    }
}

pub const SCORE_SOURCES: [&str; 3] = ["API", "EVAL", "ANNOTATION"];

#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    pub id: String,
    pub timestamp: Micros,
    pub name: String,
    /// Numeric value: the number, 0/1 for booleans, the mapped category value, else 0.
    pub value: f64,
    /// Label for categorical and boolean (`True`/`False`), the text for TEXT/CORRECTION.
    pub string_value: Option<String>,
    pub data_type: ScoreDataType,
    pub source: String,
    pub comment: Option<String>,
    pub metadata: JsonObject,
    pub config_id: Option<String>,
    pub queue_id: Option<String>,
    pub author_user_id: Option<String>,
    pub execution_trace_id: Option<String>,
    pub trace_id: Option<String>,
    pub observation_id: Option<String>,
    pub session_id: Option<String>,
    pub dataset_run_id: Option<String>,
    pub environment: String,
    pub created_at: Micros,
    pub updated_at: Micros,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: String,
    pub environment: String,
    pub created_at: Micros,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScoreCategory {
    pub label: String,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScoreConfig {
    pub id: String,
    pub name: String,
    pub data_type: ScoreDataType,
    pub is_archived: bool,
    pub min_value: Option<f64>,
    pub max_value: Option<f64>,
    pub categories: Option<Vec<ScoreCategory>>,
    pub description: Option<String>,
    pub created_at: Micros,
    pub updated_at: Micros,
}
