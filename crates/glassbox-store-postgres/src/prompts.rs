//! PostgreSQL implementation of PromptStore.

use async_trait::async_trait;

use glassbox_model::prompts::{
    PromptSelector, PromptType, PromptVersion, PromptVersionUsage, ResolvedPrompt,
};
use glassbox_model::{Micros, ProjectId};
use glassbox_store::*;
use glassbox_store::{Page, PageRequest, StoreError};
use serde_json::Value;

use crate::PgStore;

#[async_trait]
impl PromptStore for PgStore {
    async fn create_prompt_version(
        &self,
        _project: &ProjectId,
        _new: NewPromptVersion,
        _actor: PromptActor,
    ) -> PromptResult<PromptVersion> {
        Err(crate::pending().into())
    }
    async fn get_prompt_version(
        &self,
        _project: &ProjectId,
        _name: &str,
        _selector: &PromptSelector,
    ) -> PromptResult<Option<PromptVersion>> {
        Err(crate::pending().into())
    }
    async fn resolve_prompt(
        &self,
        _project: &ProjectId,
        _name: &str,
        _selector: &PromptSelector,
    ) -> PromptResult<Option<ResolvedPrompt>> {
        Err(crate::pending().into())
    }
    async fn list_prompts(
        &self,
        _project: &ProjectId,
        _query: &PromptListQuery,
        _page: PageRequest,
    ) -> PromptResult<Page<PromptMeta>> {
        Err(crate::pending().into())
    }
    async fn add_prompt_labels(
        &self,
        _project: &ProjectId,
        _name: &str,
        _version: i64,
        _labels: Vec<String>,
        _actor: PromptActor,
    ) -> PromptResult<PromptVersion> {
        Err(crate::pending().into())
    }
    async fn delete_prompt_versions(
        &self,
        _project: &ProjectId,
        _name: &str,
        _deletion: &PromptDeletion,
        _actor: PromptActor,
    ) -> PromptResult<u64> {
        Err(crate::pending().into())
    }
    async fn protected_prompt_labels(&self, _project: &ProjectId) -> PromptResult<Vec<String>> {
        Err(crate::pending().into())
    }
    async fn set_protected_prompt_labels(
        &self,
        _project: &ProjectId,
        _labels: Vec<String>,
    ) -> PromptResult<Vec<String>> {
        Err(crate::pending().into())
    }
    async fn prompt_usage(
        &self,
        _project: &ProjectId,
        _name: &str,
        _query: &PromptUsageQuery,
    ) -> PromptResult<Vec<PromptVersionUsage>> {
        Err(crate::pending().into())
    }
}
