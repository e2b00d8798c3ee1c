import { useQuery } from "@tanstack/react-query";
import { Link } from "@tanstack/react-router";
import { api, type PageMeta } from "../../api/client";
import { Button } from "../../components/ui/button";
import { LevelBadge } from "../../components/ui/badge";
import { formatTime, formatTokens } from "../../lib/format";
import { IoView } from "../traces/ObservationPanel";

type SessionItem = { id: string; createdAt: string; environment: string };
type SessionTrace = {
  id: string;
  name: string | null;
  timestampMs: number;
  userId: string | null;
  input: unknown;
  output: unknown;
  totalTokens?: number;
  level?: string | null;
};

export function SessionsPage({ projectId, page }: { projectId: string; page: number }) {
  const sessions = useQuery({
    queryKey: ["sessions", projectId, page],
    queryFn: () => api<{ data: SessionItem[]; meta: PageMeta }>(`/projects/${projectId}/sessions?page=${page}&limit=50`),
  });
  const meta = sessions.data?.meta;
  return (
    <div className="p-4">
      <h1 className="mb-3 text-xl font-semibold">Sessions</h1>
      <table className="w-full rounded-lg border border-slate-200 bg-white text-sm">
        <thead className="bg-slate-50 text-left text-xs text-slate-600">
          <tr>
            <th className="px-3 py-2">Session</th>
            <th className="px-3 py-2">Created</th>
            <th className="px-3 py-2">Environment</th>
          </tr>
        </thead>
        <tbody>
          {sessions.data?.data.map((session) => (
            <tr key={session.id} className="border-t border-slate-100">
              <td className="px-3 py-1.5">
                <Link to="/project/$projectId/sessions/$sessionId" params={{ projectId, sessionId: session.id }} className="text-blue-700 hover:underline">
                  {session.id}
                </Link>
              </td>
              <td className="px-3 py-1.5">{formatTime(Date.parse(session.createdAt))}</td>
              <td className="px-3 py-1.5">{session.environment}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {sessions.error && <p className="mt-2 text-sm text-red-700">{sessions.error.message}</p>}
      {meta && meta.totalPages > 1 && (
        <div className="mt-2 flex justify-end gap-2">
          <Link to="/project/$projectId/sessions" params={{ projectId }} search={{ page: page - 1 }} disabled={page <= 1}>
            <Button variant="secondary" size="sm" disabled={page <= 1}>
              Previous
            </Button>
          </Link>
          <Link to="/project/$projectId/sessions" params={{ projectId }} search={{ page: page + 1 }} disabled={page >= meta.totalPages}>
            <Button variant="secondary" size="sm" disabled={page >= meta.totalPages}>
              Next
            </Button>
          </Link>
        </div>
      )}
    </div>
  );
}

/** The session's traces in order: the conversation replayed turn by turn. */
export function SessionPage({ projectId, sessionId }: { projectId: string; sessionId: string }) {
  const session = useQuery({
    queryKey: ["session", projectId, sessionId],
    queryFn: () => api<SessionItem & { traces: SessionTrace[] }>(`/projects/${projectId}/sessions/${encodeURIComponent(sessionId)}`),
  });
  if (session.error) return <p className="p-6 text-sm text-red-700">{session.error.message}</p>;
  if (!session.data) return <p className="p-6 text-sm text-slate-500">Loading…</p>;
  return (
    <div className="mx-auto flex max-w-4xl flex-col gap-4 p-4">
      <h1 className="text-xl font-semibold" data-testid="session-title">
        Session {sessionId}
      </h1>
      <p className="text-sm text-slate-600">{session.data.traces.length} traces</p>
      {session.data.traces.map((trace, index) => (
        <article key={trace.id} data-testid="session-trace" className="flex flex-col gap-2 rounded-lg border border-slate-200 bg-white p-4">
          <header className="flex items-center gap-3 text-sm">
            <span className="text-slate-500">#{index + 1}</span>
            <Link to="/project/$projectId/traces/$traceId" params={{ projectId, traceId: trace.id }} className="font-medium text-blue-700 hover:underline">
              {trace.name ?? trace.id}
            </Link>
            <span className="text-xs text-slate-500">{formatTime(trace.timestampMs)}</span>
            {trace.userId && <span className="text-xs">User {trace.userId}</span>}
            {trace.totalTokens ? <span className="text-xs">{formatTokens(trace.totalTokens)} tokens</span> : null}
            <LevelBadge level={trace.level === "ERROR" || trace.level === "WARNING" ? trace.level : null} />
          </header>
          <IoView title="Input" value={trace.input} />
          <IoView title="Output" value={trace.output} />
        </article>
      ))}
    </div>
  );
}
