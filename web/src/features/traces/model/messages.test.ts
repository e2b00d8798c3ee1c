import { describe, expect, it } from "vitest";
import { toChatMessages } from "./messages";

describe("toChatMessages", () => {
  it("reads arrays, {messages}, single messages and OpenAI choices", () => {
    expect(toChatMessages([{ role: "user", content: "hi" }])).toEqual([{ role: "user", text: "hi", extra: null }]);
    expect(toChatMessages({ messages: [{ role: "system", content: "be brief" }] })?.[0].role).toBe("system");
    expect(toChatMessages({ role: "assistant", content: "hello" })?.[0].text).toBe("hello");
    expect(toChatMessages({ choices: [{ message: { role: "assistant", content: "x" } }] })?.[0].text).toBe("x");
  });

  it("joins content parts and keeps tool calls as extra", () => {
    const [message] = toChatMessages([
      { role: "user", content: [{ type: "text", text: "look" }, { type: "image_url" }], tool_calls: [1] },
    ])!;
    expect(message.text).toBe("look\n[image_url]");
    expect(message.extra).toEqual({ tool_calls: [1] });
  });

  it("returns null for anything else", () => {
    for (const value of [null, "text", 3, [], [{ content: "no role" }], { answer: 42 }]) {
      expect(toChatMessages(value)).toBeNull();
    }
  });
});
