// The traces table's URL state: every filter, the sort, the page and hidden columns live
// in the query string, so a view can be bookmarked and shared.

export type TraceSearch = {
  page?: number;
  limit?: number;
  orderBy?: string;
  range?: string;
  name?: string;
  userId?: string;
  sessionId?: string;
  tags?: string;
  environment?: string;
  level?: string;
  metaKey?: string;
  metaValue?: string;
  /** Score filter: the score's name, an operator (`SCORE_OPS`) and a value: a number, or
   * for `in` (categorical scores) comma-separated categories. */
  scoreName?: string;
  scoreOp?: ScoreOp;
  scoreValue?: string;
  search?: string;
  searchType?: "id" | "name";
  hide?: string;
};

/** Score filter operators as they appear in the URL, and the API operator of each. `in`
 * filters categorical scores (any of the listed categories); the others numeric ones. */
export const SCORE_OPS = {
  gt: ">",
  gte: ">=",
  lt: "<",
  lte: "<=",
  eq: "=",
  in: "any of",
} as const;
export type ScoreOp = keyof typeof SCORE_OPS;

function isScoreOp(value: unknown): value is ScoreOp {
  return typeof value === "string" && Object.hasOwn(SCORE_OPS, value);
}

const STRING_KEYS = [
  "orderBy",
  "range",
  "name",
  "userId",
  "sessionId",
  "tags",
  "environment",
  "level",
  "metaKey",
  "metaValue",
  "scoreName",
  "scoreValue",
  "search",
  "hide",
] as const;

export function validateTraceSearch(raw: Record<string, unknown>): TraceSearch {
  const search: TraceSearch = {};
  for (const key of STRING_KEYS) {
    const value = raw[key];
    if (typeof value === "string" && value !== "") search[key] = value;
    else if (typeof value === "number") search[key] = String(value);
  }
  const page = Number(raw.page);
  if (Number.isInteger(page) && page > 1) search.page = page;
  const limit = Number(raw.limit);
  if ([25, 50, 100].includes(limit)) search.limit = limit;
  if (raw.searchType === "id") search.searchType = "id";
  if (isScoreOp(raw.scoreOp)) search.scoreOp = raw.scoreOp;
  return search;
}

export const RANGES: Record<string, number> = {
  "1h": 3_600_000,
  "24h": 86_400_000,
  "7d": 7 * 86_400_000,
  "30d": 30 * 86_400_000,
};

/** The query string of `GET /projects/{id}/traces` for this URL state at time `now`. */
export function traceListQuery(search: TraceSearch, now: number): string {
  const params = new URLSearchParams();
  params.set("page", String(search.page ?? 1));
  params.set("limit", String(search.limit ?? 50));
  const copy = ["orderBy", "name", "userId", "sessionId", "tags", "environment", "search", "searchType"] as const;
  for (const key of copy) {
    const value = search[key];
    if (value) params.set(key, value);
  }
  if (search.range && RANGES[search.range]) {
    params.set("fromTimestamp", new Date(now - RANGES[search.range]).toISOString());
  }
  const filter: unknown[] = [];
  if (search.level) {
    filter.push({ column: "level", type: "stringOptions", operator: "any of", value: search.level.split(",") });
  }
  if (search.metaKey && search.metaValue !== undefined) {
    filter.push({ column: "metadata", type: "stringObject", key: search.metaKey, operator: "=", value: search.metaValue });
  }
  const score = scoreFilter(search);
  if (score) filter.push(score);
  if (filter.length) params.set("filter", JSON.stringify(filter));
  return params.toString();
}

/** The advanced-filter condition of the score filter, or nothing while it is incomplete. */
function scoreFilter(search: TraceSearch): unknown {
  const name = search.scoreName?.trim();
  if (!name || search.scoreValue === undefined) return undefined;
  const op = search.scoreOp ?? "gte";
  if (op === "in") {
    const categories = search.scoreValue
      .split(",")
      .map((value) => value.trim())
      .filter(Boolean);
    if (!categories.length) return undefined;
    return { column: "score_categories", type: "categoryOptions", key: name, operator: SCORE_OPS.in, value: categories };
  }
  const text = search.scoreValue.trim();
  const value = Number(text);
  if (text === "" || !Number.isFinite(value)) return undefined;
  return { column: "scores_avg", type: "numberObject", key: name, operator: SCORE_OPS[op], value };
}
