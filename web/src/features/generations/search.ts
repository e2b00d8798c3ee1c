// The generations table's URL state: models (any of), time range and page.

import { RANGES } from "../traces/search";

export type GenerationsSearch = { page?: number; models?: string; range?: string; name?: string };

export function validateGenerationsSearch(raw: Record<string, unknown>): GenerationsSearch {
  const search: GenerationsSearch = {};
  const page = Number(raw.page);
  if (Number.isInteger(page) && page > 1) search.page = page;
  if (typeof raw.models === "string" && raw.models) search.models = raw.models;
  if (typeof raw.range === "string" && RANGES[raw.range]) search.range = raw.range;
  if (typeof raw.name === "string" && raw.name) search.name = raw.name;
  return search;
}

export function selectedModels(search: GenerationsSearch): string[] {
  return search.models ? search.models.split(",").filter(Boolean) : [];
}

/** Adds or removes one model of the filter; an empty selection drops the key. */
export function toggleModel(search: GenerationsSearch, model: string): GenerationsSearch {
  const models = selectedModels(search);
  const next = models.includes(model) ? models.filter((item) => item !== model) : [...models, model].sort();
  return { ...search, models: next.length ? next.join(",") : undefined, page: undefined };
}

/** The query string of `GET /projects/{id}/generations` for this state at time `now`. */
export function generationsQuery(search: GenerationsSearch, now: number): string {
  const params = new URLSearchParams({ page: String(search.page ?? 1), limit: "50" });
  const models = selectedModels(search);
  if (models.length) params.set("model", models.join(","));
  if (search.name) params.set("name", search.name);
  if (search.range) params.set("fromTimestamp", new Date(now - RANGES[search.range]).toISOString());
  return params.toString();
}

/** The metrics query listing the models of the generations in the range (for the picker). */
export function modelsMetricsQuery(search: GenerationsSearch, now: number): object {
  const from = search.range ? now - RANGES[search.range] : 0;
  return {
    view: "observations",
    dimensions: [{ field: "providedModelName" }],
    metrics: [{ measure: "count", aggregation: "count" }],
    filters: [{ column: "type", type: "stringOptions", operator: "any of", value: ["GENERATION"] }],
    fromTimestamp: new Date(from).toISOString(),
    toTimestamp: new Date(now + 60_000).toISOString(),
    orderBy: [{ field: "count_count", direction: "desc" }],
    config: { row_limit: 100 },
  };
}
