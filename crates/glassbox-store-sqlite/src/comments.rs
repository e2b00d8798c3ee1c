//! Comments: insert, get and filtered pages.

use async_trait::async_trait;
use rusqlite::types::Value as SqlValue;
use rusqlite::{OptionalExtension, Row, params, params_from_iter};

use glassbox_model::ProjectId;
use glassbox_model::comments::{Comment, CommentObjectType};
use glassbox_store::{CommentQuery, CommentStore, Page, PageRequest, StoreError, StoreResult};

use crate::SqliteStore;
use crate::connection::internal;
use crate::sql::Where;

const COMMENT_COLUMNS: &str =
    "id, object_type, object_id, content, author_user_id, created_at, updated_at";

fn comment_from_row(row: &Row<'_>) -> rusqlite::Result<Comment> {
    let object_type: String = row.get(1)?;
    Ok(Comment {
        id: row.get(0)?,
        object_type: CommentObjectType::parse(&object_type).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                1,
                rusqlite::types::Type::Text,
                format!("unknown comment object type `{object_type}`").into(),
            )
        })?,
        object_id: row.get(2)?,
        content: row.get(3)?,
        author_user_id: row.get(4)?,
        created_at: row.get(5)?,
        updated_at: row.get(6)?,
    })
}

#[async_trait]
impl CommentStore for SqliteStore {
    async fn insert_comment(&self, project: &ProjectId, comment: Comment) -> StoreResult<()> {
        let project = project.clone();
        self.writer
            .write(move |connection| {
                let inserted = connection
                    .prepare_cached(
                        "INSERT INTO comments (project_id, id, object_type, object_id, content, author_user_id, \
                         created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                         ON CONFLICT (project_id, id) DO NOTHING",
                    )
                    .and_then(|mut statement| {
                        statement.execute(params![
                            project.as_str(),
                            comment.id,
                            comment.object_type.as_str(),
                            comment.object_id,
                            comment.content,
                            comment.author_user_id,
                            comment.created_at,
                            comment.updated_at
                        ])
                    })
                    .map_err(internal)?;
                if inserted == 0 {
                    return Err(StoreError::Conflict(format!(
                        "comment `{}` already exists",
                        comment.id
                    )));
                }
                Ok(())
            })
            .await
    }

    async fn get_comment(
        &self,
        project: &ProjectId,
        comment_id: &str,
    ) -> StoreResult<Option<Comment>> {
        let (project, id) = (project.clone(), comment_id.to_owned());
        self.readers
            .read(move |connection| {
                connection
                    .prepare_cached(&format!(
                        "SELECT {COMMENT_COLUMNS} FROM comments WHERE project_id = ?1 AND id = ?2"
                    ))
                    .and_then(|mut statement| {
                        statement
                            .query_row(params![project.as_str(), id], comment_from_row)
                            .optional()
                    })
                    .map_err(internal)
            })
            .await
    }

    async fn list_comments(
        &self,
        project: &ProjectId,
        query: &CommentQuery,
        page: PageRequest,
    ) -> StoreResult<Page<Comment>> {
        let mut clauses = Where::default();
        clauses.push(
            "project_id = ?",
            [SqlValue::from(project.as_str().to_owned())],
        );
        if let Some(object_type) = query.object_type {
            clauses.push(
                "object_type = ?",
                [SqlValue::from(object_type.as_str().to_owned())],
            );
        }
        clauses.eq_opt("object_id", &query.object_id);
        clauses.eq_opt("author_user_id", &query.author_user_id);
        self.readers
            .read(move |connection| {
                let total_items: i64 = connection
                    .query_row(
                        &format!("SELECT COUNT(*) FROM comments WHERE {}", clauses.sql()),
                        params_from_iter(clauses.params.iter()),
                        |row| row.get(0),
                    )
                    .map_err(internal)?;
                let sql = format!(
                    "SELECT {COMMENT_COLUMNS} FROM comments WHERE {} ORDER BY created_at DESC, id DESC \
                     LIMIT {} OFFSET {}",
                    clauses.sql(),
                    page.limit,
                    page.offset()
                );
                let items = connection
                    .prepare(&sql)
                    .and_then(|mut statement| {
                        statement
                            .query_map(params_from_iter(clauses.params.iter()), comment_from_row)?
                            .collect::<rusqlite::Result<Vec<_>>>()
                    })
                    .map_err(internal)?;
                Ok(Page {
                    items,
                    total_items: total_items.max(0) as u64,
                })
            })
            .await
    }
}
