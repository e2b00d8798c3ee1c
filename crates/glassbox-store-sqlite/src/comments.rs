//! Comments: insert, get and filtered pages.

use async_trait::async_trait;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Row, params};

use glassbox_model::ProjectId;
use glassbox_model::comments::{Comment, CommentObjectType};
use glassbox_store::{CommentQuery, CommentStore, Page, PageRequest, StoreError, StoreResult};

use crate::SqliteStore;
use crate::connection::internal;
use crate::sql::{PagedSelect, Where, query_optional, select_page};

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
                query_optional(
                    connection,
                    &format!(
                        "SELECT {COMMENT_COLUMNS} FROM comments WHERE project_id = ?1 AND id = ?2"
                    ),
                    params![project.as_str(), id],
                    comment_from_row,
                )
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
                let select = PagedSelect {
                    columns: COMMENT_COLUMNS,
                    from: "comments",
                    count_from: "comments",
                    order: "created_at DESC, id DESC",
                };
                select_page(connection, select, &clauses, page, comment_from_row)
            })
            .await
    }
}
