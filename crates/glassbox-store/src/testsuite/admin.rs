//! Conformance tests: AdminStore: projects, API keys, users, roles and memberships.

use super::*;

pub async fn admin_is_empty_and_ensure_are_idempotent(stores: &Stores) {
    let admin = &stores.admin;
    assert!(admin.is_empty().await.unwrap(), "a fresh backend is empty");
    let organization = Organization {
        id: "org-1".into(),
        name: "Acme".into(),
        created_at: micros("2025-01-01T00:00:00Z"),
    };
    admin
        .ensure_organization(organization.clone())
        .await
        .unwrap();
    assert!(!admin.is_empty().await.unwrap());
    // A second ensure with the same id leaves the first as is.
    admin
        .ensure_organization(Organization {
            name: "Renamed".into(),
            ..organization.clone()
        })
        .await
        .unwrap();
    let project = Project {
        id: ProjectId("p-1".into()),
        org_id: "org-1".into(),
        name: "First".into(),
        retention_days: Some(30),
        metadata: object(json!({"team": "ml"})),
        created_at: micros("2025-01-02T00:00:00Z"),
    };
    admin.ensure_project(project.clone()).await.unwrap();
    admin
        .ensure_project(Project {
            name: "Second".into(),
            retention_days: None,
            ..project.clone()
        })
        .await
        .unwrap();
    let (stored_project, stored_org) = admin
        .get_project(&project.id)
        .await
        .unwrap()
        .expect("project exists");
    assert_eq!(stored_project, project);
    assert_eq!(stored_org, organization);
    assert!(
        admin
            .get_project(&ProjectId("p-unknown".into()))
            .await
            .unwrap()
            .is_none()
    );
}

fn api_key(id: &str, project: &ProjectId, public: &str, hash: &str, created: &str) -> ApiKey {
    ApiKey {
        id: id.into(),
        project_id: project.clone(),
        public_key: public.into(),
        hashed_secret_key: hash.into(),
        display_secret_key: "sk-lf-...abcd".into(),
        note: Some(format!("key {id}")),
        created_at: micros(created),
        last_used_at: None,
    }
}

pub async fn admin_api_keys_conflict_find_list_delete(stores: &Stores) {
    let (a, b) = projects_a_b(stores).await;
    let admin = &stores.admin;
    let second = api_key("key-2", &a, "pk-lf-2", "hash-2", "2025-01-02T00:00:00Z");
    let first = api_key("key-1", &a, "pk-lf-1", "hash-1", "2025-01-01T00:00:00Z");
    let other = api_key("key-3", &b, "pk-lf-3", "hash-3", "2025-01-01T00:00:00Z");
    admin.insert_api_key(second.clone()).await.unwrap();
    admin.insert_api_key(first.clone()).await.unwrap();
    admin.insert_api_key(other.clone()).await.unwrap();

    let duplicate = api_key("key-4", &a, "pk-lf-1", "hash-4", "2025-01-03T00:00:00Z");
    match admin.insert_api_key(duplicate).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("a duplicate public key must be a conflict, got {other:?}"),
    }
    assert!(
        admin
            .find_api_key_by_public_key("pk-lf-1")
            .await
            .unwrap()
            .is_some_and(|key| key.id == "key-1"),
        "the conflicting insert must not replace the stored key"
    );
    assert!(
        admin
            .find_api_key_by_secret_hash("hash-4")
            .await
            .unwrap()
            .is_none()
    );

    assert_eq!(
        admin.find_api_key_by_public_key("pk-lf-2").await.unwrap(),
        Some(second.clone())
    );
    assert_eq!(
        admin.find_api_key_by_secret_hash("hash-1").await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        admin.find_api_key_by_secret_hash("nope").await.unwrap(),
        None
    );
    assert_eq!(
        admin.find_api_key_by_public_key("nope").await.unwrap(),
        None
    );
    assert_eq!(
        admin.list_api_keys(&a).await.unwrap(),
        vec![first.clone(), second.clone()],
        "keys of a project, oldest first"
    );
    assert_eq!(admin.list_api_keys(&b).await.unwrap(), vec![other.clone()]);

    // Delete by id, then by public key.
    assert!(admin.delete_api_key("key-1").await.unwrap());
    assert!(!admin.delete_api_key("key-1").await.unwrap());
    assert!(admin.delete_api_key("pk-lf-2").await.unwrap());
    assert!(!admin.delete_api_key("pk-lf-2").await.unwrap());
    assert!(admin.list_api_keys(&a).await.unwrap().is_empty());
    assert_eq!(
        admin.find_api_key_by_secret_hash("hash-1").await.unwrap(),
        None
    );
    assert_eq!(admin.list_api_keys(&b).await.unwrap(), vec![other]);
    // A deleted public key can be used again.
    admin
        .insert_api_key(api_key(
            "key-5",
            &a,
            "pk-lf-1",
            "hash-5",
            "2025-01-05T00:00:00Z",
        ))
        .await
        .unwrap();
    assert_eq!(
        admin
            .find_api_key_by_public_key("pk-lf-1")
            .await
            .unwrap()
            .map(|key| key.id),
        Some("key-5".to_owned())
    );
}

