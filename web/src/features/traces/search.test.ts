import { expect, it } from "vitest";
import { defaultParseSearch, defaultStringifySearch } from "@tanstack/react-router";
import { SCORE_OPS, traceListQuery, validateTraceSearch, type ScoreOp, type TraceSearch } from "./search";

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

// The URL as the router writes and reads it (values that look like JSON are parsed back).
const roundTrip = (search: TraceSearch) => validateTraceSearch(defaultParseSearch(defaultStringifySearch(search)));

it("round-trips the score and metadata filters through the URL", () => {
  const numeric: TraceSearch = { scoreName: "helpfulness", scoreOp: "gt", scoreValue: "0.5", metaKey: "env", metaValue: "prod" };
  expect(roundTrip(numeric)).toEqual(numeric);
  const categorical: TraceSearch = { scoreName: "sentiment", scoreOp: "in", scoreValue: "positive,neutral" };
  expect(roundTrip(categorical)).toEqual(categorical);
  for (const op of Object.keys(SCORE_OPS) as ScoreOp[]) {
    expect(roundTrip({ scoreName: "s", scoreOp: op, scoreValue: "1" }).scoreOp).toBe(op);
  }
  // An unknown operator is dropped (the query then falls back to >=).
  expect(validateTraceSearch({ scoreName: "s", scoreOp: ">>", scoreValue: "1" })).toEqual({ scoreName: "s", scoreValue: "1" });
});

it("sends a numeric score filter as scores_avg numberObject", () => {
  const filter = (search: TraceSearch) => {
    const text = new URLSearchParams(traceListQuery(roundTrip(search), 0)).get("filter");
    return text === null ? null : JSON.parse(text);
  };
  expect(filter({ scoreName: "helpfulness", scoreOp: "gt", scoreValue: "0.5" })).toEqual([
    { column: "scores_avg", type: "numberObject", key: "helpfulness", operator: ">", value: 0.5 },
  ]);
  expect(filter({ scoreName: "helpfulness", scoreValue: "1" })).toEqual([
    { column: "scores_avg", type: "numberObject", key: "helpfulness", operator: ">=", value: 1 },
  ]);
  for (const [op, operator] of Object.entries(SCORE_OPS).filter(([op]) => op !== "in")) {
    expect(filter({ scoreName: "q", scoreOp: op as ScoreOp, scoreValue: "-2" })[0]).toMatchObject({ operator, value: -2 });
  }
  expect(filter({ scoreName: "sentiment", scoreOp: "in", scoreValue: "positive, neutral," })).toEqual([
    { column: "score_categories", type: "categoryOptions", key: "sentiment", operator: "any of", value: ["positive", "neutral"] },
  ]);
  // Incomplete or invalid: no filter at all.
  expect(filter({ scoreName: "helpfulness" })).toBeNull();
  expect(filter({ scoreValue: "1" })).toBeNull();
  expect(filter({ scoreName: "helpfulness", scoreOp: "lt", scoreValue: "high" })).toBeNull();
  expect(filter({ scoreName: "sentiment", scoreOp: "in", scoreValue: " , " })).toBeNull();
});
