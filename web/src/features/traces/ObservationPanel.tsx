import { useQuery } from "@tanstack/react-query";
import JsonView from "react18-json-view";
import "react18-json-view/src/style.css";
import { api } from "../../api/client";
import { Badge, LevelBadge } from "../../components/ui/badge";
import { formatCost, formatSeconds, formatTime, formatTokens } from "../../lib/format";
import { toChatMessages } from "./model/messages";

export type Score = {
  id: string;
  name: string;
  value: number;
  stringValue?: string | null;
  observationId: string | null;
  comment: string | null;
};

type ObservationDetail = {
  id: string;
  type: string;
  name: string | null;
  startTime: string;
  endTime: string | null;
  level: string;
  statusMessage: string | null;
  model: string | null;
  modelParameters: unknown;
  input: unknown;
  output: unknown;
  metadata: Record<string, unknown>;
  usageDetails: Record<string, number>;
  costDetails: Record<string, number>;
  calculatedTotalCost: number | null;
  latency: number | null;
  timeToFirstToken: number | null;
  promptName: string | null;
  promptVersion: number | null;
};

const ROLE_STYLE: Record<string, string> = {
  system: "bg-slate-100 border-slate-200",
  user: "bg-white border-slate-200",
  assistant: "bg-blue-50 border-blue-200",
  tool: "bg-amber-50 border-amber-200",
};

/** Input or output: a chat transcript when it is messages, collapsible JSON otherwise. */
export function IoView({ title, value }: { title: string; value: unknown }) {
  if (value === null || value === undefined) return null;
  const messages = toChatMessages(value);
  return (
    <section className="flex flex-col gap-1.5" data-testid={`io-${title.toLowerCase()}`}>
      <h3 className="text-xs font-semibold uppercase tracking-wide text-slate-500">{title}</h3>
      {messages ? (
        <div className="flex flex-col gap-1.5" data-testid="chat-transcript">
          {messages.map((message, index) => (
            <div key={index} className={`rounded-md border p-2 text-sm ${ROLE_STYLE[message.role] ?? ROLE_STYLE.user}`}>
              <div className="mb-1 text-xs font-semibold capitalize text-slate-600">{message.role}</div>
              <div className="whitespace-pre-wrap break-words" data-testid="chat-message">
                {message.text}
              </div>
              {message.extra != null && (
                <div className="mt-1 text-xs">
                  <JsonView src={message.extra} collapsed={1} />
                </div>
              )}
            </div>
          ))}
        </div>
      ) : typeof value === "string" ? (
        <pre className="whitespace-pre-wrap break-words rounded-md border border-slate-200 bg-white p-2 text-sm">{value}</pre>
      ) : (
        <div className="rounded-md border border-slate-200 bg-white p-2 text-xs">
          <JsonView src={value} collapsed={2} collapseStringsAfterLength={400} enableClipboard />
        </div>
      )}
    </section>
  );
}

function Stat({ label, value, testId }: { label: string; value: React.ReactNode; testId?: string }) {
  return (
    <div>
      <div className="text-xs text-slate-500">{label}</div>
      <div className="text-sm font-medium" data-testid={testId}>
        {value}
      </div>
    </div>
  );
}

export function ObservationPanel({ projectId, observationId, scores }: { projectId: string; observationId: string; scores: Score[] }) {
  const detail = useQuery({
    queryKey: ["observation", projectId, observationId],
    queryFn: () => api<ObservationDetail>(`/projects/${projectId}/observations/${encodeURIComponent(observationId)}`),
  });
  if (detail.error) return <p className="p-4 text-sm text-red-700">{detail.error.message}</p>;
  const observation = detail.data;
  if (!observation) return <p className="p-4 text-sm text-slate-500">Loading…</p>;
  const own = scores.filter((score) => score.observationId === observation.id);
  const cost = observation.calculatedTotalCost ?? observation.costDetails?.total ?? null;
  return (
    <div className="flex flex-col gap-4 p-4" data-testid="observation-panel">
      <header className="flex flex-col gap-1">
        <div className="flex items-center gap-2">
          <Badge className="bg-slate-100 text-slate-700">{observation.type}</Badge>
          <h2 className="truncate text-lg font-semibold">{observation.name ?? observation.id}</h2>
          <LevelBadge level={observation.level} />
        </div>
        <div className="text-xs text-slate-500">
          {formatTime(Date.parse(observation.startTime))} · {observation.id}
        </div>
        {observation.statusMessage && <p className="text-sm text-red-700">{observation.statusMessage}</p>}
      </header>
      <div className="grid grid-cols-3 gap-3 rounded-md border border-slate-200 bg-white p-3">
        <Stat label="Latency" value={formatSeconds(observation.latency)} />
        <Stat label="Time to first token" value={formatSeconds(observation.timeToFirstToken)} />
        <Stat label="Model" value={observation.model ?? "–"} />
        <Stat label="Input tokens" value={formatTokens(observation.usageDetails?.input)} />
        <Stat label="Output tokens" value={formatTokens(observation.usageDetails?.output)} />
        <Stat label="Total tokens" value={formatTokens(observation.usageDetails?.total)} />
        <Stat label="Cost" value={formatCost(cost)} testId="observation-cost" />
        {observation.promptName && <Stat label="Prompt" value={`${observation.promptName} v${observation.promptVersion ?? "?"}`} />}
      </div>
      {Object.keys(observation.costDetails ?? {}).length > 1 && (
        <div className="text-xs text-slate-600">
          Cost details:{" "}
          {Object.entries(observation.costDetails)
            .map(([key, value]) => `${key} ${formatCost(value)}`)
            .join(" · ")}
        </div>
      )}
      {own.length > 0 && (
        <div className="flex flex-wrap gap-1">
          {own.map((score) => (
            <Badge key={score.id} className="bg-emerald-50 text-emerald-800">
              {score.name}: {score.stringValue ?? score.value}
            </Badge>
          ))}
        </div>
      )}
      <IoView title="Input" value={observation.input} />
      <IoView title="Output" value={observation.output} />
      {observation.modelParameters != null && Object.keys(observation.modelParameters as object).length > 0 && (
        <IoView title="Model parameters" value={observation.modelParameters} />
      )}
      {Object.keys(observation.metadata ?? {}).length > 0 && <IoView title="Metadata" value={observation.metadata} />}
    </div>
  );
}
