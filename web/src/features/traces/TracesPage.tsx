import { useMemo, useState } from "react";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { Link, useNavigate } from "@tanstack/react-router";
import {
  createColumnHelper,
  flexRender,
  getCoreRowModel,
  useReactTable,
  type SortingState,
  type VisibilityState,
} from "@tanstack/react-table";
import { ArrowDown, ArrowUp } from "lucide-react";
import { api, type PageMeta, type TraceRow } from "../../api/client";
import { Badge, LevelBadge } from "../../components/ui/badge";
import { Button } from "../../components/ui/button";
import { Input } from "../../components/ui/input";
import { formatCost, formatSeconds, formatTime, formatTokens } from "../../lib/format";
import { RANGES, SCORE_OPS, traceListQuery, type ScoreOp, type TraceSearch } from "./search";

const column = createColumnHelper<TraceRow>();
/** Columns the server can sort by (`orderBy`). */
const SORTABLE = new Set(["timestamp", "name", "userId", "sessionId"]);

function useColumns(projectId: string) {
  return useMemo(
    () => [
      column.accessor("timestamp", { header: "Timestamp", cell: (info) => <span className="whitespace-nowrap">{formatTime(info.getValue())}</span> }),
      column.accessor("name", {
        header: "Name",
        cell: (info) => (
          <Link
            to="/project/$projectId/traces/$traceId"
            params={{ projectId, traceId: info.row.original.id }}
            className="font-medium text-blue-700 hover:underline"
          >
            {info.getValue() ?? info.row.original.id}
          </Link>
        ),
      }),
      column.accessor("userId", { header: "User", cell: (info) => info.getValue() ?? "" }),
      column.accessor("sessionId", {
        header: "Session",
        cell: (info) =>
          info.getValue() ? (
            <Link to="/project/$projectId/sessions/$sessionId" params={{ projectId, sessionId: info.getValue()! }} className="text-blue-700 hover:underline">
              {info.getValue()}
            </Link>
          ) : (
            ""
          ),
      }),
      column.accessor("tags", {
        header: "Tags",
        enableSorting: false,
        cell: (info) => (
          <span className="flex flex-wrap gap-1">
            {info.getValue().map((tag) => (
              <Badge key={tag} className="bg-blue-50 text-blue-800">
                {tag}
              </Badge>
            ))}
          </span>
        ),
      }),
      column.accessor("level", { header: "Level", enableSorting: false, cell: (info) => <LevelBadge level={info.getValue()} /> }),
      column.accessor("latency", { header: "Latency", enableSorting: false, cell: (info) => formatSeconds(info.getValue()) }),
      column.accessor("totalTokens", {
        header: "Tokens",
        enableSorting: false,
        cell: (info) => (
          <span title={`${info.row.original.inputTokens} in / ${info.row.original.outputTokens} out`}>{formatTokens(info.getValue())}</span>
        ),
      }),
      column.accessor("totalCost", { header: "Cost", enableSorting: false, cell: (info) => formatCost(info.getValue()) }),
      column.accessor("scores", {
        header: "Scores",
        enableSorting: false,
        cell: (info) => (
          <span className="flex flex-wrap gap-1">
            {Object.entries(info.getValue()).map(([name, value]) => (
              <Badge key={name} className="bg-emerald-50 text-emerald-800">
                {name}: {Number.isInteger(value) ? value : value.toFixed(2)}
              </Badge>
            ))}
          </span>
        ),
      }),
      column.accessor("environment", { header: "Environment", enableSorting: false }),
    ],
    [projectId],
  );
}

