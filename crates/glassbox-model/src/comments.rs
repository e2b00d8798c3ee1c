//! Comments on traces, observations, sessions and prompts (Langfuse's public comments
//! API: create, list, get; no edits, mentions or inline anchors).

use crate::Micros;

/// Longest comment, in characters, after trimming (Langfuse: 5,000).
pub const MAX_COMMENT_CHARS: usize = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommentObjectType {
    Trace,
    Observation,
    Session,
    /// A prompt version, referenced by its id.
    Prompt,
}

impl CommentObjectType {
    pub const ALL: [CommentObjectType; 4] = [
        CommentObjectType::Trace,
        CommentObjectType::Observation,
        CommentObjectType::Session,
        CommentObjectType::Prompt,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CommentObjectType::Trace => "TRACE",
            CommentObjectType::Observation => "OBSERVATION",
            CommentObjectType::Session => "SESSION",
            CommentObjectType::Prompt => "PROMPT",
        }
    }

    /// Case-insensitive, as the SDKs document lowercase names ("trace, observation...").
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(text.trim()))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    pub id: String,
    pub object_type: CommentObjectType,
    pub object_id: String,
    pub content: String,
    pub author_user_id: Option<String>,
    pub created_at: Micros,
    pub updated_at: Micros,
}

/// The stored content of a comment: trimmed, 1 to [`MAX_COMMENT_CHARS`] characters.
pub fn comment_content(raw: &str) -> Result<String, String> {
    let content = raw.trim();
    let length = content.chars().count();
    if length == 0 {
        return Err("content must not be empty".into());
    }
    if length > MAX_COMMENT_CHARS {
        return Err(format!(
            "content must have at most {MAX_COMMENT_CHARS} characters (has {length})"
        ));
    }
    Ok(content.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_trimmed_and_bounded() {
        assert_eq!(comment_content("  hi **there**\n").unwrap(), "hi **there**");
        assert!(comment_content(" \n\t").is_err());
        let longest = "é".repeat(MAX_COMMENT_CHARS);
        assert_eq!(comment_content(&format!(" {longest} ")).unwrap(), longest);
        let error = comment_content(&"x".repeat(MAX_COMMENT_CHARS + 1)).unwrap_err();
        assert!(error.contains("5000"), "{error}");
    }

    #[test]
    fn object_types_parse_in_any_case() {
        assert_eq!(
            CommentObjectType::parse("trace"),
            Some(CommentObjectType::Trace)
        );
        assert_eq!(
            CommentObjectType::parse("PROMPT"),
            Some(CommentObjectType::Prompt)
        );
        assert_eq!(CommentObjectType::parse("dataset"), None);
        for kind in CommentObjectType::ALL {
            assert_eq!(CommentObjectType::parse(kind.as_str()), Some(kind));
        }
    }
}
