//! Conformance tests of [`AccountStore`](crate::AccountStore), re-exported by
//! [`testsuite`](crate::testsuite) so that `conformance_suite!` runs them.

use glassbox_model::{Organization, Project, ProjectId, Role, User};

use crate::{StoreError, Stores, UiSession};

fn user(id: &str, email: &str) -> User {
    User {
        id: id.into(),
        email: email.into(),
        name: id.into(),
        password_hash: "$argon2id$test".into(),
        created_at: 1,
    }
}

fn organization(id: &str) -> Organization {
    Organization {
        id: id.into(),
        name: format!("{id} name"),
        created_at: 1,
    }
}

async fn add_project(stores: &Stores, org_id: &str, project_id: &str) {
    stores
        .admin
        .ensure_project(Project {
            id: ProjectId(project_id.into()),
            org_id: org_id.into(),
            name: project_id.into(),
            retention_days: None,
            metadata: Default::default(),
            created_at: 1,
        })
        .await
        .unwrap();
}

pub async fn accounts_first_user_owns_the_existing_organization(stores: &Stores) {
    stores
        .admin
        .ensure_organization(organization("org-default"))
        .await
        .unwrap();
    add_project(stores, "org-default", "project-default").await;
    let owned = stores
        .accounts
        .sign_up(user("u1", "First@Example.com"), organization("org-unused"))
        .await
        .unwrap();
    assert_eq!(owned.len(), 1);
    assert_eq!(owned[0].organization.id, "org-default");
    assert_eq!(owned[0].role, Role::Owner);
    let projects = stores.accounts.projects_of_user("u1").await.unwrap();
    assert_eq!(
        projects.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        ["project-default"]
    );
    let found = stores
        .accounts
        .find_user_by_email("first@example.COM")
        .await
        .unwrap();
    assert_eq!(found.map(|u| u.email), Some("first@example.com".to_owned()));

    // A later user gets their own organization and sees nothing of the first one.
    let owned = stores
        .accounts
        .sign_up(user("u2", "second@example.com"), organization("org-second"))
        .await
        .unwrap();
    assert_eq!(owned.len(), 1);
    assert_eq!(owned[0].organization.id, "org-second");
    assert!(
        stores
            .accounts
            .projects_of_user("u2")
            .await
            .unwrap()
            .is_empty()
    );
    let project = ProjectId("project-default".into());
    assert_eq!(
        stores.accounts.project_role(&project, "u1").await.unwrap(),
        Some(Role::Owner)
    );
    assert_eq!(
        stores.accounts.project_role(&project, "u2").await.unwrap(),
        None
    );
    let missing = ProjectId("no-such-project".into());
    assert_eq!(
        stores.accounts.project_role(&missing, "u1").await.unwrap(),
        None
    );
}

pub async fn accounts_first_user_on_an_empty_backend_gets_a_new_organization(stores: &Stores) {
    let owned = stores
        .accounts
        .sign_up(user("u1", "a@example.com"), organization("org-new"))
        .await
        .unwrap();
    assert_eq!(owned[0].organization.id, "org-new");
    let error = stores
        .accounts
        .sign_up(user("u2", "A@example.com"), organization("org-other"))
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Conflict(_)), "{error:?}");
    // The failed sign-up left nothing behind.
    assert!(stores.accounts.get_user("u2").await.unwrap().is_none());
    stores
        .accounts
        .create_organization(organization("org-two"), "u1")
        .await
        .unwrap();
    let orgs = stores.accounts.organizations_of_user("u1").await.unwrap();
    assert_eq!(orgs.len(), 2);
    assert!(matches!(
        stores
            .accounts
            .create_organization(organization("org-two"), "u1")
            .await,
        Err(StoreError::Conflict(_))
    ));
}

pub async fn accounts_sessions_expire_and_sign_out(stores: &Stores) {
    stores
        .accounts
        .sign_up(user("u1", "a@example.com"), organization("org"))
        .await
        .unwrap();
    let session = UiSession {
        token_hash: "hash-1".into(),
        user_id: "u1".into(),
        created_at: 100,
        expires_at: 1_000,
    };
    stores
        .accounts
        .create_ui_session(session.clone())
        .await
        .unwrap();
    let expired = UiSession {
        token_hash: "hash-2".into(),
        expires_at: 200,
        ..session.clone()
    };
    stores.accounts.create_ui_session(expired).await.unwrap();
    assert_eq!(
        stores
            .accounts
            .find_ui_session("hash-1", 500)
            .await
            .unwrap(),
        Some(session)
    );
    assert_eq!(
        stores
            .accounts
            .find_ui_session("hash-1", 1_000)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        stores
            .accounts
            .find_ui_session("hash-2", 500)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        stores
            .accounts
            .find_ui_session("unknown", 500)
            .await
            .unwrap(),
        None
    );
    stores
        .accounts
        .delete_ui_session("hash-1", 500)
        .await
        .unwrap();
    assert_eq!(
        stores
            .accounts
            .find_ui_session("hash-1", 500)
            .await
            .unwrap(),
        None
    );
}

pub async fn ui_trace_row_stats_sum_tokens_level_and_scores(stores: &Stores) {
    let a = crate::testsuite::project(stores, "project-a").await;
    let b = crate::testsuite::project(stores, "project-b").await;
    let batch = serde_json::json!([
        {"id": "e1", "type": "trace-create", "timestamp": "2025-01-01T00:00:00Z",
         "body": {"id": "t1", "name": "chat"}},
        {"id": "e2", "type": "generation-create", "timestamp": "2025-01-01T00:00:00Z",
         "body": {"id": "g1", "traceId": "t1", "startTime": "2025-01-01T00:00:00Z",
                  "usageDetails": {"input": 10, "output": 5, "total": 15}}},
        {"id": "e3", "type": "span-create", "timestamp": "2025-01-01T00:00:00Z",
         "body": {"id": "s1", "traceId": "t1", "level": "WARNING", "startTime": "2025-01-01T00:00:01Z"}},
        {"id": "e4", "type": "score-create", "timestamp": "2025-01-01T00:00:00Z",
         "body": {"id": "sc1", "traceId": "t1", "name": "quality", "value": 0.5}},
        {"id": "e5", "type": "trace-create", "timestamp": "2025-01-01T00:00:00Z",
         "body": {"id": "t2"}},
    ]);
    crate::testsuite::ingest_ok(stores, &a, batch.clone()).await;
    let ids = vec!["t1".to_owned(), "t2".to_owned(), "unknown".to_owned()];
    let stats = stores.ui_views.trace_row_stats(&a, &ids).await.unwrap();
    let t1 = &stats["t1"];
    assert_eq!(
        (t1.input_tokens, t1.output_tokens, t1.total_tokens),
        (10.0, 5.0, 15.0)
    );
    assert_eq!(t1.level.as_deref(), Some("WARNING"));
    assert_eq!(t1.observation_count, 2);
    assert_eq!(t1.scores, vec![("quality".to_owned(), 0.5)]);
    assert!(!stats.contains_key("t2") && !stats.contains_key("unknown"));
    assert!(
        stores
            .ui_views
            .trace_row_stats(&b, &ids)
            .await
            .unwrap()
            .is_empty()
    );
}
