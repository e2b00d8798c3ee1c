//! Token counts for generations that report no usage (ingestion spec §1.8, step 2).
//!
//! Only the `openai` tokenizer is available: tiktoken's BPE ranks ship inside the
//! `tiktoken-rs` crate, so nothing is downloaded at build or run time. Models whose
//! tokenizer is `claude` (or none) get no inferred usage: Anthropic publishes no tokenizer
//! for its current models, and a wrong count would give a wrong cost.

use serde_json::Value;

use crate::models::ModelDefinition;

/// Longest text (in bytes) that is tokenised. Tokenising runs inside the write path, so a
/// huge input is left without inferred usage rather than stalling other writers.
pub const MAX_TOKENIZE_BYTES: usize = 64_000;

fn count_text(bpe: &tiktoken_rs::CoreBPE, text: &str) -> usize {
    bpe.count_ordinary(text)
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Tokens of `value` (a generation's input or output) for `model`; `None` when the model
/// has no usable tokenizer or the text is too long.
pub fn count_tokens(model: &ModelDefinition, value: &Value) -> Option<i64> {
    if model.tokenizer_id.as_deref() != Some("openai") {
        return None;
    }
    let config = model.tokenizer_config.as_ref();
    let tokenizer_model = config
        .and_then(|config| config.get("tokenizerModel"))
        .and_then(Value::as_str)
        .unwrap_or("gpt-4");
    let bpe = tiktoken_rs::bpe_for_model(tokenizer_model)
        .unwrap_or_else(|_| tiktoken_rs::cl100k_base_singleton());
    let per_message = config
        .and_then(|config| config.get("tokensPerMessage"))
        .and_then(Value::as_i64);
    let per_name = config
        .and_then(|config| config.get("tokensPerName"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if value.to_string().len() > MAX_TOKENIZE_BYTES {
        return None;
    }
    if let (Some(per_message), Some(messages)) = (per_message, chat_messages(value)) {
        let mut total: i64 = 3;
        for message in messages {
            total += per_message;
            for (key, field) in message {
                if !matches!(
                    key.as_str(),
                    "role" | "content" | "name" | "tool_calls" | "function_call"
                ) {
                    continue;
                }
                if field.is_null() {
                    continue;
                }
                total += count_text(bpe, &value_text(field)) as i64;
                if key == "name" {
                    total += per_name;
                }
            }
        }
        return Some(total);
    }
    Some(count_text(bpe, &value_text(value)) as i64)
}

/// `[{role, content: string, name?}, ...]`: a chat prompt.
fn chat_messages(value: &Value) -> Option<Vec<&serde_json::Map<String, Value>>> {
    let items = value.as_array().filter(|items| !items.is_empty())?;
    items
        .iter()
        .map(|item| {
            let message = item.as_object()?;
            (message.get("role")?.is_string()
                && message.get("content").is_none_or(Value::is_string))
            .then_some(message)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::builtin_models;
    use serde_json::json;

    #[test]
    fn counts_strings_and_chat_messages() {
        let gpt4o = builtin_models()
            .iter()
            .find(|m| m.model_name == "gpt-4o")
            .unwrap();
        // o200k_base: "hello world" is two tokens.
        assert_eq!(count_tokens(gpt4o, &json!("hello world")), Some(2));
        let chat = json!([{"role": "user", "content": "hello world"}]);
        // 3 (reply priming) + 3 (per message) + 1 ("user") + 2.
        assert_eq!(count_tokens(gpt4o, &chat), Some(9));
        let claude = builtin_models()
            .iter()
            .find(|m| m.tokenizer_id.as_deref() == Some("claude"))
            .unwrap();
        assert_eq!(count_tokens(claude, &json!("hello")), None);
    }
}
