//! Accounts shared by several processes: two stores (two connection pools, as two
//! glassbox processes) on one schema race the same sign-ups and organizations.

use std::sync::Arc;

use glassbox_model::{Organization, User};
use glassbox_store::{AccountStore, StoreError};

use crate::tests::test_database_url;
use crate::{PgConfig, PgStore};

async fn two_processes() -> (Arc<PgStore>, Arc<PgStore>) {
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut stores = Vec::new();
    for _ in 0..2 {
        let mut config = PgConfig::new(test_database_url());
        config.schema = Some(schema.clone());
        config.pool_size = 4;
        stores.push(PgStore::connect(config).await.expect("connect"));
    }
    let second = stores.pop().expect("two stores");
    let first = stores.pop().expect("two stores");
    (first, second)
}

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
        name: id.into(),
        created_at: 1,
    }
}

async fn count(store: &PgStore, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(store.pool())
        .await
        .expect("count")
}

#[tokio::test]
async fn racing_sign_ups_of_one_email_make_one_user() {
    let (a, b) = two_processes().await;
    for round in 0..5 {
        let email = format!("Racer{round}@Example.com");
        let (first, second) = tokio::join!(
            a.sign_up(
                user(&format!("a{round}"), &email),
                organization(&format!("org-a{round}"))
            ),
            b.sign_up(
                user(&format!("b{round}"), &email.to_uppercase()),
                organization(&format!("org-b{round}"))
            ),
        );
        let outcomes = [first.is_ok(), second.is_ok()];
        assert_eq!(
            outcomes.iter().filter(|ok| **ok).count(),
            1,
            "{first:?} {second:?}"
        );
        let failure = if first.is_ok() { second } else { first };
        assert!(
            matches!(failure, Err(StoreError::Conflict(_))),
            "{failure:?}"
        );
    }
    assert_eq!(count(&a, "SELECT COUNT(*) FROM users").await, 5);
    // The loser's organization was rolled back with its user.
    assert_eq!(count(&a, "SELECT COUNT(*) FROM organizations").await, 5);
    assert_eq!(
        count(&a, "SELECT COUNT(*) FROM organization_memberships").await,
        5
    );
}

#[tokio::test]
async fn racing_first_sign_ups_adopt_the_unowned_organization_once() {
    let (a, b) = two_processes().await;
    sqlx::query(
        "INSERT INTO organizations (id, name, created_at) VALUES ('org-default', 'Default', 1)",
    )
    .execute(a.pool())
    .await
    .expect("seed organization");
    let (first, second) = tokio::join!(
        a.sign_up(user("u1", "one@example.com"), organization("org-one")),
        b.sign_up(user("u2", "two@example.com"), organization("org-two")),
    );
    let (first, second) = (first.expect("first"), second.expect("second"));
    let mut owned: Vec<String> = first
        .iter()
        .chain(&second)
        .map(|membership| membership.organization.id.clone())
        .collect();
    owned.sort();
    // One of them adopted the default organization, the other got their own.
    assert!(
        owned == ["org-default", "org-one"] || owned == ["org-default", "org-two"],
        "{owned:?}"
    );
    assert_eq!(
        count(
            &a,
            "SELECT COUNT(*) FROM organization_memberships WHERE org_id = 'org-default'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn racing_creations_of_one_organization_make_one() {
    let (a, b) = two_processes().await;
    a.sign_up(user("u1", "one@example.com"), organization("org-one"))
        .await
        .expect("sign up");
    b.sign_up(user("u2", "two@example.com"), organization("org-two"))
        .await
        .expect("sign up");
    let (first, second) = tokio::join!(
        a.create_organization(organization("org-shared"), "u1"),
        b.create_organization(organization("org-shared"), "u2"),
    );
    assert_eq!(
        [first.is_ok(), second.is_ok()]
            .iter()
            .filter(|ok| **ok)
            .count(),
        1
    );
    let failure = if first.is_ok() { second } else { first };
    assert!(
        matches!(failure, Err(StoreError::Conflict(_))),
        "{failure:?}"
    );
    assert_eq!(
        count(
            &a,
            "SELECT COUNT(*) FROM organization_memberships WHERE org_id = 'org-shared'"
        )
        .await,
        1
    );
}
