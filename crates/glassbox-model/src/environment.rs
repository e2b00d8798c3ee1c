//! Environment normalisation, as Langfuse does it: never an error, always a valid name.

/// The environment every entity gets when none (or an invalid one) is given.
pub const DEFAULT_ENVIRONMENT: &str = "default";
const MAX_ENVIRONMENT_CHARS: usize = 40;

/// Lowercases, strips leading `langfuse`, `langfuse-`, `langfuse_` repeatedly, cuts to 40
/// characters, and falls back to `default` when the result is empty or not `[a-z0-9-_]+`.
pub fn normalize_environment(raw: Option<&str>) -> String {
    let Some(raw) = raw else {
        return DEFAULT_ENVIRONMENT.to_owned();
    };
    let mut value = raw.to_lowercase();
    loop {
        let stripped = ["langfuse-", "langfuse_", "langfuse"]
            .iter()
            .find_map(|prefix| value.strip_prefix(prefix).map(str::to_owned));
        match stripped {
            Some(rest) => value = rest,
            None => break,
        }
    }
    let value: String = value.chars().take(MAX_ENVIRONMENT_CHARS).collect();
    let valid = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if valid {
        value
    } else {
        DEFAULT_ENVIRONMENT.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_environment as norm;

    #[test]
    fn normalises_like_langfuse() {
        assert_eq!(norm(None), "default");
        assert_eq!(norm(Some("Production")), "production");
        assert_eq!(norm(Some("langfuse-prod")), "prod");
        assert_eq!(norm(Some("langfuse_langfuse-staging")), "staging");
        assert_eq!(norm(Some("langfuse")), "default");
        assert_eq!(norm(Some("has space")), "default");
        assert_eq!(norm(Some("")), "default");
        assert_eq!(norm(Some(&"a".repeat(50))), "a".repeat(40));
    }
}
