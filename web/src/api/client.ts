// The fetch wrapper of /api/ui/v1: same-origin cookies, the CSRF header on unsafe
// methods, and errors as exceptions with the server's message.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function csrfToken(): string {
  const match = document.cookie.match(/(?:^|;\s*)glassbox_csrf=([^;]*)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const method = init.method ?? "GET";
  const headers: Record<string, string> = { accept: "application/json" };
  if (init.body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET") headers["x-csrf-token"] = csrfToken();
  const response = await fetch(`/api/ui/v1${path}`, {
    method,
    headers,
    credentials: "same-origin",
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await response.text();
  const json = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const message = (json && typeof json.message === "string" && json.message) || response.statusText;
    throw new ApiError(response.status, message.replace(/ Confirm that you've configured the correct host\.$/, ""));
  }
  return json as T;
}

export type Project = { id: string; name: string };
export type Organization = { id: string; name: string; role: string; projects: Project[] };
export type Session = {
  user: { id: string; email: string; name: string };
  csrfToken: string;
  organizations: Organization[];
};

export type PageMeta = { page: number; limit: number; totalItems: number; totalPages: number };

export type TraceRow = {
  id: string;
  timestamp: number;
  name: string | null;
  userId: string | null;
  sessionId: string | null;
  tags: string[];
  environment: string;
  level: string | null;
  latency: number;
  totalCost: number;
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
  observationCount: number;
  scores: Record<string, number>;
};

export type ApiKey = {
  id: string;
  publicKey: string;
  displaySecretKey: string;
  note: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  secretKey?: string;
};
