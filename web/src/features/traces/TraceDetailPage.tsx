import { useEffect, useMemo, useRef, useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { Link, useNavigate } from "@tanstack/react-router";
import { useVirtualizer } from "@tanstack/react-virtual";
import { ChevronDown, ChevronRight } from "lucide-react";
import { api } from "../../api/client";
import { Badge, LevelBadge } from "../../components/ui/badge";
import { cn, formatCost, formatSeconds, formatTime, formatTokens } from "../../lib/format";
import { bar, buildTree, pathTo, rollup, timelineSpan, traceTotals, visibleRows, type ObservationNode } from "./model/tree";
import { IoView, ObservationPanel, type Score } from "./ObservationPanel";

type TraceDetail = {
  trace: {
    id: string;
    name: string | null;
    timestampMs: number;
    userId: string | null;
    sessionId: string | null;
    tags: string[];
    environment: string;
    input: unknown;
    output: unknown;
    metadata: Record<string, unknown>;
    latency: number;
    totalCost: number;
  };
  observations: ObservationNode[];
  scores: Score[];
};

const ROW_HEIGHT = 28;
const TYPE_COLOURS: Record<string, string> = {
  GENERATION: "bg-violet-500",
  SPAN: "bg-blue-500",
  EVENT: "bg-emerald-500",
  TOOL: "bg-amber-500",
  AGENT: "bg-pink-500",
};

export function TraceDetailPage({ projectId, traceId, observationId }: { projectId: string; traceId: string; observationId?: string }) {
  const navigate = useNavigate();
  const detail = useQuery({
    queryKey: ["trace", projectId, traceId],
    queryFn: () => api<TraceDetail>(`/projects/${projectId}/traces/${encodeURIComponent(traceId)}`),
  });
  const [collapsed, setCollapsed] = useState<ReadonlySet<string>>(new Set());
  const model = useMemo(() => {
    if (!detail.data) return null;
    const tree = buildTree(detail.data.observations);
    const sums = rollup(tree);
    return {
      tree,
      sums,
      totals: traceTotals(tree, sums),
      span: timelineSpan(tree.byId.values(), detail.data.trace.timestampMs),
    };
  }, [detail.data]);
  const rows = useMemo(() => (model ? visibleRows(model.tree, collapsed) : []), [model, collapsed]);
  const scrollRef = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 20,
  });

  // A deep link to an observation: expand its ancestors and scroll it into view.
  const scrolledTo = useRef<string | null>(null);
  useEffect(() => {
    if (!model || !observationId || scrolledTo.current === observationId) return;
    const ancestors = pathTo(model.tree, observationId).slice(0, -1);
    if (ancestors.some((id) => collapsed.has(id))) {
      setCollapsed(new Set([...collapsed].filter((id) => !ancestors.includes(id))));
      return;
    }
    const index = rows.findIndex((row) => row.id === observationId);
    if (index >= 0) {
      scrolledTo.current = observationId;
      virtualizer.scrollToIndex(index, { align: "center" });
    }
  }, [model, observationId, rows, collapsed, virtualizer]);

  if (detail.error) return <p className="p-6 text-sm text-red-700">{detail.error.message}</p>;
  if (!detail.data || !model) return <p className="p-6 text-sm text-slate-500">Loading trace…</p>;
  const { trace, scores } = detail.data;
  const select = (id: string | undefined) =>
    navigate({
      to: "/project/$projectId/traces/$traceId",
      params: { projectId, traceId },
      search: id ? { observation: id } : {},
      replace: true,
    });
  const toggle = (id: string) => {
    const next = new Set(collapsed);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setCollapsed(next);
  };
  const traceScores = scores.filter((score) => !score.observationId);

  return (
    <div className="flex h-full flex-col">
      <header className="flex flex-wrap items-center gap-x-4 gap-y-1 border-b border-slate-200 bg-white px-4 py-2">
        <Link to="/project/$projectId/traces" params={{ projectId }} className="text-sm text-blue-700 hover:underline">
          ← Traces
        </Link>
        <h1 className="text-lg font-semibold" data-testid="trace-title">
          <button onClick={() => select(undefined)} className="hover:underline">
            {trace.name ?? trace.id}
          </button>
        </h1>
        <span className="text-xs text-slate-500">{formatTime(trace.timestampMs)}</span>
        <span className="text-xs">Latency {formatSeconds(trace.latency)}</span>
        <span className="text-xs">Cost {formatCost(model.totals.cost)}</span>
        <span className="text-xs">Tokens {formatTokens(model.totals.tokens)}</span>
        <span className="text-xs" data-testid="observation-count">
          {model.totals.count.toLocaleString("en-US")} observations
        </span>
        {trace.userId && <span className="text-xs">User {trace.userId}</span>}
        {trace.sessionId && (
          <Link to="/project/$projectId/sessions/$sessionId" params={{ projectId, sessionId: trace.sessionId }} className="text-xs text-blue-700 hover:underline">
            Session {trace.sessionId}
          </Link>
        )}
        {trace.tags.map((tag) => (
          <Badge key={tag} className="bg-blue-50 text-blue-800">
            {tag}
          </Badge>
        ))}
        {traceScores.map((score) => (
          <Badge key={score.id} className="bg-emerald-50 text-emerald-800">
            {score.name}: {score.stringValue ?? score.value}
          </Badge>
        ))}
      </header>
      <div className="flex min-h-0 flex-1">
        <div className="flex min-w-0 flex-[3] flex-col border-r border-slate-200">
          <div className="flex border-b border-slate-200 bg-slate-50 text-xs text-slate-600">
            <div className="w-[45%] shrink-0 px-2 py-1">Observation</div>
            <div className="flex flex-1 justify-between px-2 py-1">
              <span>0 s</span>
              <span>{formatSeconds(model.span.duration / 1000)}</span>
            </div>
          </div>
          <div ref={scrollRef} className="min-h-0 flex-1 overflow-auto" data-testid="observation-tree">
            <div style={{ height: virtualizer.getTotalSize(), position: "relative" }}>
              {virtualizer.getVirtualItems().map((item) => {
                const row = rows[item.index];
                const node = model.tree.byId.get(row.id)!;
                const geometry = bar(node, model.span);
                const sum = model.sums.get(row.id)!;
                const selected = row.id === observationId;
                return (
                  <div
                    key={row.id}
                    data-testid="observation-row"
                    data-observation-id={row.id}
                    data-index={item.index}
                    className={cn("absolute left-0 flex w-full cursor-pointer items-center text-sm hover:bg-slate-50", selected && "bg-blue-50 hover:bg-blue-50")}
                    style={{ height: ROW_HEIGHT, transform: `translateY(${item.start}px)` }}
                    onClick={() => select(row.id)}
                  >
                    <div className="flex w-[45%] shrink-0 items-center gap-1 overflow-hidden pr-2" style={{ paddingLeft: Math.min(row.depth, 40) * 14 + 4 }}>
                      {row.hasChildren ? (
                        <button
                          aria-label={row.collapsed ? "Expand" : "Collapse"}
                          className="rounded p-0.5 hover:bg-slate-200"
                          onClick={(event) => {
                            event.stopPropagation();
                            toggle(row.id);
                          }}
                        >
                          {row.collapsed ? <ChevronRight className="size-3.5" /> : <ChevronDown className="size-3.5" />}
                        </button>
                      ) : (
                        <span className="w-[18px] shrink-0" />
                      )}
                      <span className={cn("size-2 shrink-0 rounded-full", TYPE_COLOURS[node.type] ?? "bg-slate-400")} />
                      <span className="truncate">{node.name ?? node.id}</span>
                      {node.level === "ERROR" || node.level === "WARNING" ? <LevelBadge level={node.level} /> : null}
                      {sum.cost > 0 && <span className="ml-auto shrink-0 pl-1 text-xs text-slate-500">{formatCost(sum.cost)}</span>}
                    </div>
                    <div className="relative h-full flex-1 border-l border-slate-100">
                      <div
                        className={cn("absolute top-1/2 h-3 -translate-y-1/2 rounded-sm opacity-80", TYPE_COLOURS[node.type] ?? "bg-slate-400")}
                        style={{ left: `${geometry.left * 100}%`, width: `${geometry.width * 100}%` }}
                        title={`${node.name ?? node.id}: ${formatSeconds(node.endTime != null ? (node.endTime - node.startTime) / 1000 : null)}`}
                      >
                        {geometry.firstToken != null && (
                          <span className="absolute top-0 h-full w-px bg-white" style={{ left: `${geometry.firstToken * 100}%` }} />
                        )}
                      </div>
                    </div>
                  </div>
                );
              })}
            </div>
          </div>
        </div>
        <div className="min-w-0 flex-[2] overflow-auto bg-slate-50">
          {observationId ? (
            <ObservationPanel key={observationId} projectId={projectId} observationId={observationId} scores={scores} />
          ) : (
            <div className="flex flex-col gap-4 p-4">
              <h2 className="text-lg font-semibold">Trace</h2>
              <IoView title="Input" value={trace.input} />
              <IoView title="Output" value={trace.output} />
              {Object.keys(trace.metadata ?? {}).length > 0 && <IoView title="Metadata" value={trace.metadata} />}
            </div>
          )}
        </div>
      </div>
    </div>
  );
}
