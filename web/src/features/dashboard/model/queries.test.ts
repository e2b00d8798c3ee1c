import { describe, expect, it } from "vitest";
import { categories, dashboardQueries, dashboardWindow, timeSeries, total } from "./queries";

describe("dashboard queries", () => {
  it("covers the chosen range and every chart", () => {
    const now = Date.parse("2025-03-08T00:00:00Z");
    const queries = dashboardQueries("7d", now) as Record<string, { fromTimestamp: string; toTimestamp: string; view: string }>;
    expect(Object.keys(queries).sort()).toEqual(["costByModel", "errors", "latency", "topUsers", "traces"]);
    expect(queries.traces.view).toBe("traces");
    expect(queries.latency.fromTimestamp).toBe("2025-03-01T00:00:00.000Z");
    expect(queries.errors.toTimestamp).toBe("2025-03-08T00:00:00.000Z");
    expect((dashboardQueries("bogus", now) as typeof queries).traces.fromTimestamp).toBe("2025-03-01T00:00:00.000Z");
  });
  it("turns rows into series", () => {
    const rows = [
      { time_dimension: "2025-03-02T00:00:00.000Z", count_count: 2 },
      { time_dimension: "2025-03-01T00:00:00.000Z", count_count: null },
    ];
    expect(timeSeries(rows, "count_count")).toEqual([
      [Date.parse("2025-03-01T00:00:00Z"), 0],
      [Date.parse("2025-03-02T00:00:00Z"), 2],
    ]);
    expect(total(rows, "count_count")).toBe(2);
  });
  it("fills every bucket of the window", () => {
    const now = Date.parse("2025-03-01T03:30:00Z");
    const window = dashboardWindow("24h", now);
    expect(window.step).toBe(3_600_000);
    const rows = [{ time_dimension: "2025-03-01T02:00:00.000Z", count_count: 3, p50_latency: 1200 }];
    const counts = timeSeries(rows, "count_count", window);
    expect(counts).toHaveLength(25);
    expect(counts[0]).toEqual([Date.parse("2025-02-28T03:00:00Z"), 0]);
    expect(counts.find(([time]) => time === Date.parse("2025-03-01T02:00:00Z"))?.[1]).toBe(3);
    const latency = timeSeries(rows, "p50_latency", window, null);
    expect(latency.filter(([, value]) => value !== null)).toEqual([[Date.parse("2025-03-01T02:00:00Z"), 1200]]);
    expect((dashboardQueries("1h", now) as { traces: { timeDimension: unknown } }).traces.timeDimension).toEqual({ granularity: "minute" });
  });
  it("drops empty categories", () => {
    const rows = [
      { userId: "bob", sum_totalCost: 2 },
      { userId: null, sum_totalCost: 5 },
      { userId: "alice", sum_totalCost: 0.5 },
      { userId: "carol", sum_totalCost: 0 },
    ];
    expect(categories(rows, "userId", "sum_totalCost")).toEqual([
      { name: "bob", value: 2 },
      { name: "alice", value: 0.5 },
    ]);
    expect(categories(rows, "userId", "sum_totalCost", 1)).toHaveLength(1);
  });
});