pub async fn admin_users_and_roles(stores: &Stores) {
    let _ = project(stores, "project-a").await;
    let admin = &stores.admin;
    let user = User {
        id: "user-1".into(),
        email: "Ada@Example.com".into(),
        name: "Ada".into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        created_at: micros("2025-01-01T00:00:00Z"),
    };
    let stored = admin.ensure_user(user.clone()).await.unwrap();
    assert_eq!(stored.id, "user-1");
    assert_eq!(stored.email, "ada@example.com", "emails are lowercased");
    assert_eq!(stored.name, "Ada");
    // The same email (in any case) returns the existing user unchanged.
    let again = admin
        .ensure_user(User {
            id: "user-2".into(),
            email: "ADA@example.COM".into(),
            name: "Someone else".into(),
            ..user.clone()
        })
        .await
        .unwrap();
    assert_eq!(again, stored);
    admin
        .set_organization_role(ORG, "user-1", Role::Member)
        .await
        .unwrap();
    admin
        .set_organization_role(ORG, "user-1", Role::Owner)
        .await
        .expect("setting a role again updates it");
}

pub async fn admin_project_membership(stores: &Stores) {
    let a = project(stores, "project-a").await;
    stores
        .admin
        .ensure_organization(Organization {
            id: "org-other".into(),
            name: "Other".into(),
            created_at: micros("2025-01-01T00:00:00Z"),
        })
        .await
        .unwrap();
    let other = ProjectId("project-other-org".into());
    stores
        .admin
        .ensure_project(Project {
            id: other.clone(),
            org_id: "org-other".into(),
            name: "Other".into(),
            retention_days: None,
            metadata: Default::default(),
            created_at: micros("2025-01-01T00:00:00Z"),
        })
        .await
        .unwrap();
    stores
        .admin
        .ensure_user(User {
            id: "member-1".into(),
            email: "member@example.com".into(),
            name: "Member".into(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            created_at: micros("2025-01-01T00:00:00Z"),
        })
        .await
        .unwrap();
    assert!(
        !stores
            .admin
            .is_project_member(&a, "member-1")
            .await
            .unwrap()
    );
    stores
        .admin
        .set_organization_role(ORG, "member-1", Role::Viewer)
        .await
        .unwrap();
    assert!(
        stores
            .admin
            .is_project_member(&a, "member-1")
            .await
            .unwrap()
    );
    assert!(
        !stores
            .admin
            .is_project_member(&other, "member-1")
            .await
            .unwrap(),
        "membership of one organization says nothing about another's projects"
    );
    assert!(!stores.admin.is_project_member(&a, "nobody").await.unwrap());
}
