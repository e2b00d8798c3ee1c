//! What a prompt name, a label, a version's content and its commit message may be.
//! Every function returns the reason in words a client can act on.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{LATEST_LABEL, PromptType};

pub const MAX_PROMPT_NAME_CHARS: usize = 255;
pub const MAX_LABEL_CHARS: usize = 36;
pub const MAX_COMMIT_MESSAGE_CHARS: usize = 500;
/// Names taken by pages of Langfuse's web UI.
const RESERVED_NAMES: [&str; 3] = ["new", "metrics", "prompt-detail"];

/// A prompt name: `/` separates folders; `|` is reserved for composition tags.
pub fn validate_prompt_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("Prompt name cannot be empty".to_owned());
    }
    if name.chars().count() > MAX_PROMPT_NAME_CHARS {
        return Err(format!(
            "Prompt name cannot be longer than {MAX_PROMPT_NAME_CHARS} characters"
        ));
    }
    if contains_html_tag(name) {
        return Err("Prompt name cannot contain HTML tags".to_owned());
    }
    if name.contains('|') {
        return Err("Prompt name cannot contain '|' character".to_owned());
    }
    if name.starts_with('/') {
        return Err("Prompt name cannot start with a slash".to_owned());
    }
    if name.ends_with('/') {
        return Err("Prompt name cannot end with a slash".to_owned());
    }
    if name.contains("//") {
        return Err("Prompt name cannot contain consecutive slashes".to_owned());
    }
    if RESERVED_NAMES.contains(&name) {
        return Err(format!("Prompt name cannot be '{name}'"));
    }
    Ok(())
}

/// `<` followed by `>` later on: the check Langfuse applies to free-text names.
fn contains_html_tag(text: &str) -> bool {
    text.find('<')
        .is_some_and(|open| text[open + 1..].contains('>'))
}

/// A label: 1 to 36 characters of lowercase letters, digits, `_`, `-` and `.`.
pub fn validate_label(label: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-.".contains(c);
    if label.is_empty() || label.len() > MAX_LABEL_CHARS || !label.chars().all(allowed) {
        return Err(format!(
            "Invalid label '{label}': labels are 1 to {MAX_LABEL_CHARS} characters of lowercase letters, digits, '_', '-' and '.'"
        ));
    }
    Ok(())
}

/// Validates each label and drops repeats, keeping the first occurrence's place.
pub fn dedup_labels(labels: &[String]) -> Result<Vec<String>, String> {
    let mut unique: Vec<String> = Vec::with_capacity(labels.len());
    for label in labels {
        validate_label(label)?;
        if !unique.contains(label) {
            unique.push(label.clone());
        }
    }
    Ok(unique)
}

/// The labels a new version gets: the requested ones (validated, without repeats) and
/// `latest`, which a new version always takes.
pub fn new_version_labels(requested: &[String]) -> Result<Vec<String>, String> {
    let mut labels = dedup_labels(requested)?;
    if !labels.iter().any(|label| label == LATEST_LABEL) {
        labels.push(LATEST_LABEL.to_owned());
    }
    Ok(labels)
}

/// Labels a client asks to move onto a version (`PATCH .../versions/{v}`): `latest` is
/// not theirs to move.
pub fn validate_moved_labels(labels: &[String]) -> Result<Vec<String>, String> {
    let labels = dedup_labels(labels)?;
    if labels.iter().any(|label| label == LATEST_LABEL) {
        return Err("Label 'latest' is always assigned to the latest prompt version".to_owned());
    }
    Ok(labels)
}

pub fn validate_commit_message(message: Option<&str>) -> Result<(), String> {
    match message {
        Some(message) if message.chars().count() > MAX_COMMIT_MESSAGE_CHARS => Err(format!(
            "commitMessage cannot be longer than {MAX_COMMIT_MESSAGE_CHARS} characters"
        )),
        _ => Ok(()),
    }
}