function FilterBar({ search, apply }: { search: TraceSearch; apply: (patch: Partial<TraceSearch>) => void }) {
  const [draft, setDraft] = useState(search);
  const field = (key: keyof TraceSearch, placeholder: string, width = "w-32") => (
    <Input
      aria-label={placeholder}
      placeholder={placeholder}
      className={width}
      value={(draft[key] as string | undefined) ?? ""}
      onChange={(event) => setDraft({ ...draft, [key]: event.target.value || undefined })}
    />
  );
  return (
    <form
      className="flex flex-wrap items-center gap-2"
      onSubmit={(event) => {
        event.preventDefault();
        apply({ ...draft, page: undefined });
      }}
    >
      <select
        aria-label="Time range"
        className="h-9 rounded-md border border-slate-300 bg-white px-2 text-sm"
        value={search.range ?? ""}
        onChange={(event) => apply({ range: event.target.value || undefined, page: undefined })}
      >
        <option value="">All time</option>
        {Object.keys(RANGES).map((range) => (
          <option key={range} value={range}>
            Last {range}
          </option>
        ))}
      </select>
      <span className="flex">
        <select
          aria-label="Search in"
          className="h-9 rounded-l-md border border-r-0 border-slate-300 bg-white px-1 text-sm"
          value={draft.searchType ?? "name"}
          onChange={(event) => setDraft({ ...draft, searchType: event.target.value === "id" ? "id" : undefined })}
        >
          <option value="name">Name</option>
          <option value="id">ID</option>
        </select>
        {field("search", "Search", "w-40 rounded-l-none")}
      </span>
      {field("name", "Trace name")}
      {field("userId", "User ID")}
      {field("sessionId", "Session ID")}
      {field("tags", "Tags (a,b)")}
      {field("environment", "Environment")}
      <select
        aria-label="Level filter"
        className="h-9 rounded-md border border-slate-300 bg-white px-2 text-sm"
        value={draft.level ?? ""}
        onChange={(event) => setDraft({ ...draft, level: event.target.value || undefined })}
      >
        <option value="">Any level</option>
        <option value="ERROR">Error</option>
        <option value="WARNING">Warning</option>
        <option value="DEFAULT">Default</option>
        <option value="DEBUG">Debug</option>
      </select>
      {field("metaKey", "Metadata key", "w-28")}
      {field("metaValue", "Metadata value", "w-28")}
      <span className="flex">
        {field("scoreName", "Score name", "w-28 rounded-r-none")}
        <select
          aria-label="Score operator"
          className="h-9 border border-x-0 border-slate-300 bg-white px-1 text-sm"
          value={draft.scoreOp ?? "gte"}
          onChange={(event) => setDraft({ ...draft, scoreOp: event.target.value as ScoreOp })}
        >
          {(Object.keys(SCORE_OPS) as ScoreOp[]).map((op) => (
            <option key={op} value={op}>
              {op === "in" ? "is any of" : SCORE_OPS[op]}
            </option>
          ))}
        </select>
        {field("scoreValue", draft.scoreOp === "in" ? "Score categories (a,b)" : "Score value", "w-28 rounded-l-none")}
      </span>
      <Button type="submit">Apply</Button>
      <Button
        type="button"
        variant="ghost"
        onClick={() => {
          setDraft({});
          apply(Object.fromEntries(Object.keys(search).map((key) => [key, undefined])));
        }}
      >
        Reset
      </Button>
    </form>
  );
}

