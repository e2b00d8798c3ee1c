//! The conformance suite of [`PromptStore`](crate::PromptStore): versions, labels,
//! composition, deletes, protected labels, the fetch cache and the prompt link of
//! generations. Like [`testsuite`](crate::testsuite), every test takes a fresh, empty
//! [`Stores`] (whose `prompts` is the cached store, so the cache is under test too); a
//! backend runs them all with
//! [`prompt_conformance_suite!`](crate::prompt_conformance_suite).

use serde_json::{Value, json};

use glassbox_model::ProjectId;
use glassbox_model::prompts::{
    CREATED_BY_API, PromptSelector, PromptType, PromptVersion, ResolvedPrompt,
};

use crate::testsuite::{ingest_ok, project};
use crate::*;

/// Generates one `#[tokio::test]` per prompt conformance test; same contract as
/// [`conformance_suite!`](crate::conformance_suite).
#[macro_export]
macro_rules! prompt_conformance_suite {
    (@tests ($factory:expr); $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let fixture = $factory.await;
                $crate::testsuite_prompts::$name(&fixture.0).await;
                drop(fixture);
            }
        )*
    };
    ($factory:expr) => {
        $crate::prompt_conformance_suite!(@tests ($factory);
            prompt_versions_are_numbered_and_fetched_by_label_or_version,
            prompt_labels_move_and_latest_is_managed,
            prompt_tags_config_and_type_rules,
            prompt_input_is_validated,
            composed_prompts_resolve_and_refuse_cycles,
            prompt_deletes_by_version_label_or_all,
            protected_labels_hold_back_api_keys,
            prompt_list_filters_groups_and_pages,
            prompt_cache_sees_every_write,
            generations_link_to_prompt_versions_and_add_up,
            prompts_are_scoped_by_project,
        );
    };
}

// Helpers

fn new_text(name: &str, text: &str, labels: &[&str]) -> NewPromptVersion {
    NewPromptVersion {
        id: format!("{name}#{}", uuid_like(text, labels)),
        name: name.to_owned(),
        r#type: PromptType::Text,
        prompt: json!(text),
        config: Value::Null,
        labels: labels.iter().map(|label| (*label).to_owned()).collect(),
        tags: None,
        commit_message: None,
        created_by: CREATED_BY_API.to_owned(),
    }
}

/// A deterministic id that differs between versions of a test.
fn uuid_like(text: &str, labels: &[&str]) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "{}-{}-{}",
        NEXT.fetch_add(1, Ordering::Relaxed),
        text.len(),
        labels.len()
    )
}

async fn create(stores: &Stores, project: &ProjectId, new: NewPromptVersion) -> PromptVersion {
    stores
        .prompts
        .create_prompt_version(project, new, PromptActor::ApiKey)
        .await
        .unwrap_or_else(|error| panic!("create_prompt_version: {error}"))
}

async fn create_err(stores: &Stores, project: &ProjectId, new: NewPromptVersion) -> PromptError {
    match stores
        .prompts
        .create_prompt_version(project, new, PromptActor::ApiKey)
        .await
    {
        Ok(created) => panic!("expected a refusal, created version {}", created.version),
        Err(error) => error,
    }
}

fn label(text: &str) -> PromptSelector {
    PromptSelector::Label(text.to_owned())
}

fn version(number: i64) -> PromptSelector {
    PromptSelector::Version(number)
}

async fn fetch(
    stores: &Stores,
    project: &ProjectId,
    name: &str,
    selector: PromptSelector,
) -> Option<ResolvedPrompt> {
    stores
        .prompts
        .resolve_prompt(project, name, &selector)
        .await
        .unwrap_or_else(|error| panic!("resolve_prompt {name} {selector:?}: {error}"))
}

/// The version number and labels the selector finds, resolved through the cache.
async fn found(
    stores: &Stores,
    project: &ProjectId,
    name: &str,
    selector: PromptSelector,
) -> Option<(i64, Vec<String>)> {
    fetch(stores, project, name, selector)
        .await
        .map(|resolved| (resolved.version.version, resolved.version.labels))
}

async fn raw(stores: &Stores, project: &ProjectId, name: &str, number: i64) -> PromptVersion {
    stores
        .prompts
        .get_prompt_version(project, name, &version(number))
        .await
        .expect("get_prompt_version")
        .unwrap_or_else(|| panic!("{name} v{number} must exist"))
}

