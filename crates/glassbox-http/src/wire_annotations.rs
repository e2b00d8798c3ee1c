//! Wire shapes of the evaluation-by-people resources: score configs, comments,
//! annotation queues and their items (Langfuse's OpenAPI schemas `ScoreConfig`,
//! `Comment`, `AnnotationQueue`, `AnnotationQueueItem`).

use serde_json::{Value, json};

use glassbox_model::annotations::{AnnotationQueue, AnnotationQueueItem};
use glassbox_model::comments::Comment;
use glassbox_model::time::format_iso;
use glassbox_model::{Micros, ProjectId, ScoreConfig};

fn iso(micros: Micros) -> Value {
    json!(format_iso(micros))
}

fn opt_iso(micros: Option<Micros>) -> Value {
    micros.map(iso).unwrap_or(Value::Null)
}

/// `ScoreConfig`.
pub fn score_config(project: &ProjectId, config: &ScoreConfig) -> Value {
    let categories = config.categories.as_ref().map(|categories| {
        categories
            .iter()
            .map(|category| json!({"label": category.label, "value": category.value}))
            .collect::<Vec<_>>()
    });
    json!({
        "id": config.id,
        "name": config.name,
        "createdAt": iso(config.created_at),
        "updatedAt": iso(config.updated_at),
        "projectId": project.as_str(),
        "dataType": config.data_type.as_str(),
        "isArchived": config.is_archived,
        "minValue": config.min_value,
        "maxValue": config.max_value,
        "categories": categories,
        "description": config.description,
    })
}

/// `Comment`.
pub fn comment(project: &ProjectId, comment: &Comment) -> Value {
    json!({
        "id": comment.id,
        "projectId": project.as_str(),
        "createdAt": iso(comment.created_at),
        "updatedAt": iso(comment.updated_at),
        "objectType": comment.object_type.as_str(),
        "objectId": comment.object_id,
        "content": comment.content,
        "authorUserId": comment.author_user_id,
    })
}

/// `AnnotationQueue`.
pub fn annotation_queue(queue: &AnnotationQueue) -> Value {
    json!({
        "id": queue.id,
        "name": queue.name,
        "description": queue.description,
        "scoreConfigIds": queue.score_config_ids,
        "createdAt": iso(queue.created_at),
        "updatedAt": iso(queue.updated_at),
    })
}

/// `AnnotationQueueItem`, plus glassbox's lock fields: who has the item open
/// (`lockedByUserId`, `lockedAt`, `lockExpiresAt`; `null` without an active lock at
/// `now`) and who completed it (`annotatorUserId`).
pub fn annotation_queue_item(item: &AnnotationQueueItem, now: Micros) -> Value {
    let lock = item.active_lock(now);
    json!({
        "id": item.id,
        "queueId": item.queue_id,
        "objectId": item.object_id,
        "objectType": item.object_type.as_str(),
        "status": item.status.as_str(),
        "completedAt": opt_iso(item.completed_at),
        "createdAt": iso(item.created_at),
        "updatedAt": iso(item.updated_at),
        "lockedByUserId": lock.map(|lock| lock.user_id.as_str()),
        "lockedAt": opt_iso(lock.map(|lock| lock.locked_at)),
        "lockExpiresAt": opt_iso(lock.map(|lock| lock.expires_at)),
        "annotatorUserId": item.annotator_user_id,
    })
}
