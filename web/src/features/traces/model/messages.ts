// Recognises chat messages in an observation's input or output, so the panel can show a
// transcript instead of raw JSON.

export type ChatMessage = { role: string; text: string; extra: unknown };

type Part = { type?: unknown; text?: unknown };

function isMessage(value: unknown): value is { role: string; content?: unknown } {
  return typeof value === "object" && value !== null && !Array.isArray(value) && typeof (value as { role?: unknown }).role === "string";
}

function contentText(content: unknown): string {
  if (content == null) return "";
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content
      .map((part: Part | string) =>
        typeof part === "string" ? part : typeof part?.text === "string" ? part.text : `[${String(part?.type ?? "part")}]`,
      )
      .join("\n");
  }
  return JSON.stringify(content, null, 2);
}

function toMessage(value: { role: string; content?: unknown }): ChatMessage {
  const { role, content, ...rest } = value as { role: string; content?: unknown } & Record<string, unknown>;
  return { role, text: contentText(content), extra: Object.keys(rest).length ? rest : null };
}

/**
 * The messages in `value`: an array of `{role, content}`, an object with a `messages`
 * array, one message, or an OpenAI-style `{choices: [{message}]}`. `null` when it is
 * anything else (then the panel shows JSON).
 */
export function toChatMessages(value: unknown): ChatMessage[] | null {
  if (Array.isArray(value)) {
    return value.length > 0 && value.every(isMessage) ? value.map(toMessage) : null;
  }
  if (typeof value !== "object" || value === null) return null;
  const object = value as { messages?: unknown; choices?: unknown };
  if (Array.isArray(object.messages)) return toChatMessages(object.messages);
  if (Array.isArray(object.choices)) {
    const messages = object.choices.map((choice: { message?: unknown }) => choice?.message);
    return messages.length > 0 && messages.every(isMessage) ? messages.map(toMessage) : null;
  }
  return isMessage(value) ? [toMessage(value)] : null;
}