fn labels(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

async fn add_labels(
    stores: &Stores,
    project: &ProjectId,
    name: &str,
    number: i64,
    new: &[&str],
    actor: PromptActor,
) -> PromptResult<PromptVersion> {
    stores
        .prompts
        .add_prompt_labels(project, name, number, labels(new), actor)
        .await
}

async fn delete(
    stores: &Stores,
    project: &ProjectId,
    name: &str,
    number: Option<i64>,
    label: Option<&str>,
) -> PromptResult<u64> {
    stores
        .prompts
        .delete_prompt_versions(
            project,
            name,
            &PromptDeletion {
                version: number,
                label: label.map(str::to_owned),
            },
            PromptActor::ApiKey,
        )
        .await
}

#[track_caller]
fn assert_invalid(error: PromptError, needle: &str) {
    match error {
        PromptError::Invalid(message) => assert!(
            message.contains(needle),
            "expected `{needle}` in the message: {message}"
        ),
        other => panic!("expected Invalid containing `{needle}`, got {other:?}"),
    }
}

fn reference(name: &str, selector: &str) -> String {
    format!("@@@langfusePrompt:name={name}|{selector}@@@")
}

// Versions and fetches

pub async fn prompt_versions_are_numbered_and_fetched_by_label_or_version(stores: &Stores) {
    let project = project(stores, "project-a").await;
    let first = create(
        stores,
        &project,
        new_text("qa", "v1 {{q}}", &["production"]),
    )
    .await;
    assert_eq!(first.version, 1);
    assert_eq!(first.labels, labels(&["production", "latest"]));
    assert_eq!(first.config, json!({}), "no config is stored as {{}}");
    assert_eq!(first.created_by, "API");
    assert_eq!(first.created_at, first.updated_at);
    let second = create(stores, &project, new_text("qa", "v2", &["staging"])).await;
    assert_eq!(second.version, 2);
    assert_eq!(second.labels, labels(&["staging", "latest"]));
    let third = create(stores, &project, new_text("qa", "v3", &[])).await;
    assert_eq!(third.version, 3);
    assert_eq!(third.labels, labels(&["latest"]));

    // `latest` left v1 and v2 when newer versions came.
    assert_eq!(
        raw(stores, &project, "qa", 1).await.labels,
        labels(&["production"])
    );
    assert_eq!(
        raw(stores, &project, "qa", 2).await.labels,
        labels(&["staging"])
    );
    assert_eq!(
        found(stores, &project, "qa", label("production")).await,
        Some((1, labels(&["production"])))
    );
    assert_eq!(
        found(stores, &project, "qa", label("staging"))
            .await
            .map(|f| f.0),
        Some(2)
    );
    assert_eq!(
        found(stores, &project, "qa", label("latest"))
            .await
            .map(|f| f.0),
        Some(3)
    );
    assert_eq!(
        found(stores, &project, "qa", version(2)).await.map(|f| f.0),
        Some(2)
    );
    let fetched = fetch(stores, &project, "qa", version(1)).await.unwrap();
    assert_eq!(fetched.version.prompt, json!("v1 {{q}}"));
    assert_eq!(fetched.version.id, first.id);
    assert_eq!(fetched.graph, None);
    assert_eq!(found(stores, &project, "qa", version(4)).await, None);
    assert_eq!(found(stores, &project, "qa", label("nope")).await, None);
    assert_eq!(
        found(stores, &project, "other", label("production")).await,
        None
    );

    // A name with folders is just a name.
    let mut chat = new_text("folder/sub/chat", "", &["production"]);
    chat.r#type = PromptType::Chat;
    chat.prompt = json!([
        {"role": "system", "content": "You are {{persona}}"},
        {"type": "placeholder", "name": "history"},
        {"role": "user", "content": "{{q}}", "type": "chatmessage"}
    ]);
    chat.config = json!({"model": "gpt-4o", "response_format": {"type": "json_object"}});
    chat.commit_message = Some("first chat".into());
    chat.tags = Some(labels(&["b", "a", "b"]));
    let created = create(stores, &project, chat.clone()).await;
    let fetched = fetch(stores, &project, "folder/sub/chat", label("production"))
        .await
        .unwrap()
        .version;
    assert_eq!(fetched, created);
    assert_eq!(fetched.r#type, PromptType::Chat);
    assert_eq!(
        fetched.prompt, chat.prompt,
        "chat messages are kept verbatim"
    );
    assert_eq!(fetched.config, chat.config);
    assert_eq!(fetched.commit_message.as_deref(), Some("first chat"));
    assert_eq!(
        fetched.tags,
        labels(&["b", "a"]),
        "tags without repeats, in order"
    );
}

pub async fn prompt_labels_move_and_latest_is_managed(stores: &Stores) {
    let project = project(stores, "project-a").await;
    create(
        stores,
        &project,
        new_text("p", "one", &["production", "staging", "dev"]),
    )
    .await;
    // Repeated labels count once; they move from v1 to v2.
    create(
        stores,
        &project,
        new_text("p", "two", &["production", "production", "staging"]),
    )
    .await;
    create(stores, &project, new_text("p", "three", &["staging"])).await;
    assert_eq!(raw(stores, &project, "p", 1).await.labels, labels(&["dev"]));
    assert_eq!(
        raw(stores, &project, "p", 2).await.labels,
        labels(&["production"])
    );
    assert_eq!(
        raw(stores, &project, "p", 3).await.labels,
        labels(&["staging", "latest"])
    );

    // Moving labels with the label update: added after the version's own labels,
    // removed from the version that had them.
    let before = raw(stores, &project, "p", 1).await;
    let moved = add_labels(
        stores,
        &project,
        "p",
        3,
        &["production", "dev"],
        PromptActor::ApiKey,
    )
    .await
    .expect("move labels");
    assert_eq!(
        moved.labels,
        labels(&["staging", "latest", "production", "dev"])
    );
    assert_eq!(
        raw(stores, &project, "p", 2).await.labels,
        Vec::<String>::new()
    );
    let after = raw(stores, &project, "p", 1).await;
    assert_eq!(after.labels, Vec::<String>::new());
    assert!(
        after.updated_at >= before.updated_at,
        "losing a label updates the version"
    );
    assert_eq!(
        found(stores, &project, "p", label("production"))
            .await
            .map(|f| f.0),
        Some(3)
    );
    // Adding a label the version has already changes nothing.
    let same = add_labels(stores, &project, "p", 3, &["dev"], PromptActor::ApiKey)
        .await
        .unwrap();
    assert_eq!(same.labels, moved.labels);

    // `latest` belongs to glassbox.
    let error = add_labels(stores, &project, "p", 1, &["latest"], PromptActor::ApiKey)
        .await
        .unwrap_err();
    assert_invalid(error, "latest");
    assert!(matches!(
        add_labels(stores, &project, "p", 9, &["x"], PromptActor::ApiKey).await,
        Err(PromptError::NotFound(_))
    ));
    assert!(matches!(
        add_labels(stores, &project, "nope", 1, &["x"], PromptActor::ApiKey).await,
        Err(PromptError::NotFound(_))
    ));
    assert_invalid(
        add_labels(
            stores,
            &project,
            "p",
            1,
            &["Bad Label"],
            PromptActor::ApiKey,
        )
        .await
        .unwrap_err(),
        "Invalid label",
    );
    // A new version takes `latest` even when its requested labels are moved elsewhere.
    let fourth = create(stores, &project, new_text("p", "four", &[])).await;
    assert_eq!(fourth.labels, labels(&["latest"]));
    assert_eq!(
        raw(stores, &project, "p", 3).await.labels,
        labels(&["staging", "production", "dev"])
    );
}

pub async fn prompt_tags_config_and_type_rules(stores: &Stores) {
    let project = project(stores, "project-a").await;
    let mut first = new_text("t", "one", &[]);
    first.tags = Some(labels(&["tag"]));
    first.config = json!({"temperature": 0.1});
    create(stores, &project, first).await;
    // Omitted tags: the new version takes the prompt's tags.
    assert_eq!(
        create(stores, &project, new_text("t", "two", &[]))
            .await
            .tags,
        labels(&["tag"])
    );
    // Given tags become the tags of every version.
    let mut third = new_text("t", "three", &[]);
    third.tags = Some(labels(&["t1", "t2"]));
    create(stores, &project, third).await;
    for number in 1..=3 {
        assert_eq!(
            raw(stores, &project, "t", number).await.tags,
            labels(&["t1", "t2"])
        );
    }
    let mut fourth = new_text("t", "four", &[]);
    fourth.tags = Some(Vec::new());
    create(stores, &project, fourth).await;
    for number in 1..=4 {
        assert!(raw(stores, &project, "t", number).await.tags.is_empty());
    }
    assert_eq!(
        raw(stores, &project, "t", 1).await.config,
        json!({"temperature": 0.1})
    );

    // The type of a prompt is fixed by its first version.
    let mut chat = new_text("t", "", &[]);
    chat.r#type = PromptType::Chat;
    chat.prompt = json!([{"role": "user", "content": "hi"}]);
    assert_invalid(
        create_err(stores, &project, chat).await,
        "different prompt type",
    );
    assert_eq!(found(stores, &project, "t", version(5)).await, None);
}

pub async fn prompt_input_is_validated(stores: &Stores) {
    let project = project(stores, "project-a").await;
    for (name, needle) in [
        ("/lead", "slash"),
        ("trail/", "slash"),
        ("a//b", "consecutive"),
        ("a|b", "|"),
        ("new", "new"),
        ("", "empty"),
        ("x <b>", "HTML"),
    ] {
        assert_invalid(
            create_err(stores, &project, new_text(name, "x", &[])).await,
            needle,
        );
    }
    assert_invalid(
        create_err(stores, &project, new_text("ok", "x", &["Production"])).await,
        "Invalid label",
    );
    assert_invalid(
        create_err(stores, &project, new_text("ok", "", &[])).await,
        "empty",
    );
    let mut text_as_chat = new_text("ok", "", &[]);
    text_as_chat.prompt = json!([{"role": "system", "content": "x"}]);
    assert_invalid(create_err(stores, &project, text_as_chat).await, "string");
    let mut chat = new_text("ok", "", &[]);
    chat.r#type = PromptType::Chat;
    chat.prompt = json!([{"role": "user", "message": "no content"}]);
    assert_invalid(create_err(stores, &project, chat.clone()).await, "content");
    chat.prompt = json!([
        {"role": "system", "content": "Hello {{userName}}"},
        {"type": "placeholder", "name": "userName"}
    ]);
    assert_invalid(
        create_err(stores, &project, chat.clone()).await,
        "variables and placeholders must be unique",
    );
    let mut long_message = new_text("ok", "x", &[]);
    long_message.commit_message = Some("m".repeat(501));
    assert_invalid(
        create_err(stores, &project, long_message).await,
        "commitMessage",
    );
    // Nothing was stored by the refused requests.
    let listed = stores
        .prompts
        .list_prompts(
            &project,
            &PromptListQuery::default(),
            PageRequest {
                page: 1,
                limit: 100,
            },
        )
        .await
        .unwrap();
    assert_eq!(listed.total_items, 0);
}

// Composition

pub async fn composed_prompts_resolve_and_refuse_cycles(stores: &Stores) {
    let project = project(stores, "project-a").await;
    let child = create(
        stores,
        &project,
        new_text("child", "I am \"child\" v1", &["production"]),
    )
    .await;
    let parent_text = format!(
        "Parent: {} / pinned: {} / {}",
        reference("child", "label=production"),
        reference("child", "version=1"),
        "@@@langfusePrompt:not-a-tag@@@"
    );
    let parent = create(
        stores,
        &project,
        new_text("parent", &parent_text, &["production"]),
    )
    .await;
    let resolved = fetch(stores, &project, "parent", label("production"))
        .await
        .unwrap();
    assert_eq!(
        resolved.version.prompt,
        json!(
            "Parent: I am \"child\" v1 / pinned: I am \"child\" v1 / @@@langfusePrompt:not-a-tag@@@"
        )
    );
    let graph = resolved
        .graph
        .expect("a composed prompt has a resolution graph");
    assert_eq!(graph.root, parent.node());
    assert_eq!(
        graph.dependencies,
        vec![(parent.id.clone(), vec![child.node()])]
    );
    // The stored content keeps the tags.
    assert_eq!(
        raw(stores, &project, "parent", 1).await.prompt,
        json!(parent_text)
    );

    // A label reference follows the label: a new production child changes the parent.
    create(
        stores,
        &project,
        new_text("child", "I am child v2", &["production"]),
    )
    .await;
    let resolved = fetch(stores, &project, "parent", version(1)).await.unwrap();
    assert_eq!(
        resolved.version.prompt,
        json!("Parent: I am child v2 / pinned: I am \"child\" v1 / @@@langfusePrompt:not-a-tag@@@")
    );

    // In chat messages too, through two levels.
    let mut chat = new_text("chat-parent", "", &[]);
    chat.r#type = PromptType::Chat;
    chat.prompt = json!([
        {"role": "system", "content": format!("Context: {}", reference("parent", "label=production"))},
        {"type": "placeholder", "name": "history"}
    ]);
    create(stores, &project, chat).await;
    let resolved = fetch(stores, &project, "chat-parent", label("latest"))
        .await
        .unwrap();
    assert_eq!(
        resolved.version.prompt[0]["content"],
        json!(
            "Context: Parent: I am child v2 / pinned: I am \"child\" v1 / @@@langfusePrompt:not-a-tag@@@"
        )
    );

    // References must exist and be text prompts.
    let missing = new_text("bad", &reference("ghost", "version=1"), &[]);
    assert_invalid(create_err(stores, &project, missing).await, "not found");
    let missing_label = new_text("bad", &reference("child", "label=nope"), &[]);
    assert_invalid(
        create_err(stores, &project, missing_label).await,
        "not found",
    );
    let to_chat = new_text("bad", &reference("chat-parent", "version=1"), &[]);
    assert_invalid(create_err(stores, &project, to_chat).await, "chat prompt");

    // Cycles: a prompt referencing itself, or another version of itself, or a prompt
    // that leads back to it.
    let itself = new_text("child", &reference("child", "version=1"), &[]);
    assert_invalid(
        create_err(stores, &project, itself).await,
        "Circular dependency",
    );
    let back = new_text(
        "child",
        &reference("parent", "label=production"),
        &["production"],
    );
    assert_invalid(
        create_err(stores, &project, back).await,
        "Circular dependency",
    );
    assert_eq!(
        found(stores, &project, "child", version(3)).await,
        None,
        "nothing stored"
    );

    // A label move that would close a cycle is refused too. y v2 -> x|production and
    // x v2 -> y|blue are each fine when created (they reach plain versions); then x v2
    // takes `production`, and moving `blue` to y v2 would make y v2 -> x v2 -> y v2.
    create(stores, &project, new_text("y", "plain y", &["blue"])).await;
    create(stores, &project, new_text("x", "plain x", &["production"])).await;
    create(
        stores,
        &project,
        new_text(
            "y",
            &format!("y2 {}", reference("x", "label=production")),
            &[],
        ),
    )
    .await;
    create(
        stores,
        &project,
        new_text("x", &format!("x2 {}", reference("y", "label=blue")), &[]),
    )
    .await;
    add_labels(
        stores,
        &project,
        "x",
        2,
        &["production"],
        PromptActor::ApiKey,
    )
    .await
    .expect("x v2 -> y v1 is no cycle");
    let error = add_labels(stores, &project, "y", 2, &["blue"], PromptActor::ApiKey)
        .await
        .unwrap_err();
    assert_invalid(error, "Circular dependency");
    assert_eq!(
        found(stores, &project, "y", label("blue"))
            .await
            .map(|f| f.0),
        Some(1)
    );
    assert_eq!(
        fetch(stores, &project, "x", label("production"))
            .await
            .unwrap()
            .version
            .prompt,
        json!("x2 plain y")
    );
    // y v2 now leads back to y (through x v2): fetching it says so instead of looping.
    let error = stores
        .prompts
        .resolve_prompt(&project, "y", &version(2))
        .await
        .unwrap_err();
    assert_invalid(error, "Circular dependency");

    // At most 5 levels: d0 -> d1 -> d2 -> d3 -> d4 resolves, one more level does not.
    create(stores, &project, new_text("d4", "deepest", &["production"])).await;
    for level in (0..4).rev() {
        let text = format!(
            "L{level} {}",
            reference(&format!("d{}", level + 1), "label=production")
        );
        create(
            stores,
            &project,
            new_text(&format!("d{level}"), &text, &["production"]),
        )
        .await;
    }
    assert_eq!(
        fetch(stores, &project, "d0", label("production"))
            .await
            .unwrap()
            .version
            .prompt,
        json!("L0 L1 L2 L3 deepest")
    );
    let too_deep = new_text("dminus", &reference("d0", "label=production"), &[]);
    assert_invalid(
        create_err(stores, &project, too_deep).await,
        "Maximum nesting depth",
    );
}

// Deletes

pub async fn prompt_deletes_by_version_label_or_all(stores: &Stores) {
    let project = project(stores, "project-a").await;
    create(stores, &project, new_text("d", "one", &["dev"])).await;
    create(stores, &project, new_text("d", "two", &["production"])).await;
    create(stores, &project, new_text("d", "three", &["dev"])).await;
    // Deleting the version with `latest` moves it to the highest remaining version.
    assert_eq!(
        delete(stores, &project, "d", Some(3), None).await.unwrap(),
        1
    );
    assert_eq!(
        raw(stores, &project, "d", 2).await.labels,
        labels(&["production", "latest"])
    );
    assert_eq!(found(stores, &project, "d", version(3)).await, None);
    assert!(matches!(
        delete(stores, &project, "d", Some(3), None).await,
        Err(PromptError::NotFound(_))
    ));
    assert!(matches!(
        delete(stores, &project, "d", None, Some("nope")).await,
        Err(PromptError::NotFound(_))
    ));
    assert!(matches!(
        delete(stores, &project, "ghost", None, None).await,
        Err(PromptError::NotFound(_))
    ));
    // Version and label together must both match.
    assert!(matches!(
        delete(stores, &project, "d", Some(1), Some("production")).await,
        Err(PromptError::NotFound(_))
    ));
    assert_eq!(
        delete(stores, &project, "d", None, Some("production"))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        raw(stores, &project, "d", 1).await.labels,
        labels(&["latest"]),
        "v3 took `dev`"
    );
    // A new version after deletes takes the highest remaining number + 1.
    assert_eq!(
        create(stores, &project, new_text("d", "again", &[]))
            .await
            .version,
        2
    );

    // Dependents block the delete of what they use: a pinned version, or a label that
    // would disappear; a label that stays on another version does not block.
    create(
        stores,
        &project,
        new_text("c", "c1", &["production", "blue"]),
    )
    .await;
    create(stores, &project, new_text("c", "c2", &["green"])).await;
    create(
        stores,
        &project,
        new_text("pin", &reference("c", "version=1"), &[]),
    )
    .await;
    create(
        stores,
        &project,
        new_text("by-label", &reference("c", "label=blue"), &[]),
    )
    .await;
    create(
        stores,
        &project,
        new_text("by-latest", &reference("c", "label=latest"), &[]),
    )
    .await;
    let error = delete(stores, &project, "c", Some(1), None)
        .await
        .unwrap_err();
    assert_invalid(error, "depending on");
    let PromptError::Invalid(message) = delete(stores, &project, "c", Some(1), None)
        .await
        .unwrap_err()
    else {
        unreachable!()
    };
    assert!(
        message.contains("'pin'") && message.contains("'by-label'"),
        "{message}"
    );
    assert!(
        !message.contains("by-latest"),
        "latest moves to v2: {message}"
    );
    assert_invalid(
        delete(stores, &project, "c", None, None).await.unwrap_err(),
        "by-latest",
    );
    assert!(
        raw(stores, &project, "c", 1)
            .await
            .labels
            .contains(&"blue".to_owned())
    );
    // Once the dependents are gone, the delete goes through.
    for name in ["pin", "by-label", "by-latest"] {
        assert_eq!(delete(stores, &project, name, None, None).await.unwrap(), 1);
    }
    assert_eq!(delete(stores, &project, "c", None, None).await.unwrap(), 2);
    assert_eq!(found(stores, &project, "c", label("latest")).await, None);
    // A prompt may be recreated after a full delete: it starts at version 1.
    assert_eq!(
        create(stores, &project, new_text("c", "new c", &[]))
            .await
            .version,
        1
    );
}

// Protected labels

pub async fn protected_labels_hold_back_api_keys(stores: &Stores) {
    let project = project(stores, "project-a").await;
    let prompts = &stores.prompts;
    assert!(
        prompts
            .protected_prompt_labels(&project)
            .await
            .unwrap()
            .is_empty()
    );
    create(stores, &project, new_text("g", "one", &["production"])).await;
    create(stores, &project, new_text("g", "two", &["staging"])).await;
    let set = prompts
        .set_protected_prompt_labels(&project, labels(&["production", "audited", "production"]))
        .await
        .unwrap();
    assert_eq!(set, labels(&["audited", "production"]));
    assert_eq!(
        prompts.protected_prompt_labels(&project).await.unwrap(),
        set
    );
    assert_invalid(
        prompts
            .set_protected_prompt_labels(&project, labels(&["latest"]))
            .await
            .unwrap_err(),
        "latest",
    );
    assert_invalid(
        prompts
            .set_protected_prompt_labels(&project, labels(&["Bad"]))
            .await
            .unwrap_err(),
        "Invalid label",
    );

    // API keys may not move a protected label...
    let error = add_labels(
        stores,
        &project,
        "g",
        2,
        &["production"],
        PromptActor::ApiKey,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&error, PromptError::Forbidden(message) if message.contains("'production'")),
        "{error:?}"
    );
    let error = create_err(stores, &project, new_text("g", "three", &["production"])).await;
    assert!(matches!(error, PromptError::Forbidden(_)), "{error:?}");
    let error = create_err(stores, &project, new_text("new-one", "x", &["audited"])).await;
    assert!(matches!(error, PromptError::Forbidden(_)), "{error:?}");
    // ...nor delete a version that carries one (by version, label, or the whole prompt).
    for (number, with_label) in [(Some(1), None), (None, Some("production")), (None, None)] {
        let error = delete(stores, &project, "g", number, with_label)
            .await
            .unwrap_err();
        assert!(matches!(error, PromptError::Forbidden(_)), "{error:?}");
    }
    assert_eq!(
        found(stores, &project, "g", label("production"))
            .await
            .map(|f| f.0),
        Some(1)
    );
    // Unprotected labels and `latest` move as usual.
    add_labels(stores, &project, "g", 1, &["staging"], PromptActor::ApiKey)
        .await
        .expect("unprotected label");
    assert_eq!(
        create(stores, &project, new_text("g", "three", &["canary"]))
            .await
            .version,
        3
    );
    assert_eq!(
        delete(stores, &project, "g", Some(2), None).await.unwrap(),
        1
    );

    // A project admin may.
    let moved = add_labels(
        stores,
        &project,
        "g",
        3,
        &["production"],
        PromptActor::ProjectAdmin,
    )
    .await
    .unwrap();
    assert!(moved.labels.contains(&"production".to_owned()));
    // Clearing the setting frees the labels.
    assert!(
        prompts
            .set_protected_prompt_labels(&project, Vec::new())
            .await
            .unwrap()
            .is_empty()
    );
    add_labels(
        stores,
        &project,
        "g",
        1,
        &["production"],
        PromptActor::ApiKey,
    )
    .await
    .expect("no longer protected");
}

// List

pub async fn prompt_list_filters_groups_and_pages(stores: &Stores) {
    let project = project(stores, "project-a").await;
    let mut with_config = new_text("b-prompt", "1", &["production"]);
    with_config.config = json!({"v": 1});
    create(stores, &project, with_config).await;
    let mut second = new_text("b-prompt", "2", &["version2"]);
    second.config = json!({"v": 2});
    create(stores, &project, second).await;
    let mut third = new_text("b-prompt", "3", &[]);
    third.config = json!({"v": 3});
    create(stores, &project, third).await;
    let mut tagged = new_text("a-prompt", "", &["production", "dev"]);
    tagged.r#type = PromptType::Chat;
    tagged.prompt = json!([{"role": "user", "content": "hi"}]);
    tagged.tags = Some(labels(&["tag-1"]));
    create(stores, &project, tagged).await;
    create(stores, &project, new_text("c/nested", "x", &[])).await;

    let project = &project;
    let list = |query: PromptListQuery, page: u32, limit: u32| async move {
        stores
            .prompts
            .list_prompts(project, &query, PageRequest { page, limit })
            .await
            .expect("list_prompts")
    };
    let all = list(PromptListQuery::default(), 1, 10).await;
    assert_eq!(all.total_items, 3);
    let names: Vec<&str> = all.items.iter().map(|item| item.name.as_str()).collect();
    assert_eq!(
        names,
        vec!["a-prompt", "b-prompt", "c/nested"],
        "ordered by name"
    );
    let b = &all.items[1];
    assert_eq!(b.versions, vec![1, 2, 3]);
    assert_eq!(b.labels, labels(&["latest", "production", "version2"]));
    assert_eq!(b.last_config, json!({"v": 3}));
    assert_eq!(b.r#type, PromptType::Text);
    let a = &all.items[0];
    assert_eq!(
        (a.r#type, a.tags.clone()),
        (PromptType::Chat, labels(&["tag-1"]))
    );

    let by_label = list(
        PromptListQuery {
            label: Some("version2".into()),
            ..Default::default()
        },
        1,
        10,
    )
    .await;
    assert_eq!(by_label.total_items, 1);
    assert_eq!(
        by_label.items[0].versions,
        vec![2],
        "filters apply to versions"
    );
    assert_eq!(by_label.items[0].labels, labels(&["version2"]));
    assert_eq!(by_label.items[0].last_config, json!({"v": 2}));
    let production = list(
        PromptListQuery {
            label: Some("production".into()),
            ..Default::default()
        },
        1,
        10,
    )
    .await;
    assert_eq!(production.total_items, 2);
    let by_tag = list(
        PromptListQuery {
            tag: Some("tag-1".into()),
            ..Default::default()
        },
        1,
        10,
    )
    .await;
    assert_eq!(
        by_tag
            .items
            .iter()
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>(),
        vec!["a-prompt"]
    );
    let by_name = list(
        PromptListQuery {
            name: Some("c/nested".into()),
            ..Default::default()
        },
        1,
        10,
    )
    .await;
    assert_eq!(by_name.total_items, 1);
    let by_version = list(
        PromptListQuery {
            version: Some(2),
            ..Default::default()
        },
        1,
        10,
    )
    .await;
    assert_eq!(by_version.items.len(), 1);
    assert_eq!(by_version.items[0].versions, vec![2]);
    let none = list(
        PromptListQuery {
            name: Some("missing".into()),
            ..Default::default()
        },
        1,
        10,
    )
    .await;
    assert_eq!((none.total_items, none.items.len()), (0, 0));

    // Pages.
    let second_page = list(PromptListQuery::default(), 2, 2).await;
    assert_eq!(second_page.total_items, 3);
    assert_eq!(
        second_page
            .items
            .iter()
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>(),
        vec!["c/nested"]
    );

    // updated_at windows: every version was created just now.
    let b_version_1 = raw(stores, project, "b-prompt", 1).await;
    let future = list(
        PromptListQuery {
            from_updated_at: Some(b_version_1.created_at + 3_600_000_000),
            ..Default::default()
        },
        1,
        10,
    )
    .await;
    assert_eq!(future.total_items, 0);
    let past = list(
        PromptListQuery {
            to_updated_at: Some(b_version_1.created_at + 3_600_000_000),
            ..Default::default()
        },
        1,
        10,
    )
    .await;
    assert_eq!(past.total_items, 3);
    assert!(past.items[1].last_updated_at >= b_version_1.created_at);
}

// The cache

pub async fn prompt_cache_sees_every_write(stores: &Stores) {
    let project = project(stores, "project-a").await;
    // A miss is remembered too, and forgotten when the prompt is created.
    assert_eq!(
        found(stores, &project, "hot", label("production")).await,
        None
    );
    create(stores, &project, new_text("hot", "one", &["production"])).await;
    assert_eq!(
        found(stores, &project, "hot", label("production"))
            .await
            .map(|f| f.0),
        Some(1)
    );
    assert_eq!(
        found(stores, &project, "hot", label("production"))
            .await
            .map(|f| f.0),
        Some(1)
    );
    create(stores, &project, new_text("hot", "two", &[])).await;
    assert_eq!(
        found(stores, &project, "hot", label("latest"))
            .await
            .map(|f| f.0),
        Some(2)
    );
    assert_eq!(
        found(stores, &project, "hot", label("production")).await,
        Some((1, labels(&["production"]))),
        "v1 lost `latest`"
    );
    add_labels(
        stores,
        &project,
        "hot",
        2,
        &["production"],
        PromptActor::ApiKey,
    )
    .await
    .unwrap();
    assert_eq!(
        found(stores, &project, "hot", label("production"))
            .await
            .map(|f| f.0),
        Some(2)
    );
    // A composed prompt is re-resolved when what it references changes.
    create(
        stores,
        &project,
        new_text(
            "outer",
            &reference("hot", "label=production"),
            &["production"],
        ),
    )
    .await;
    assert_eq!(
        fetch(stores, &project, "outer", label("production"))
            .await
            .unwrap()
            .version
            .prompt,
        json!("two")
    );
    add_labels(
        stores,
        &project,
        "hot",
        1,
        &["production"],
        PromptActor::ApiKey,
    )
    .await
    .unwrap();
    assert_eq!(
        fetch(stores, &project, "outer", label("production"))
            .await
            .unwrap()
            .version
            .prompt,
        json!("one")
    );
    delete(stores, &project, "outer", None, None).await.unwrap();
    assert_eq!(
        found(stores, &project, "outer", label("production")).await,
        None
    );
    // A refused write changes nothing that was cached.
    assert!(matches!(
        add_labels(stores, &project, "hot", 1, &["latest"], PromptActor::ApiKey).await,
        Err(PromptError::Invalid(_))
    ));
    assert_eq!(
        found(stores, &project, "hot", label("latest"))
            .await
            .map(|f| f.0),
        Some(2)
    );
}

// The prompt link of generations and usage statistics

pub async fn generations_link_to_prompt_versions_and_add_up(stores: &Stores) {
    let project = project(stores, "project-a").await;
    let one = create(stores, &project, new_text("used", "v1", &["production"])).await;
    let two = create(stores, &project, new_text("used", "v2", &[])).await;
    let generation = |id: &str,
                      trace: &str,
                      version: i64,
                      start: &str,
                      end: &str,
                      input: i64,
                      output: i64,
                      cost: f64| {
        json!({"id": format!("e-{id}"), "type": "generation-create", "timestamp": start, "body": {
            "id": id, "traceId": trace, "name": "llm", "startTime": start, "endTime": end,
            "promptName": "used", "promptVersion": version,
            "usageDetails": {"input": input, "output": output, "total": input + output},
            "costDetails": {"total": cost}
        }})
    };
    ingest_ok(
        stores,
        &project,
        json!([
            {"id": "e-t1", "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z", "body": {"id": "t1"}},
            {"id": "e-t2", "type": "trace-create", "timestamp": "2025-03-01T11:00:00Z", "body": {"id": "t2"}},
            generation("g1", "t1", 1, "2025-03-01T10:00:00Z", "2025-03-01T10:00:01Z", 10, 5, 0.01),
            generation("g2", "t1", 1, "2025-03-01T10:00:05Z", "2025-03-01T10:00:08Z", 20, 10, 0.03),
            generation("g3", "t2", 2, "2025-03-01T11:00:00Z", "2025-03-01T11:00:02Z", 7, 3, 0.02),
            // Names a version that does not exist (yet).
            generation("g4", "t2", 3, "2025-03-01T11:00:03Z", "2025-03-01T11:00:04Z", 1, 1, 0.0),
            {"id": "e-s1", "type": "score-create", "timestamp": "2025-03-01T12:00:00Z",
             "body": {"id": "s1", "traceId": "t1", "observationId": "g1", "name": "accuracy", "value": 1.0}},
            {"id": "e-s2", "type": "score-create", "timestamp": "2025-03-01T12:00:00Z",
             "body": {"id": "s2", "traceId": "t1", "observationId": "g2", "name": "accuracy", "value": 0.5}},
            {"id": "e-s3", "type": "score-create", "timestamp": "2025-03-01T12:00:00Z",
             "body": {"id": "s3", "traceId": "t1", "name": "helpful", "value": 0.8}},
            {"id": "e-s4", "type": "score-create", "timestamp": "2025-03-01T12:00:00Z",
             "body": {"id": "s4", "traceId": "t1", "observationId": "g1", "name": "tone", "value": "calm", "dataType": "CATEGORICAL"}}
        ]),
    )
    .await;
    let project = &project;
    let observation = |id: &'static str| async move {
        stores
            .observations
            .get_observation(project, id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{id} must exist"))
    };
    assert_eq!(
        observation("g1").await.prompt_id.as_deref(),
        Some(one.id.as_str())
    );
    assert_eq!(
        observation("g3").await.prompt_id.as_deref(),
        Some(two.id.as_str())
    );
    let g4 = observation("g4").await;
    assert_eq!(
        (g4.prompt_id, g4.prompt_name.as_deref(), g4.prompt_version),
        (None, Some("used"), Some(3))
    );
    // Creating the version links the generations that named it.
    let three = create(stores, project, new_text("used", "v3", &[])).await;
    assert_eq!(
        observation("g4").await.prompt_id.as_deref(),
        Some(three.id.as_str())
    );

    let usage = stores
        .prompts
        .prompt_usage(project, "used", &PromptUsageQuery::default())
        .await
        .unwrap();
    assert_eq!(
        usage.iter().map(|u| u.version).collect::<Vec<_>>(),
        vec![3, 2, 1]
    );
    let v1 = &usage[2];
    assert_eq!(v1.prompt_id, one.id);
    assert_eq!(v1.labels, labels(&["production"]));
    assert_eq!(v1.generation_count, 2);
    assert_eq!(
        v1.first_used_at,
        Some(crate::testsuite::micros("2025-03-01T10:00:00Z"))
    );
    assert_eq!(
        v1.last_used_at,
        Some(crate::testsuite::micros("2025-03-01T10:00:05Z"))
    );
    let latency = v1.latency_seconds.unwrap();
    assert_eq!((latency.count, latency.min, latency.max), (2, 1.0, 3.0));
    assert!((latency.p50 - 2.0).abs() < 1e-9);
    assert_eq!(v1.input_tokens.unwrap().sum, 30.0);
    assert_eq!(v1.output_tokens.unwrap().sum, 15.0);
    assert_eq!(v1.total_tokens.unwrap().sum, 45.0);
    assert!((v1.cost.unwrap().sum - 0.04).abs() < 1e-9);
    assert_eq!(
        v1.generation_scores.len(),
        1,
        "categorical scores have no average: {:?}",
        v1.generation_scores
    );
    assert_eq!(v1.generation_scores[0].name, "accuracy");
    assert_eq!(v1.generation_scores[0].count, 2);
    assert!((v1.generation_scores[0].average - 0.75).abs() < 1e-9);
    assert_eq!(v1.trace_scores.len(), 1);
    assert_eq!(
        (v1.trace_scores[0].name.as_str(), v1.trace_scores[0].count),
        ("helpful", 1)
    );
    let v2 = &usage[1];
    assert_eq!(v2.generation_count, 1);
    assert!(v2.generation_scores.is_empty() && v2.trace_scores.is_empty());
    assert_eq!(usage[0].generation_count, 1);

    // A window on the start time.
    let windowed = stores
        .prompts
        .prompt_usage(
            project,
            "used",
            &PromptUsageQuery {
                from_start_time: Some(crate::testsuite::micros("2025-03-01T10:00:01Z")),
                to_start_time: Some(crate::testsuite::micros("2025-03-01T11:00:00Z")),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        windowed
            .iter()
            .map(|u| u.generation_count)
            .collect::<Vec<_>>(),
        vec![0, 0, 1]
    );
    let unused = &windowed[0];
    assert_eq!(
        (unused.first_used_at, unused.latency_seconds, unused.cost),
        (None, None, None)
    );
    assert!(matches!(
        stores
            .prompts
            .prompt_usage(project, "ghost", &PromptUsageQuery::default())
            .await,
        Err(PromptError::NotFound(_))
    ));

    // An update of a generation keeps its link; naming another version moves it.
    ingest_ok(
        stores,
        project,
        json!([{"id": "e-g1-update", "type": "generation-update", "timestamp": "2025-03-01T10:00:09Z",
                "body": {"id": "g1", "output": "done"}},
               {"id": "e-g2-update", "type": "generation-update", "timestamp": "2025-03-01T10:00:09Z",
                "body": {"id": "g2", "promptName": "used", "promptVersion": 2}}]),
    )
    .await;
    assert_eq!(
        observation("g1").await.prompt_id.as_deref(),
        Some(one.id.as_str())
    );
    assert_eq!(
        observation("g2").await.prompt_id.as_deref(),
        Some(two.id.as_str())
    );
}

pub async fn prompts_are_scoped_by_project(stores: &Stores) {
    let a = project(stores, "project-a").await;
    let b = project(stores, "project-b").await;
    create(stores, &a, new_text("shared", "in a", &["production"])).await;
    create(stores, &b, new_text("shared", "in b", &["production"])).await;
    create(stores, &b, new_text("shared", "in b v2", &["production"])).await;
    create(stores, &b, new_text("only-b", "x", &[])).await;
    assert_eq!(
        fetch(stores, &a, "shared", label("production"))
            .await
            .unwrap()
            .version
            .prompt,
        json!("in a")
    );
    assert_eq!(
        found(stores, &a, "shared", label("production"))
            .await
            .map(|f| f.0),
        Some(1)
    );
    assert_eq!(found(stores, &a, "only-b", label("latest")).await, None);
    let references_b = new_text("ref", &reference("only-b", "version=1"), &[]);
    assert_invalid(create_err(stores, &a, references_b).await, "not found");
    stores
        .prompts
        .set_protected_prompt_labels(&b, labels(&["production"]))
        .await
        .unwrap();
    create(stores, &a, new_text("shared", "a v2", &["production"])).await;
    assert!(matches!(
        delete(stores, &a, "only-b", None, None).await,
        Err(PromptError::NotFound(_))
    ));
    let listed = stores
        .prompts
        .list_prompts(
            &a,
            &PromptListQuery::default(),
            PageRequest { page: 1, limit: 10 },
        )
        .await
        .unwrap();
    assert_eq!(listed.total_items, 1);
    assert_eq!(delete(stores, &a, "shared", None, None).await.unwrap(), 2);
    assert_eq!(
        found(stores, &b, "shared", label("production"))
            .await
            .map(|f| f.0),
        Some(2)
    );
}

#[cfg(test)]
mod tests {
    /// Every public test function must be listed in `prompt_conformance_suite!`.
    #[test]
    fn every_test_function_is_in_the_macro() {
        let source = include_str!("testsuite_prompts.rs");
        let (macro_part, functions_part) = source
            .split_once("// Helpers")
            .expect("the macro comes before the helpers");
        let listed: Vec<&str> = macro_part
            .lines()
            .map(str::trim)
            .filter_map(|line| line.strip_suffix(','))
            .filter(|name| name.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
            .collect();
        let defined: Vec<&str> = functions_part
            .lines()
            .filter_map(|line| line.strip_prefix("pub async fn "))
            .filter(|rest| rest.contains("(stores: &Stores)"))
            .filter_map(|rest| rest.split('(').next())
            .collect();
        assert!(defined.len() >= 10, "found {defined:?}");
        assert_eq!(listed, defined, "the macro lists every test, in order");
    }
}
