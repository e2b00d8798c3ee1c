import { useQuery } from "@tanstack/react-query";
import { Link, useNavigate } from "@tanstack/react-router";
import { useState } from "react";
import { api, type PageMeta } from "../../api/client";
import { LevelBadge } from "../../components/ui/badge";
import { Button } from "../../components/ui/button";
import { formatCost, formatSeconds, formatTime, formatTokens } from "../../lib/format";
import { RANGES } from "../traces/search";
import { type GenerationsSearch, generationsQuery, modelsMetricsQuery, selectedModels, toggleModel } from "./search";

type GenerationRow = {
  id: string;
  traceId: string;
  name: string | null;
  model: string | null;
  startTime: number;
  latency: number | null;
  timeToFirstToken: number | null;
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
  totalCost: number | null;
  level: string;
};

export function GenerationsPage({ projectId, search }: { projectId: string; search: GenerationsSearch }) {
  const navigate = useNavigate();
  // The range is relative to when the view was opened (stable across refetches).
  const [now] = useState(() => Date.now());
  const go = (next: GenerationsSearch) => navigate({ to: "/project/$projectId/generations", params: { projectId }, search: next });
  const rows = useQuery({
    queryKey: ["generations", projectId, search, now],
    queryFn: () => api<{ data: GenerationRow[]; meta: PageMeta }>(`/projects/${projectId}/generations?${generationsQuery(search, now)}`),
  });
  const models = useQuery({
    queryKey: ["generation-models", projectId, search.range, now],
    queryFn: () =>
      api<{ data: { providedModelName: string | null; count_count: number }[] }>(
        `/projects/${projectId}/metrics?query=${encodeURIComponent(JSON.stringify(modelsMetricsQuery(search, now)))}`,
      ),
  });
  const selected = selectedModels(search);
  const options = [...new Set([...(models.data?.data.map((row) => row.providedModelName).filter((name): name is string => !!name) ?? []), ...selected])];
  const meta = rows.data?.meta;
  const page = search.page ?? 1;
  return (
    <div className="p-4">
      <h1 className="mb-3 text-xl font-semibold">Generations</h1>
      <div className="mb-3 flex flex-wrap items-center gap-3 text-sm">
        <label className="flex items-center gap-1">
          Time range
          <select
            aria-label="Time range"
            className="h-8 rounded border border-slate-300 bg-white px-2"
            value={search.range ?? ""}
            onChange={(event) => go({ ...search, range: event.target.value || undefined, page: undefined })}
          >
            <option value="">All time</option>
            {Object.keys(RANGES).map((range) => (
              <option key={range} value={range}>
                Last {range}
              </option>
            ))}
          </select>
        </label>
        <fieldset className="flex flex-wrap items-center gap-2" aria-label="Model filter">
          <span>Models (any of):</span>
          {options.length === 0 && <span className="text-slate-500">none yet</span>}
          {options.map((model) => (
            <label key={model} className="flex items-center gap-1 rounded border border-slate-200 bg-white px-2 py-0.5">
              <input type="checkbox" aria-label={`Model ${model}`} checked={selected.includes(model)} onChange={() => go(toggleModel(search, model))} />
              {model}
            </label>
          ))}
          {selected.length > 0 && (
            <Button variant="ghost" size="sm" onClick={() => go({ ...search, models: undefined, page: undefined })}>
              Clear
            </Button>
          )}
        </fieldset>
      </div>
      <table className="w-full rounded-lg border border-slate-200 bg-white text-sm">
        <thead className="bg-slate-50 text-left text-xs text-slate-600">
          <tr>
            <th className="px-3 py-2">Time</th>
            <th className="px-3 py-2">Name</th>
            <th className="px-3 py-2">Model</th>
            <th className="px-3 py-2 text-right">Latency</th>
            <th className="px-3 py-2 text-right">TTFT</th>
            <th className="px-3 py-2 text-right">Tokens (in / out / total)</th>
            <th className="px-3 py-2 text-right">Cost</th>
            <th className="px-3 py-2">Level</th>
          </tr>
        </thead>
        <tbody>
          {rows.data?.data.map((row) => (
            <tr key={`${row.traceId}/${row.id}`} data-testid="generation-row" className="border-t border-slate-100">
              <td className="px-3 py-1.5 whitespace-nowrap">{formatTime(row.startTime)}</td>
              <td className="px-3 py-1.5">
                <Link
                  to="/project/$projectId/traces/$traceId"
                  params={{ projectId, traceId: row.traceId }}
                  search={{ observation: row.id }}
                  className="text-blue-700 hover:underline"
                >
                  {row.name ?? row.id}
                </Link>
              </td>
              <td className="px-3 py-1.5" data-testid="generation-model">
                {row.model ?? "–"}
              </td>
              <td className="px-3 py-1.5 text-right">{formatSeconds(row.latency)}</td>
              <td className="px-3 py-1.5 text-right">{formatSeconds(row.timeToFirstToken)}</td>
              <td className="px-3 py-1.5 text-right">
                {formatTokens(row.inputTokens)} / {formatTokens(row.outputTokens)} / {formatTokens(row.totalTokens)}
              </td>
              <td className="px-3 py-1.5 text-right">{formatCost(row.totalCost)}</td>
              <td className="px-3 py-1.5">
                <LevelBadge level={row.level === "ERROR" || row.level === "WARNING" ? row.level : null} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {rows.data && rows.data.data.length === 0 && <p className="mt-2 text-sm text-slate-500">No generations match.</p>}
      {rows.error && <p className="mt-2 text-sm text-red-700">{rows.error.message}</p>}
      {meta && (
        <div className="mt-2 flex items-center justify-end gap-2 text-sm">
          <span className="text-slate-500" data-testid="generation-total">
            {meta.totalItems.toLocaleString("en-US")} generations
          </span>
          <Button variant="secondary" size="sm" disabled={page <= 1} onClick={() => go({ ...search, page: page - 1 })}>
            Previous
          </Button>
          <Button variant="secondary" size="sm" disabled={page >= meta.totalPages} onClick={() => go({ ...search, page: page + 1 })}>
            Next
          </Button>
        </div>
      )}
    </div>
  );
}
