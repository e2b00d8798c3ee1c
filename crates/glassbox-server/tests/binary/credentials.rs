//! Where API keys come from: the first-start key pair, headless `LANGFUSE_INIT_*`
//! provisioning and the `glassbox keys` command line; and that secrets never reach disk.

use crate::support::{Api, Server, file_count, files_containing, line_value, run_cli};

/// `sk-lf-...abcd`, as `keys list` shows a secret.
fn display_of(secret: &str) -> String {
    format!("{}...{}", &secret[..6], &secret[secret.len() - 4..])
}

fn assert_not_on_disk(data_dir: &std::path::Path, secret: &str) {
    assert!(file_count(data_dir) > 0, "the data directory is empty");
    let found = files_containing(data_dir, secret);
    assert!(
        found.is_empty(),
        "the secret `{secret}` is stored in clear in {found:?}"
    );
}

#[test]
fn first_start_prints_a_working_key_once() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(data_dir.path(), &[]);
    // The lines are printed before the server answers, so they are there by now.
    let printed = server.stdout_so_far();
    let host = line_value(&printed, "LANGFUSE_HOST").expect("LANGFUSE_HOST line");
    let public_key = line_value(&printed, "LANGFUSE_PUBLIC_KEY").expect("public key line");
    let secret_key = line_value(&printed, "LANGFUSE_SECRET_KEY").expect("secret key line");
    assert_eq!(host, format!("http://127.0.0.1:{}", server.port));
    assert!(public_key.starts_with("pk-lf-"), "{public_key}");
    assert!(secret_key.starts_with("sk-lf-"), "{secret_key}");

    let api = Api::with_key(server.port, &public_key, &secret_key);
    let projects = api.get("/api/public/projects").unwrap();
    assert_eq!(projects.status, 200, "{}", projects.body);
    let project_id = projects.json()["data"][0]["id"]
        .as_str()
        .expect("a project id")
        .to_owned();
    let wrong = Api::with_key(server.port, &public_key, "sk-lf-not-the-secret");
    assert_eq!(wrong.get("/api/public/projects").unwrap().status, 401);

    let first = server.terminate();
    assert!(first.status.success(), "{}", first.stderr);
    assert!(
        !first.stderr.contains(&secret_key),
        "the secret leaked into the log"
    );

    // Second start on the same directory: nothing secret is printed, the key still works.
    let mut server = Server::start(data_dir.path(), &[]);
    let api = Api::with_key(server.port, &public_key, &secret_key);
    let projects = api.get("/api/public/projects").unwrap();
    assert_eq!(projects.status, 200, "{}", projects.body);
    assert_eq!(projects.json()["data"][0]["id"], project_id.as_str());
    let second = server.terminate();
    assert!(second.status.success(), "{}", second.stderr);
    for output in [&second.stdout, &second.stderr] {
        assert!(!output.contains("sk-lf-"), "a secret was printed: {output}");
        assert!(!output.contains("LANGFUSE_SECRET_KEY"), "{output}");
    }

    assert_not_on_disk(data_dir.path(), &secret_key);
}

