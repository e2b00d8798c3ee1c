import { useQuery } from "@tanstack/react-query";
import { Link, useNavigate } from "@tanstack/react-router";
import { useState } from "react";
import { api, type PageMeta, type TraceRow } from "../../api/client";
import { Button } from "../../components/ui/button";
import { Input } from "../../components/ui/input";
import { formatCost, formatTime, formatTokens } from "../../lib/format";

export type UserRow = {
  userId: string;
  traceCount: number;
  sessionCount: number;
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
  totalCost: number;
  firstSeen: number;
  lastSeen: number;
};
type UserSession = { sessionId: string; traceCount: number; firstSeen: number; lastSeen: number };

export type UsersSearch = { page?: number; orderBy?: string; search?: string };

export const USER_ORDERS = ["lastSeen.desc", "lastSeen.asc", "totalCost.desc", "totalCost.asc"] as const;

export function validateUsersSearch(raw: Record<string, unknown>): UsersSearch {
  const search: UsersSearch = {};
  const page = Number(raw.page);
  if (Number.isInteger(page) && page > 1) search.page = page;
  if (typeof raw.orderBy === "string" && (USER_ORDERS as readonly string[]).includes(raw.orderBy)) search.orderBy = raw.orderBy;
  if (typeof raw.search === "string" && raw.search.trim()) search.search = raw.search.trim();
  return search;
}

/** The next sort when a column header is clicked: descending first, then ascending. */
export function nextOrder(current: string | undefined, column: "lastSeen" | "totalCost"): string {
  return current === `${column}.desc` ? `${column}.asc` : `${column}.desc`;
}

function usersQuery(search: UsersSearch): string {
  const params = new URLSearchParams({ page: String(search.page ?? 1), limit: "50" });
  if (search.orderBy) params.set("orderBy", search.orderBy);
  if (search.search) params.set("search", search.search);
  return params.toString();
}