export function TracesPage({ projectId, search }: { projectId: string; search: TraceSearch }) {
  const navigate = useNavigate();
  const apply = (patch: Partial<TraceSearch>) =>
    navigate({ to: "/project/$projectId/traces", params: { projectId }, search: (previous: TraceSearch) => ({ ...previous, ...patch }) });
  const query = traceListQuery(search, Math.floor(Date.now() / 60_000) * 60_000);
  const traces = useQuery({
    queryKey: ["traces", projectId, query],
    queryFn: () => api<{ data: TraceRow[]; meta: PageMeta }>(`/projects/${projectId}/traces?${query}`),
    placeholderData: keepPreviousData,
  });
  const columns = useColumns(projectId);
  const sorting: SortingState = search.orderBy
    ? [{ id: search.orderBy.split(".")[0], desc: search.orderBy.endsWith(".desc") }]
    : [{ id: "timestamp", desc: true }];
  const hidden = new Set(search.hide?.split(",") ?? []);
  const columnVisibility: VisibilityState = Object.fromEntries([...hidden].map((id) => [id, false]));
  const table = useReactTable({
    data: traces.data?.data ?? [],
    columns,
    getCoreRowModel: getCoreRowModel(),
    manualSorting: true,
    manualPagination: true,
    state: { sorting, columnVisibility },
    enableSortingRemoval: false,
    onSortingChange: (updater) => {
      const next = typeof updater === "function" ? updater(sorting) : updater;
      const first = next[0];
      if (first && SORTABLE.has(first.id)) apply({ orderBy: `${first.id}.${first.desc ? "desc" : "asc"}`, page: undefined });
    },
    getRowId: (row) => row.id,
  });
  const meta = traces.data?.meta;
  const page = search.page ?? 1;
  return (
    <div className="flex flex-col gap-3 p-4">
      <div className="flex items-center justify-between">
        <h1 className="text-xl font-semibold">Traces</h1>
        <details className="relative">
          <summary className="cursor-pointer rounded border border-slate-300 bg-white px-2 py-1 text-sm">Columns</summary>
          <div className="absolute right-0 z-10 mt-1 flex w-44 flex-col gap-1 rounded border border-slate-200 bg-white p-2 shadow">
            {table.getAllLeafColumns().map((col) => (
              <label key={col.id} className="flex items-center gap-2 text-sm">
                <input
                  type="checkbox"
                  checked={!hidden.has(col.id)}
                  onChange={() => {
                    const next = new Set(hidden);
                    if (next.has(col.id)) next.delete(col.id);
                    else next.add(col.id);
                    apply({ hide: [...next].join(",") || undefined });
                  }}
                />
                {String(col.columnDef.header)}
              </label>
            ))}
          </div>
        </details>
      </div>
      <FilterBar key={JSON.stringify(search)} search={search} apply={apply} />
      {traces.error && <p className="text-sm text-red-700">{traces.error.message}</p>}
      <div className="overflow-x-auto rounded-lg border border-slate-200 bg-white">
        <table className="w-full text-sm" data-testid="traces-table">
          <thead className="bg-slate-50 text-left text-xs text-slate-600">
            {table.getHeaderGroups().map((group) => (
              <tr key={group.id}>
                {group.headers.map((header) => {
                  const sortable = SORTABLE.has(header.column.id);
                  const sorted = header.column.getIsSorted();
                  return (
                    <th key={header.id} className="whitespace-nowrap px-3 py-2 font-medium">
                      <button
                        disabled={!sortable}
                        className="flex items-center gap-1 disabled:cursor-default"
                        onClick={header.column.getToggleSortingHandler()}
                      >
                        {flexRender(header.column.columnDef.header, header.getContext())}
                        {sorted === "asc" && <ArrowUp className="size-3" />}
                        {sorted === "desc" && <ArrowDown className="size-3" />}
                      </button>
                    </th>
                  );
                })}
              </tr>
            ))}
          </thead>
          <tbody>
            {table.getRowModel().rows.map((row) => (
              <tr key={row.id} data-testid="trace-row" className="border-t border-slate-100 hover:bg-slate-50">
                {row.getVisibleCells().map((cell) => (
                  <td key={cell.id} className="px-3 py-1.5 align-top">
                    {flexRender(cell.column.columnDef.cell, cell.getContext())}
                  </td>
                ))}
              </tr>
            ))}
            {traces.isSuccess && traces.data.data.length === 0 && (
              <tr>
                <td colSpan={columns.length} className="px-3 py-8 text-center text-slate-500">
                  No traces match. Send some with an SDK (see API keys), or change the filters.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <div className="flex items-center justify-end gap-2 text-sm">
        <span className="text-slate-600">
          {meta ? `${meta.totalItems.toLocaleString("en-US")} traces · page ${meta.page} of ${Math.max(1, meta.totalPages)}` : ""}
        </span>
        <select
          aria-label="Rows per page"
          className="h-7 rounded border border-slate-300 bg-white text-sm"
          value={search.limit ?? 50}
          onChange={(event) => apply({ limit: Number(event.target.value), page: undefined })}
        >
          {[25, 50, 100].map((limit) => (
            <option key={limit} value={limit}>
              {limit} / page
            </option>
          ))}
        </select>
        <Button variant="secondary" size="sm" disabled={page <= 1} onClick={() => apply({ page: page - 1 > 1 ? page - 1 : undefined })}>
          Previous
        </Button>
        <Button variant="secondary" size="sm" disabled={!meta || page >= meta.totalPages} onClick={() => apply({ page: page + 1 })}>
          Next
        </Button>
      </div>
    </div>
  );
}
