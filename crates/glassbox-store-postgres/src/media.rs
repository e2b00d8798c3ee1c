//! PostgreSQL implementation of MediaStore.

use async_trait::async_trait;

use glassbox_model::{Micros, ProjectId};
use glassbox_store::StoreResult;
use glassbox_store::*;

use crate::PgStore;

#[async_trait]
impl MediaStore for PgStore {
    async fn create_or_get_media(
        &self,
        _project: &ProjectId,
        _media: NewMedia,
    ) -> StoreResult<MediaRecord> {
        Err(crate::pending().into())
    }
    async fn get_media(
        &self,
        _project: &ProjectId,
        _media_id: &str,
    ) -> StoreResult<Option<MediaRecord>> {
        Err(crate::pending().into())
    }
    async fn record_media_upload(
        &self,
        _project: &ProjectId,
        _media_id: &str,
        _report: MediaUploadReport,
    ) -> StoreResult<bool> {
        Err(crate::pending().into())
    }
    async fn store_media_blob(
        &self,
        _project: &ProjectId,
        _media_id: &str,
        _source: &mut dyn MediaSource,
    ) -> StoreResult<MediaUploadOutcome> {
        Err(crate::pending().into())
    }
    async fn open_media_blob(
        &self,
        _project: &ProjectId,
        _media_id: &str,
    ) -> StoreResult<Option<Box<dyn MediaBlobReader>>> {
        Err(crate::pending().into())
    }
}