export function UsersPage({ projectId, search }: { projectId: string; search: UsersSearch }) {
  const navigate = useNavigate();
  const [text, setText] = useState(search.search ?? "");
  const users = useQuery({
    queryKey: ["users", projectId, search],
    queryFn: () => api<{ data: UserRow[]; meta: PageMeta }>(`/projects/${projectId}/users?${usersQuery(search)}`),
  });
  const go = (next: UsersSearch) => navigate({ to: "/project/$projectId/users", params: { projectId }, search: next });
  const order = search.orderBy ?? "lastSeen.desc";
  const arrow = (column: string) => (order.startsWith(column) ? (order.endsWith("desc") ? " ↓" : " ↑") : "");
  const meta = users.data?.meta;
  const page = search.page ?? 1;
  return (
    <div className="p-4">
      <h1 className="mb-3 text-xl font-semibold">Users</h1>
      <form
        className="mb-3 flex items-end gap-2"
        onSubmit={(event) => {
          event.preventDefault();
          go({ ...search, search: text.trim() || undefined, page: undefined });
        }}
      >
        <Input aria-label="Search user id" placeholder="Search user id" value={text} onChange={(event) => setText(event.target.value)} />
        <Button type="submit" variant="secondary">
          Search
        </Button>
      </form>
      <table className="w-full rounded-lg border border-slate-200 bg-white text-sm">
        <thead className="bg-slate-50 text-left text-xs text-slate-600">
          <tr>
            <th className="px-3 py-2">User</th>
            <th className="px-3 py-2 text-right">Traces</th>
            <th className="px-3 py-2 text-right">Total tokens</th>
            <th className="px-3 py-2 text-right">
              <button onClick={() => go({ ...search, orderBy: nextOrder(search.orderBy, "totalCost"), page: undefined })}>Total cost{arrow("totalCost")}</button>
            </th>
            <th className="px-3 py-2">First seen</th>
            <th className="px-3 py-2">
              <button onClick={() => go({ ...search, orderBy: nextOrder(order, "lastSeen"), page: undefined })}>Last seen{arrow("lastSeen")}</button>
            </th>
          </tr>
        </thead>
        <tbody>
          {users.data?.data.map((user) => (
            <tr key={user.userId} data-testid="user-row" className="border-t border-slate-100">
              <td className="px-3 py-1.5">
                <Link to="/project/$projectId/users/$userId" params={{ projectId, userId: user.userId }} className="text-blue-700 hover:underline">
                  {user.userId}
                </Link>
              </td>
              <td className="px-3 py-1.5 text-right">{user.traceCount.toLocaleString("en-US")}</td>
              <td className="px-3 py-1.5 text-right">{formatTokens(user.totalTokens)}</td>
              <td className="px-3 py-1.5 text-right" data-testid="user-cost">
                {formatCost(user.totalCost)}
              </td>
              <td className="px-3 py-1.5">{formatTime(user.firstSeen)}</td>
              <td className="px-3 py-1.5">{formatTime(user.lastSeen)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {users.data && users.data.data.length === 0 && <p className="mt-2 text-sm text-slate-500">No users yet: traces with a userId appear here.</p>}
      {users.error && <p className="mt-2 text-sm text-red-700">{users.error.message}</p>}
      {meta && meta.totalPages > 1 && (
        <div className="mt-2 flex items-center justify-end gap-2 text-sm">
          <span className="text-slate-500">
            Page {page} of {meta.totalPages}
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

function Stat({ label, value, testId }: { label: string; value: string; testId?: string }) {
  return (
    <div className="rounded-lg border border-slate-200 bg-white px-4 py-3">
      <div className="text-xs text-slate-500">{label}</div>
      <div className="text-base font-semibold" data-testid={testId}>
        {value}
      </div>
    </div>
  );
}

/** One user: totals, sessions and their traces (newest first). */
export function UserPage({ projectId, userId }: { projectId: string; userId: string }) {
  const user = useQuery({
    queryKey: ["user", projectId, userId],
    queryFn: () => api<UserRow & { sessions: UserSession[] }>(`/projects/${projectId}/users/${encodeURIComponent(userId)}`),
  });
  const traces = useQuery({
    queryKey: ["user-traces", projectId, userId],
    queryFn: () =>
      api<{ data: TraceRow[]; meta: PageMeta }>(`/projects/${projectId}/traces?${new URLSearchParams({ userId, limit: "50" })}`),
  });
  if (user.error) return <p className="p-6 text-sm text-red-700">{user.error.message}</p>;
  if (!user.data) return <p className="p-6 text-sm text-slate-500">Loading…</p>;
  const data = user.data;
  return (
    <div className="flex flex-col gap-4 p-4">
      <h1 className="text-xl font-semibold" data-testid="user-title">
        User {userId}
      </h1>
      <div className="grid grid-cols-2 gap-3 md:grid-cols-6">
        <Stat label="Traces" value={data.traceCount.toLocaleString("en-US")} testId="user-trace-count" />
        <Stat label="Sessions" value={data.sessionCount.toLocaleString("en-US")} />
        <Stat label="Total tokens" value={formatTokens(data.totalTokens)} testId="user-total-tokens" />
        <Stat label="Total cost" value={formatCost(data.totalCost)} testId="user-total-cost" />
        <Stat label="First seen" value={formatTime(data.firstSeen)} />
        <Stat label="Last seen" value={formatTime(data.lastSeen)} />
      </div>
      <section>
        <h2 className="mb-2 font-medium">Sessions</h2>
        {data.sessions.length === 0 ? (
          <p className="text-sm text-slate-500">No sessions.</p>
        ) : (
          <ul className="flex flex-wrap gap-2 text-sm">
            {data.sessions.map((session) => (
              <li key={session.sessionId} className="rounded border border-slate-200 bg-white px-2 py-1">
                <Link to="/project/$projectId/sessions/$sessionId" params={{ projectId, sessionId: session.sessionId }} className="text-blue-700 hover:underline">
                  {session.sessionId}
                </Link>{" "}
                <span className="text-xs text-slate-500">{session.traceCount} traces</span>
              </li>
            ))}
          </ul>
        )}
      </section>
      <section>
        <h2 className="mb-2 font-medium">Traces</h2>
        <table className="w-full rounded-lg border border-slate-200 bg-white text-sm">
          <thead className="bg-slate-50 text-left text-xs text-slate-600">
            <tr>
              <th className="px-3 py-2">Time</th>
              <th className="px-3 py-2">Name</th>
              <th className="px-3 py-2">Session</th>
              <th className="px-3 py-2 text-right">Tokens</th>
              <th className="px-3 py-2 text-right">Cost</th>
            </tr>
          </thead>
          <tbody>
            {traces.data?.data.map((trace) => (
              <tr key={trace.id} data-testid="user-trace" className="border-t border-slate-100">
                <td className="px-3 py-1.5">{formatTime(trace.timestamp)}</td>
                <td className="px-3 py-1.5">
                  <Link to="/project/$projectId/traces/$traceId" params={{ projectId, traceId: trace.id }} className="text-blue-700 hover:underline">
                    {trace.name ?? trace.id}
                  </Link>
                </td>
                <td className="px-3 py-1.5">{trace.sessionId ?? "–"}</td>
                <td className="px-3 py-1.5 text-right">{formatTokens(trace.totalTokens)}</td>
                <td className="px-3 py-1.5 text-right">{formatCost(trace.totalCost)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {traces.data && traces.data.meta.totalItems > traces.data.data.length && (
          <Link to="/project/$projectId/traces" params={{ projectId }} search={{ userId }} className="mt-2 inline-block text-sm text-blue-700 hover:underline">
            All {traces.data.meta.totalItems} traces of this user
          </Link>
        )}
      </section>
    </div>
  );
}