/// The content of a version: a non-empty string for text prompts; for chat prompts an
/// array whose items are `{role, content}` messages (strings, optional
/// `type: "chatmessage"`) or `{type: "placeholder", name}` with a name like
/// `^[a-zA-Z][a-zA-Z0-9_]*$`. No name may be both a variable and a placeholder.
pub fn validate_prompt_content(prompt_type: PromptType, prompt: &Value) -> Result<(), String> {
    match (prompt_type, prompt) {
        (PromptType::Text, Value::String(text)) => {
            if text.is_empty() {
                Err("a text prompt cannot be empty".to_owned())
            } else {
                Ok(())
            }
        }
        (PromptType::Text, _) => Err("a text prompt must be a string".to_owned()),
        (PromptType::Chat, Value::Array(messages)) => validate_chat(messages),
        (PromptType::Chat, _) => Err(
            "a chat prompt must be an array of {role, content} messages and {type: \"placeholder\", name} placeholders"
                .to_owned(),
        ),
    }
}

fn validate_chat(messages: &[Value]) -> Result<(), String> {
    let mut placeholders: BTreeSet<String> = BTreeSet::new();
    let mut variables: BTreeSet<String> = BTreeSet::new();
    for (index, message) in messages.iter().enumerate() {
        let Value::Object(message) = message else {
            return Err(format!("prompt[{index}] must be an object"));
        };
        let kind = match message.get("type") {
            None | Some(Value::Null) => None,
            Some(Value::String(kind)) => Some(kind.as_str()),
            Some(_) => Some(""),
        };
        match kind {
            Some("placeholder") => {
                let name = message.get("name").and_then(Value::as_str).unwrap_or("");
                if !is_placeholder_name(name) {
                    return Err(format!(
                        "prompt[{index}]: a placeholder needs a name that starts with a letter and has only letters, digits and '_'"
                    ));
                }
                placeholders.insert(name.to_owned());
            }
            None | Some("chatmessage") => {
                let role = message.get("role").and_then(Value::as_str);
                let content = message.get("content").and_then(Value::as_str);
                match (role, content) {
                    (Some(_), Some(content)) => variables.extend(prompt_variables(content)),
                    _ => {
                        return Err(format!(
                            "prompt[{index}]: a chat message needs a string `role` and a string `content`"
                        ));
                    }
                }
            }
            _ => {
                return Err(format!(
                    "prompt[{index}]: `type` must be \"chatmessage\" or \"placeholder\""
                ));
            }
        }
    }
    let both: Vec<&String> = variables.intersection(&placeholders).collect();
    if !both.is_empty() {
        let names: Vec<&str> = both.iter().map(|name| name.as_str()).collect();
        return Err(format!(
            "variables and placeholders must be unique; used as both: {}",
            names.join(", ")
        ));
    }
    Ok(())
}

fn is_placeholder_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The variable names of a template: the trimmed text of each `{{…}}` (no braces
/// inside) that starts with a letter and has only letters, digits and `_`, in order of
/// first appearance.
pub fn prompt_variables(template: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            break;
        };
        let inner = &after[..close];
        if inner.contains('{') || inner.contains('}') {
            // `{{{x}}`: start again at the innermost `{{`.
            rest = &rest[open + 1..];
            continue;
        }
        let name = inner.trim();
        if is_variable_name(name) && !names.iter().any(|known| known == name) {
            names.push(name.to_owned());
        }
        rest = &after[close + 2..];
    }
    names
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(char::is_alphabetic) && chars.all(|c| c.is_alphanumeric() || c == '_')
}

