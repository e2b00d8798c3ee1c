//! Prompt management: versions, labels, composition, protected labels and the usage of
//! each version by generations.
//!
//! The rules of a single version (name, labels, content) are pure and live in
//! `glassbox_model::prompts`; a store applies them and adds what needs the stored state,
//! atomically: the version number (highest + 1), the move of a label from whichever
//! version had it, `latest` on the highest version, the tags shared by all versions,
//! composition checks (references exist, are text, no cycles, not too deep), protected
//! labels and the dependents that block a delete.

use async_trait::async_trait;
use serde_json::Value;

use glassbox_model::prompts::{
    PromptSelector, PromptType, PromptVersion, PromptVersionUsage, ResolvedPrompt,
};
use glassbox_model::{Micros, ProjectId};

use crate::{Page, PageRequest, StoreError};

/// Why a prompt operation was refused. Store failures are wrapped in `Store`.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// The request breaks a rule (HTTP 400).
    #[error("{0}")]
    Invalid(String),
    /// The prompt or version does not exist (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// The change touches a protected label and the actor may not (HTTP 403).
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type PromptResult<T> = Result<T, PromptError>;

/// Who asks for a change: protected labels hold back API keys, not project admins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptActor {
    ApiKey,
    ProjectAdmin,
}

impl PromptActor {
    pub fn may_change_protected_labels(self) -> bool {
        matches!(self, PromptActor::ProjectAdmin)
    }
}

/// A version to create. The store assigns the number, adds `latest` and the timestamps.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPromptVersion {
    /// Chosen by the caller (a UUID).
    pub id: String,
    pub name: String,
    pub r#type: PromptType,
    pub prompt: Value,
    /// `Value::Null` is stored as `{}`.
    pub config: Value,
    pub labels: Vec<String>,
    /// `None`: the new version takes the tags the prompt has; `Some`: they become the tags
    /// of every version.
    pub tags: Option<Vec<String>>,
    pub commit_message: Option<String>,
    pub created_by: String,
}

/// Filters of the prompt list; they apply to versions before grouping by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PromptListQuery {
    /// Exact name.
    pub name: Option<String>,
    /// Versions carrying this label.
    pub label: Option<String>,
    /// Prompts with this tag.
    pub tag: Option<String>,
    pub version: Option<i64>,
    /// Inclusive, on the version's `updated_at`.
    pub from_updated_at: Option<Micros>,
    /// Exclusive.
    pub to_updated_at: Option<Micros>,
}

/// One prompt name in the list, summarising its matching versions.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptMeta {
    pub name: String,
    pub r#type: PromptType,
    /// Ascending.
    pub versions: Vec<i64>,
    /// Every label of the matching versions, sorted, without repeats.
    pub labels: Vec<String>,
    pub tags: Vec<String>,
    pub last_updated_at: Micros,
    /// Config of the highest matching version.
    pub last_config: Value,
}

/// Which versions a delete removes: all of them, or those matching both given filters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PromptDeletion {
    pub version: Option<i64>,
    pub label: Option<String>,
}

/// The time window of usage statistics, on the generations' start time.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PromptUsageQuery {
    /// Inclusive.
    pub from_start_time: Option<Micros>,
    /// Exclusive.
    pub to_start_time: Option<Micros>,
}

/// Prompts of a project.
#[async_trait]
pub trait PromptStore: Send + Sync + 'static {
    /// Creates the next version of `new.name` (1 for a new name): validates it, checks
    /// the type against earlier versions, its references (they must exist and be text,
    /// without cycles or nesting deeper than the limit) and protected labels; moves its
    /// labels and `latest` to it; propagates `tags` to all versions when given.
    async fn create_prompt_version(
        &self,
        project: &ProjectId,
        new: NewPromptVersion,
        actor: PromptActor,
    ) -> PromptResult<PromptVersion>;

    /// The stored version the selector chooses, references unresolved.
    async fn get_prompt_version(
        &self,
        project: &ProjectId,
        name: &str,
        selector: &PromptSelector,
    ) -> PromptResult<Option<PromptVersion>>;

    /// The version the selector chooses with every reference resolved (label references
    /// resolve to whichever version has the label now). A reference that cannot be
    /// resolved any more is [`PromptError::Invalid`].
    async fn resolve_prompt(
        &self,
        project: &ProjectId,
        name: &str,
        selector: &PromptSelector,
    ) -> PromptResult<Option<ResolvedPrompt>>;

    /// One page of prompt names, ordered by name.
    async fn list_prompts(
        &self,
        project: &ProjectId,
        query: &PromptListQuery,
        page: PageRequest,
    ) -> PromptResult<Page<PromptMeta>>;

    /// Adds `labels` to the version (keeping its other labels) and removes them from the
    /// other versions of the prompt. `latest` may not be moved. Returns the version.
    async fn add_prompt_labels(
        &self,
        project: &ProjectId,
        name: &str,
        version: i64,
        labels: Vec<String>,
        actor: PromptActor,
    ) -> PromptResult<PromptVersion>;

    /// Deletes the matching versions, unless another prompt depends on one of them (by
    /// version, or by a label that would disappear) or a protected label would go.
    /// `latest` moves to the highest remaining version. Returns how many were deleted;
    /// none matching is [`PromptError::NotFound`].
    async fn delete_prompt_versions(
        &self,
        project: &ProjectId,
        name: &str,
        deletion: &PromptDeletion,
        actor: PromptActor,
    ) -> PromptResult<u64>;

    /// The project's protected labels, sorted.
    async fn protected_prompt_labels(&self, project: &ProjectId) -> PromptResult<Vec<String>>;

    /// Replaces the project's protected labels (validated; `latest` cannot be protected).
    /// Returns them sorted.
    async fn set_protected_prompt_labels(
        &self,
        project: &ProjectId,
        labels: Vec<String>,
    ) -> PromptResult<Vec<String>>;

    /// Usage of every version of the prompt, highest version first. An unknown prompt is
    /// [`PromptError::NotFound`].
    async fn prompt_usage(
        &self,
        project: &ProjectId,
        name: &str,
        query: &PromptUsageQuery,
    ) -> PromptResult<Vec<PromptVersionUsage>>;
}