#[test]
fn headless_init_is_idempotent_and_the_keys_cli_manages_keys() {
    let data_dir = tempfile::tempdir().unwrap();
    let dir = data_dir.path();
    let public_key = "pk-lf-headless-1234";
    let secret_key = "sk-lf-headless-secret-5678";
    let password = "correct horse battery staple";
    let env = [
        ("LANGFUSE_INIT_ORG_ID", "headless-org"),
        ("LANGFUSE_INIT_ORG_NAME", "Headless Org"),
        ("LANGFUSE_INIT_PROJECT_ID", "headless-project"),
        ("LANGFUSE_INIT_PROJECT_NAME", "Headless Project"),
        ("LANGFUSE_INIT_PROJECT_PUBLIC_KEY", public_key),
        ("LANGFUSE_INIT_PROJECT_SECRET_KEY", secret_key),
        ("LANGFUSE_INIT_USER_EMAIL", "admin@example.com"),
        ("LANGFUSE_INIT_USER_NAME", "Admin"),
        ("LANGFUSE_INIT_USER_PASSWORD", password),
    ];

    // Start twice with the same environment: the same project and exactly one key.
    for start in 0..2 {
        let mut server = Server::start(dir, &env);
        let api = Api::with_key(server.port, public_key, secret_key);
        let projects = api.get("/api/public/projects").unwrap();
        assert_eq!(projects.status, 200, "start {start}: {}", projects.body);
        let project = &projects.json()["data"][0];
        assert_eq!(project["id"], "headless-project");
        assert_eq!(project["name"], "Headless Project");
        assert_eq!(project["organization"]["id"], "headless-org");
        let exited = server.terminate();
        assert!(exited.status.success(), "start {start}: {}", exited.stderr);
        assert!(
            !exited.stdout.contains("sk-lf-"),
            "headless init printed a secret: {}",
            exited.stdout
        );
        let listed = run_cli(dir, &["keys", "list", "--project", "headless-project"]);
        assert!(listed.status.success(), "{}", listed.stderr);
        let lines: Vec<&str> = listed.stdout.lines().collect();
        assert_eq!(lines.len(), 1, "start {start}: {}", listed.stdout);
        assert!(lines[0].starts_with(public_key), "{}", lines[0]);
        assert!(lines[0].contains(&display_of(secret_key)), "{}", lines[0]);
        assert!(!listed.stdout.contains(secret_key), "list shows a secret");
    }

    // `keys create` prints a new pair once; `keys list` shows it without the secret.
    let created = run_cli(
        dir,
        &[
            "keys",
            "create",
            "--project",
            "headless-project",
            "--note",
            "ci",
        ],
    );
    assert!(created.status.success(), "{}", created.stderr);
    let new_public = line_value(&created.stdout, "LANGFUSE_PUBLIC_KEY").expect("public key");
    let new_secret = line_value(&created.stdout, "LANGFUSE_SECRET_KEY").expect("secret key");
    assert!(new_public.starts_with("pk-lf-") && new_secret.starts_with("sk-lf-"));
    let listed = run_cli(dir, &["keys", "list", "--project", "headless-project"]);
    assert!(listed.status.success(), "{}", listed.stderr);
    assert_eq!(listed.stdout.lines().count(), 2, "{}", listed.stdout);
    let new_line = listed
        .stdout
        .lines()
        .find(|line| line.starts_with(&new_public))
        .expect("the new key is listed");
    assert!(new_line.contains(&display_of(&new_secret)), "{new_line}");
    assert!(new_line.ends_with("ci"), "{new_line}");
    assert!(!listed.stdout.contains(&new_secret) && !listed.stdout.contains(secret_key));

    // Unknown projects and keys are errors.
    let unknown = run_cli(dir, &["keys", "create", "--project", "no-such-project"]);
    assert!(!unknown.status.success());
    assert!(!unknown.stdout.contains("sk-lf-"));
    let unknown = run_cli(dir, &["keys", "revoke", "pk-lf-no-such-key"]);
    assert!(!unknown.status.success());

    // Third start with the same environment; the created key authenticates.
    let mut server = Server::start(dir, &env);
    let provisioned = Api::with_key(server.port, public_key, secret_key);
    let created_api = Api::with_key(server.port, &new_public, &new_secret);
    let projects = created_api.get("/api/public/projects").unwrap();
    assert_eq!(projects.status, 200, "{}", projects.body);
    assert_eq!(projects.json()["data"][0]["id"], "headless-project");

    // Revoking while the server runs takes effect on the next request.
    let revoked = run_cli(dir, &["keys", "revoke", &new_public]);
    assert!(revoked.status.success(), "{}", revoked.stderr);
    let refused = created_api.get("/api/public/projects").unwrap();
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert_eq!(provisioned.get("/api/public/projects").unwrap().status, 200);
    let exited = server.terminate();
    assert!(exited.status.success(), "{}", exited.stderr);

    let listed = run_cli(dir, &["keys", "list", "--project", "headless-project"]);
    assert_eq!(listed.stdout.lines().count(), 1, "{}", listed.stdout);

    for secret in [secret_key, new_secret.as_str(), password] {
        assert_not_on_disk(dir, secret);
    }
}

#[test]
fn data_dir_is_accepted_before_the_keys_action_too() {
    let data_dir = tempfile::tempdir().unwrap();
    let env = [
        ("LANGFUSE_INIT_ORG_ID", "order-org"),
        ("LANGFUSE_INIT_PROJECT_ID", "order-project"),
    ];
    let mut server = Server::start(data_dir.path(), &env);
    assert!(server.terminate().status.success());
    let output = crate::support::command()
        .arg("keys")
        .arg("--data-dir")
        .arg(data_dir.path())
        .args(["create", "--project", "order-project"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("LANGFUSE_SECRET_KEY=sk-lf-"));
}