/// The protected labels among `touched` (labels a change would add, move or remove),
/// as an error that names them; `latest` is never protected.
pub fn check_protected_labels<'a>(
    touched: impl IntoIterator<Item = &'a str>,
    protected: &[String],
) -> Result<(), String> {
    let mut hit: Vec<&str> = Vec::new();
    for label in touched {
        if protected.iter().any(|p| p == label) && !hit.contains(&label) {
            hit.push(label);
        }
    }
    if hit.is_empty() {
        return Ok(());
    }
    let quoted: Vec<String> = hit.iter().map(|label| format!("'{label}'")).collect();
    Err(format!(
        "Protected label{} {} can only be changed by a project owner or admin, not with an API key (protected labels are a project setting)",
        if hit.len() > 1 { "s" } else { "" },
        quoted.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names() {
        for good in [
            "simple-name",
            "folder/subfolder/name",
            "name with spaces",
            "angled[brac]es]",
            "promptName?!+ =@#;",
            "_x",
            "UPPER.case",
        ] {
            assert_eq!(validate_prompt_name(good), Ok(()), "{good}");
        }
        for (bad, needle) in [
            ("", "empty"),
            ("   ", "empty"),
            ("/a", "start with a slash"),
            ("a/", "end with a slash"),
            ("a//b", "consecutive slashes"),
            ("a|b", "'|'"),
            ("new", "'new'"),
            ("metrics", "'metrics'"),
            ("Test <div>", "HTML"),
        ] {
            let error = validate_prompt_name(bad).unwrap_err();
            assert!(error.contains(needle), "{bad}: {error}");
        }
        assert!(validate_prompt_name(&"x".repeat(255)).is_ok());
        assert!(validate_prompt_name(&"x".repeat(256)).is_err());
        assert!(validate_prompt_name("a < b").is_ok(), "a lone < is no tag");
    }

    #[test]
    fn labels() {
        for good in ["production", "v1", "prod-v1.0_beta", &"a".repeat(36)] {
            assert!(validate_label(good).is_ok(), "{good}");
        }
        for bad in ["", "Production", "with space", "a/b", &"a".repeat(37)] {
            assert!(validate_label(bad).is_err(), "{bad}");
        }
        let labels = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            new_version_labels(&labels(&["production", "production", "staging"])).unwrap(),
            labels(&["production", "staging", "latest"])
        );
        assert_eq!(
            new_version_labels(&labels(&["latest", "a"])).unwrap(),
            labels(&["latest", "a"])
        );
        assert!(
            validate_moved_labels(&labels(&["latest"]))
                .unwrap_err()
                .contains("always assigned")
        );
    }

    #[test]
    fn content() {
        assert!(validate_prompt_content(PromptType::Text, &json!("hi {{x}}")).is_ok());
        assert!(validate_prompt_content(PromptType::Text, &json!("")).is_err());
        assert!(
            validate_prompt_content(PromptType::Text, &json!([{"role": "a", "content": "b"}]))
                .is_err()
        );
        assert!(validate_prompt_content(PromptType::Chat, &json!("text")).is_err());
        let chat = json!([
            {"role": "system", "content": "You are {{persona}}"},
            {"type": "placeholder", "name": "history"},
            {"role": "user", "content": "{{q}}", "type": "chatmessage"}
        ]);
        assert!(validate_prompt_content(PromptType::Chat, &chat).is_ok());
        let missing_content = json!([{"role": "user", "message": "x"}]);
        assert!(validate_prompt_content(PromptType::Chat, &missing_content).is_err());
        let bad_placeholder = json!([{"type": "placeholder", "name": "1abc"}]);
        assert!(validate_prompt_content(PromptType::Chat, &bad_placeholder).is_err());
        let unknown_type = json!([{"type": "image", "role": "user", "content": "x"}]);
        assert!(validate_prompt_content(PromptType::Chat, &unknown_type).is_err());
        let conflict = json!([
            {"role": "system", "content": "Hello {{userName}}"},
            {"type": "placeholder", "name": "userName"}
        ]);
        let error = validate_prompt_content(PromptType::Chat, &conflict).unwrap_err();
        assert!(
            error.contains("variables and placeholders must be unique"),
            "{error}"
        );
        assert!(error.contains("userName"), "{error}");
    }

    #[test]
    fn variables() {
        assert_eq!(
            prompt_variables("{{ a }} {{b_1}} {{a}} {{1x}} {{ü}} {{x.y}} {{{c}}} {{d"),
            vec!["a", "b_1", "ü", "c"]
        );
        assert!(prompt_variables("no vars {{}}").is_empty());
    }

    #[test]
    fn commit_messages_and_protection() {
        assert!(validate_commit_message(Some(&"x".repeat(500))).is_ok());
        assert!(validate_commit_message(Some(&"x".repeat(501))).is_err());
        assert!(validate_commit_message(None).is_ok());
        let protected = vec!["production".to_owned()];
        assert!(check_protected_labels(["staging", "latest"], &protected).is_ok());
        let error = check_protected_labels(["staging", "production"], &protected).unwrap_err();
        assert!(error.contains("'production'"), "{error}");
    }
}
