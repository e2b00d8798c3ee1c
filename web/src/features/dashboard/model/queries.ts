// The home dashboard's charts as metrics-engine queries (GET /projects/{id}/metrics, the
// v2 query model; the `traces` view with v1's) and the pure transforms of their rows
// into chart series. No chart has its own endpoint.

export const DASHBOARD_RANGES: Record<string, number> = {
  "1h": 3_600_000,
  "24h": 86_400_000,
  "7d": 7 * 86_400_000,
  "30d": 30 * 86_400_000,
  "90d": 90 * 86_400_000,
};
export const DEFAULT_RANGE = "7d";

/** The time bucket of each range's charts (UTC-aligned), and its length in ms. */
const BUCKETS: Record<string, ["minute" | "hour" | "day", number]> = {
  "1h": ["minute", 60_000],
  "24h": ["hour", 3_600_000],
  "7d": ["hour", 3_600_000],
  "30d": ["day", 86_400_000],
  "90d": ["day", 86_400_000],
};

/** The chart window: `[from, to)` and the bucket length. */
export type Window = { from: number; to: number; step: number };

export function dashboardWindow(range: string, now: number): Window {
  const key = DASHBOARD_RANGES[range] ? range : DEFAULT_RANGE;
  return { from: now - DASHBOARD_RANGES[key], to: now, step: BUCKETS[key][1] };
}

export type MetricsRow = Record<string, string | number | null | unknown[]>;
export type ChartId = "traces" | "costByModel" | "latency" | "topUsers" | "errors";

const GENERATIONS = { column: "type", type: "stringOptions", operator: "any of", value: ["GENERATION"] };
const ERRORS = { column: "level", type: "stringOptions", operator: "any of", value: ["ERROR"] };

/** The five dashboard queries over `[now - range, now)`. */
export function dashboardQueries(range: string, now: number): Record<ChartId, object> {
  const key = DASHBOARD_RANGES[range] ? range : DEFAULT_RANGE;
  const window = { fromTimestamp: new Date(now - DASHBOARD_RANGES[key]).toISOString(), toTimestamp: new Date(now).toISOString() };
  const overTime = { timeDimension: { granularity: BUCKETS[key][0] } };
  return {
    traces: { view: "traces", metrics: [{ measure: "count", aggregation: "count" }], ...overTime, ...window },
    costByModel: {
      view: "observations",
      dimensions: [{ field: "providedModelName" }],
      metrics: [{ measure: "totalCost", aggregation: "sum" }],
      filters: [GENERATIONS],
      orderBy: [{ field: "sum_totalCost", direction: "desc" }],
      config: { row_limit: 10 },
      ...window,
    },
    latency: {
      view: "observations",
      metrics: ["p50", "p90", "p95", "p99"].map((aggregation) => ({ measure: "latency", aggregation })),
      filters: [GENERATIONS],
      ...overTime,
      ...window,
    },
    topUsers: {
      view: "observations",
      dimensions: [{ field: "userId" }],
      metrics: [{ measure: "totalCost", aggregation: "sum" }],
      orderBy: [{ field: "sum_totalCost", direction: "desc" }],
      config: { row_limit: 11 },
      ...window,
    },
    errors: {
      view: "observations",
      metrics: [{ measure: "count", aggregation: "count" }],
      filters: [ERRORS],
      ...overTime,
      ...window,
    },
  };
}

function numberOf(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) ? value : 0;
}

/** `[epoch ms, value]` points of one metric, oldest first. With a window, every bucket of
 * it is present: buckets without a row get `empty` (0 for counts, `null`, a gap, for
 * latencies). */
export function timeSeries(rows: MetricsRow[], metric: string, window?: Window, empty: number | null = 0): [number, number | null][] {
  const points = rows
    .filter((row) => typeof row.time_dimension === "string")
    .map((row): [number, number | null] => [Date.parse(row.time_dimension as string), row[metric] == null ? empty : numberOf(row[metric])])
    .sort((a, b) => a[0] - b[0]);
  if (!window) return points;
  const byTime = new Map(points);
  const filled: [number, number | null][] = [];
  for (let bucket = Math.floor(window.from / window.step) * window.step; bucket < window.to; bucket += window.step) {
    filled.push([bucket, byTime.has(bucket) ? (byTime.get(bucket) as number | null) : empty]);
  }
  return filled;
}

/** Category → value pairs of one dimension, in the rows' order, without null or zero
 * categories (observations without a model or user), at most `limit`. */
export function categories(rows: MetricsRow[], dimension: string, metric: string, limit = 10): { name: string; value: number }[] {
  return rows
    .filter((row) => typeof row[dimension] === "string" && row[dimension] !== "" && numberOf(row[metric]) > 0)
    .map((row) => ({ name: row[dimension] as string, value: numberOf(row[metric]) }))
    .slice(0, limit);
}

/** The sum of one metric over all rows (the chart's headline number). */
export function total(rows: MetricsRow[], metric: string): number {
  return rows.reduce((sum, row) => sum + numberOf(row[metric]), 0);
}
