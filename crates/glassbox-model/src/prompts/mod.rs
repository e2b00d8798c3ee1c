//! Prompt management: versions of a named prompt, their labels, the rules a new version
//! must follow (`validate`), composition of prompts that reference other prompts
//! (`compose`), and the statistics of the generations that used a version (`usage`).
//!
//! A *prompt* is every version sharing one name in a project; each version is immutable
//! except for its labels (and the tags, which all versions of a name share). A label is
//! on at most one version of a prompt; `latest` is kept on the highest version by the
//! store; `production` is what a fetch without label or version returns.

mod compose;
mod usage;
mod validate;

pub use compose::*;
pub use usage::*;
pub use validate::*;

use serde_json::Value;

use crate::Micros;

/// Always on the highest version; managed by glassbox, never set by clients.
pub const LATEST_LABEL: &str = "latest";
/// The label a fetch without `label` and `version` asks for.
pub const PRODUCTION_LABEL: &str = "production";
/// `createdBy` of versions created with an API key.
pub const CREATED_BY_API: &str = "API";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PromptType {
    Text,
    Chat,
}

impl PromptType {
    pub fn as_str(self) -> &'static str {
        match self {
            PromptType::Text => "text",
            PromptType::Chat => "chat",
        }
    }

    pub fn parse(text: &str) -> Option<PromptType> {
        match text {
            "text" => Some(PromptType::Text),
            "chat" => Some(PromptType::Chat),
            _ => None,
        }
    }
}

/// Which version of a prompt a fetch (or a composition reference) means.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PromptSelector {
    Version(i64),
    Label(String),
}

impl PromptSelector {
    /// `with version 3` / `with label 'production'`, as in Langfuse's 404 messages.
    pub fn describe(&self) -> String {
        match self {
            PromptSelector::Version(version) => format!("with version {version}"),
            PromptSelector::Label(label) => format!("with label '{label}'"),
        }
    }
}

/// One stored version of a prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptVersion {
    /// Unique in the project (a UUID); what observations link to.
    pub id: String,
    pub name: String,
    pub version: i64,
    pub r#type: PromptType,
    /// A string (text) or an array of messages and placeholders (chat).
    pub prompt: Value,
    /// Any JSON; `{}` when none was given.
    pub config: Value,
    /// In the order they were put on this version.
    pub labels: Vec<String>,
    /// Shared by every version of the name.
    pub tags: Vec<String>,
    pub commit_message: Option<String>,
    /// `API` for versions created with an API key, else a user id.
    pub created_by: String,
    pub created_at: Micros,
    /// Changes when labels or tags change.
    pub updated_at: Micros,
}

impl PromptVersion {
    pub fn node(&self) -> PromptNode {
        PromptNode {
            id: self.id.clone(),
            name: self.name.clone(),
            version: self.version,
        }
    }
}

/// A version in a resolution graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptNode {
    pub id: String,
    pub name: String,
    pub version: i64,
}

/// Which versions a composed prompt was assembled from: for each version that references
/// others (by id, in the order first met), the versions its references resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolutionGraph {
    pub root: PromptNode,
    pub dependencies: Vec<(String, Vec<PromptNode>)>,
}

/// A version whose `prompt` has every reference replaced by the referenced text.
/// `graph` is `None` when the version references nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedPrompt {
    pub version: PromptVersion,
    pub graph: Option<ResolutionGraph>,
}
