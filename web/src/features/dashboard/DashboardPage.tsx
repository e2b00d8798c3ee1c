import { useQueries } from "@tanstack/react-query";
import { useNavigate } from "@tanstack/react-router";
import { useMemo, useState } from "react";
import type { EChartsCoreOption } from "echarts/core";
import { api } from "../../api/client";
import { formatCost } from "../../lib/format";
import { Chart } from "./Chart";
import {
  type ChartId,
  DASHBOARD_RANGES,
  DEFAULT_RANGE,
  type MetricsRow,
  type Window,
  categories,
  dashboardQueries,
  dashboardWindow,
  timeSeries,
  total,
} from "./model/queries";

const CHARTS: ChartId[] = ["traces", "costByModel", "latency", "topUsers", "errors"];

function Card({ title, headline, empty, children }: { title: string; headline?: string; empty: boolean; children: React.ReactNode }) {
  return (
    <section className="rounded-lg border border-slate-200 bg-white p-3" data-testid="dashboard-card">
      <header className="mb-1 flex items-baseline justify-between">
        <h2 className="text-sm font-medium">{title}</h2>
        {headline && <span className="text-sm text-slate-600">{headline}</span>}
      </header>
      {empty ? <p className="flex h-64 items-center justify-center text-sm text-slate-400">No data in this range</p> : children}
    </section>
  );
}

const lineOption = (window: Window, series: { name: string; data: [number, number | null][] }[], unit = ""): EChartsCoreOption => ({
  animation: false,
  grid: { left: 48, right: 16, top: 28, bottom: 28 },
  tooltip: { trigger: "axis" },
  legend: series.length > 1 ? { top: 0 } : undefined,
  xAxis: { type: "time", min: window.from, max: window.to },
  yAxis: { type: "value", axisLabel: { formatter: `{value}${unit}` } },
  // A point with no neighbour (latency between gaps) still shows as a dot.
  series: series.map((item) => ({ type: "line", name: item.name, data: item.data, showSymbol: true, symbolSize: 4, connectNulls: false })),
});

const barOption = (items: { name: string; value: number }[], format: (value: number) => string): EChartsCoreOption => ({
  animation: false,
  grid: { left: 120, right: 24, top: 8, bottom: 24 },
  tooltip: { trigger: "item", valueFormatter: (value: unknown) => format(Number(value)) },
  xAxis: { type: "value" },
  yAxis: { type: "category", inverse: true, data: items.map((item) => item.name), axisLabel: { width: 110, overflow: "truncate" } },
  series: [{ type: "bar", data: items.map((item) => item.value) }],
});

/** The home dashboard: five charts from the metrics engine over a chosen range. */
export function DashboardPage({ projectId, range }: { projectId: string; range?: string }) {
  const navigate = useNavigate();
  const chosen = range && DASHBOARD_RANGES[range] ? range : DEFAULT_RANGE;
  const [now] = useState(() => Date.now());
  const queries = useMemo(() => dashboardQueries(chosen, now), [chosen, now]);
  const span = dashboardWindow(chosen, now);
  const results = useQueries({
    queries: CHARTS.map((id) => ({
      queryKey: ["metrics", projectId, id, chosen, now],
      queryFn: () => api<{ data: MetricsRow[] }>(`/projects/${projectId}/metrics?query=${encodeURIComponent(JSON.stringify(queries[id]))}`),
    })),
  });
  const rows = Object.fromEntries(CHARTS.map((id, index) => [id, results[index].data?.data ?? []])) as Record<ChartId, MetricsRow[]>;
  const error = results.find((result) => result.error)?.error;
  const loading = results.some((result) => result.isPending);

  const traces = timeSeries(rows.traces, "count_count", span);
  const costByModel = categories(rows.costByModel, "providedModelName", "sum_totalCost");
  const latency = ["p50", "p90", "p95", "p99"].map((p) => ({
    name: p,
    data: timeSeries(rows.latency, `${p}_latency`, span, null).map(([time, ms]): [number, number | null] => [time, ms == null ? null : ms / 1000]),
  }));
  const topUsers = categories(rows.topUsers, "userId", "sum_totalCost");
  const errors = timeSeries(rows.errors, "count_count", span);
  const options = useMemo(
    () => ({
      traces: lineOption(span, [{ name: "traces", data: traces }]),
      costByModel: barOption(costByModel, formatCost),
      latency: lineOption(span, latency, " s"),
      topUsers: barOption(topUsers, formatCost),
      errors: lineOption(span, [{ name: "errors", data: errors }]),
    }),
    [chosen, results.map((result) => result.dataUpdatedAt).join()],
  );
  return (
    <div className="flex flex-col gap-3 p-4">
      <div className="flex items-center justify-between">
        <h1 className="text-xl font-semibold">Dashboard</h1>
        <label className="flex items-center gap-1 text-sm">
          Time range
          <select
            aria-label="Dashboard range"
            className="h-8 rounded border border-slate-300 bg-white px-2"
            value={chosen}
            onChange={(event) => navigate({ to: "/project/$projectId/dashboard", params: { projectId }, search: { range: event.target.value } })}
          >
            {Object.keys(DASHBOARD_RANGES).map((key) => (
              <option key={key} value={key}>
                Last {key}
              </option>
            ))}
          </select>
        </label>
      </div>
      {error && <p className="text-sm text-red-700">{error.message}</p>}
      {loading ? (
        <p className="text-sm text-slate-500">Loading…</p>
      ) : (
        <div className="grid grid-cols-1 gap-3 lg:grid-cols-2">
          <Card title="Traces over time" headline={`${total(rows.traces, "count_count").toLocaleString("en-US")} traces`} empty={rows.traces.length === 0}>
            <Chart testId="chart-traces" option={options.traces} />
          </Card>
          <Card title="Cost by model" headline={formatCost(total(rows.costByModel, "sum_totalCost"))} empty={costByModel.length === 0}>
            <Chart testId="chart-cost-by-model" option={options.costByModel} />
          </Card>
          <Card title="Generation latency percentiles" empty={rows.latency.length === 0}>
            <Chart testId="chart-latency" option={options.latency} />
          </Card>
          <Card title="Top users by cost" empty={topUsers.length === 0}>
            <Chart testId="chart-top-users" option={options.topUsers} />
          </Card>
          <Card title="Errors" headline={`${total(rows.errors, "count_count").toLocaleString("en-US")} observations with level ERROR`} empty={rows.errors.length === 0}>
            <Chart testId="chart-errors" option={options.errors} />
          </Card>
        </div>
      )}
    </div>
  );
}
