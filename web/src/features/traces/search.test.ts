import { expect, it } from "vitest";
import { traceListQuery, validateTraceSearch } from "./search";

it("keeps known, non-empty URL values only", () => {
  expect(validateTraceSearch({ name: "chat", page: "3", limit: "7", bogus: "x", userId: "", searchType: "id" })).toEqual({
    name: "chat",
    page: 3,
    searchType: "id",
  });
});

it("turns the URL state into the API query", () => {
  const now = Date.parse("2025-03-02T00:00:00Z");
  const query = new URLSearchParams(
    traceListQuery({ name: "chat", range: "24h", level: "ERROR,WARNING", metaKey: "env", metaValue: "prod", tags: "a,b" }, now),
  );
  expect(query.get("page")).toBe("1");
  expect(query.get("name")).toBe("chat");
  expect(query.get("tags")).toBe("a,b");
  expect(query.get("fromTimestamp")).toBe("2025-03-01T00:00:00.000Z");
  expect(JSON.parse(query.get("filter")!)).toEqual([
    { column: "level", type: "stringOptions", operator: "any of", value: ["ERROR", "WARNING"] },
    { column: "metadata", type: "stringObject", key: "env", operator: "=", value: "prod" },
  ]);
});
