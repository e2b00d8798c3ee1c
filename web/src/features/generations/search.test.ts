import { describe, expect, it } from "vitest";
import { generationsQuery, modelsMetricsQuery, toggleModel, validateGenerationsSearch } from "./search";

describe("generations URL state", () => {
  it("validates the query string", () => {
    expect(validateGenerationsSearch({ page: "2", models: "gpt-4o,claude", range: "24h" })).toEqual({ page: 2, models: "gpt-4o,claude", range: "24h" });
    expect(validateGenerationsSearch({ page: "x", range: "5y", models: "" })).toEqual({});
  });
  it("toggles models and resets the page", () => {
    const one = toggleModel({ page: 3 }, "gpt-4o");
    expect(one).toEqual({ models: "gpt-4o", page: undefined });
    expect(toggleModel(one, "claude").models).toBe("claude,gpt-4o");
    expect(toggleModel(one, "gpt-4o").models).toBeUndefined();
  });
  it("builds the API query", () => {
    const now = Date.parse("2025-03-02T00:00:00Z");
    const query = new URLSearchParams(generationsQuery({ models: "a,b", range: "24h", page: 2 }, now));
    expect(query.get("model")).toBe("a,b");
    expect(query.get("page")).toBe("2");
    expect(query.get("fromTimestamp")).toBe("2025-03-01T00:00:00.000Z");
    expect(modelsMetricsQuery({}, now)).toMatchObject({ view: "observations", dimensions: [{ field: "providedModelName" }] });
  });
});
