//! Comments in `comments` (0004_annotations.sql): insert, get and filtered pages.
//! Whether the commented object exists is the caller's check (through the trace,
//! observation and session stores).

use async_trait::async_trait;
use sqlx::postgres::{PgRow, Postgres};
use sqlx::{QueryBuilder, Row};

use glassbox_model::ProjectId;
use glassbox_model::comments::{Comment, CommentObjectType};
use glassbox_store::{CommentQuery, CommentStore, Page, PageRequest, StoreError, StoreResult};

use crate::{PgStore, internal};

/// The columns [`comment_from_row`] reads, as a literal for `concat!`.
macro_rules! comment_columns {
    () => {
        "id, object_type, object_id, content, author_user_id, created_at, updated_at"
    };
}

fn comment_from_row(row: &PgRow) -> StoreResult<Comment> {
    let object_type: String = row.try_get("object_type").map_err(internal)?;
    Ok(Comment {
        id: row.try_get("id").map_err(internal)?,
        object_type: CommentObjectType::parse(&object_type).ok_or_else(|| {
            StoreError::Internal(format!("unknown comment object type `{object_type}`"))
        })?,
        object_id: row.try_get("object_id").map_err(internal)?,
        content: row.try_get("content").map_err(internal)?,
        author_user_id: row.try_get("author_user_id").map_err(internal)?,
        created_at: row.try_get("created_at").map_err(internal)?,
        updated_at: row.try_get("updated_at").map_err(internal)?,
    })
}

/// Appends ` WHERE ...` for the project and the query's filters.
fn push_where(builder: &mut QueryBuilder<Postgres>, project: &ProjectId, query: &CommentQuery) {
    builder.push(" WHERE project_id = ");
    builder.push_bind(project.as_str().to_owned());
    if let Some(object_type) = query.object_type {
        builder.push(" AND object_type = ");
        builder.push_bind(object_type.as_str());
    }
    if let Some(object_id) = &query.object_id {
        builder.push(" AND object_id = ");
        builder.push_bind(object_id.clone());
    }
    if let Some(author) = &query.author_user_id {
        builder.push(" AND author_user_id = ");
        builder.push_bind(author.clone());
    }
}

#[async_trait]
impl CommentStore for PgStore {
    async fn insert_comment(&self, project: &ProjectId, comment: Comment) -> StoreResult<()> {
        let inserted = sqlx::query(
            "INSERT INTO comments (project_id, id, object_type, object_id, content, author_user_id, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (project_id, id) DO NOTHING",
        )
        .bind(project.as_str())
        .bind(&comment.id)
        .bind(comment.object_type.as_str())
        .bind(&comment.object_id)
        .bind(&comment.content)
        .bind(&comment.author_user_id)
        .bind(comment.created_at)
        .bind(comment.updated_at)
        .execute(&self.pool)
        .await
        .map_err(internal)?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "comment `{}` already exists",
                comment.id
            )));
        }
        Ok(())
    }

    async fn get_comment(
        &self,
        project: &ProjectId,
        comment_id: &str,
    ) -> StoreResult<Option<Comment>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            comment_columns!(),
            " FROM comments WHERE project_id = $1 AND id = $2"
        ))
        .bind(project.as_str())
        .bind(comment_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(internal)?;
        row.as_ref().map(comment_from_row).transpose()
    }

    async fn list_comments(
        &self,
        project: &ProjectId,
        query: &CommentQuery,
        page: PageRequest,
    ) -> StoreResult<Page<Comment>> {
        let mut count = QueryBuilder::<Postgres>::new("SELECT COUNT(*) FROM comments");
        push_where(&mut count, project, query);
        let total: i64 = count
            .build_query_scalar()
            .fetch_one(&self.pool)
            .await
            .map_err(internal)?;

        let mut select =
            QueryBuilder::<Postgres>::new(concat!("SELECT ", comment_columns!(), " FROM comments"));
        push_where(&mut select, project, query);
        select.push(" ORDER BY created_at DESC, id COLLATE \"C\" DESC LIMIT ");
        select.push_bind(i64::from(page.limit));
        select.push(" OFFSET ");
        select.push_bind(i64::try_from(page.offset()).unwrap_or(i64::MAX));
        let rows = select
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(internal)?;
        Ok(Page {
            items: rows
                .iter()
                .map(comment_from_row)
                .collect::<StoreResult<_>>()?,
            total_items: u64::try_from(total).unwrap_or(0),
        })
    }
}
