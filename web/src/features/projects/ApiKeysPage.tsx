import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Copy } from "lucide-react";
import { api, type ApiKey } from "../../api/client";
import { Button } from "../../components/ui/button";
import { Input } from "../../components/ui/input";
import { snippets } from "./snippets";

function CodeBlock({ title, code }: { title: string; code: string }) {
  return (
    <div className="rounded-md border border-slate-200">
      <div className="flex items-center justify-between border-b border-slate-200 bg-slate-50 px-3 py-1.5 text-xs font-medium">
        {title}
        <button className="flex items-center gap-1 text-slate-600 hover:text-slate-900" onClick={() => navigator.clipboard?.writeText(code)}>
          <Copy className="size-3.5" /> Copy
        </button>
      </div>
      <pre className="overflow-x-auto p-3 font-mono text-xs">{code}</pre>
    </div>
  );
}

export function ApiKeysPage({ projectId }: { projectId: string }) {
  const queryClient = useQueryClient();
  const [note, setNote] = useState("");
  const [created, setCreated] = useState<ApiKey | null>(null);
  const keysKey = ["api-keys", projectId];
  const keys = useQuery({ queryKey: keysKey, queryFn: () => api<{ data: ApiKey[] }>(`/projects/${projectId}/api-keys`) });
  const create = useMutation({
    mutationFn: () => api<ApiKey>(`/projects/${projectId}/api-keys`, { method: "POST", body: { note } }),
    onSuccess: (key) => {
      setCreated(key);
      setNote("");
      return queryClient.invalidateQueries({ queryKey: keysKey });
    },
  });
  const revoke = useMutation({
    mutationFn: (id: string) => api(`/projects/${projectId}/api-keys/${id}`, { method: "DELETE" }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: keysKey }),
  });
  const host = window.location.origin;
  return (
    <div className="mx-auto max-w-4xl p-6">
      <h1 className="mb-4 text-xl font-semibold">API keys</h1>
      <form
        className="mb-4 flex gap-2"
        onSubmit={(event) => {
          event.preventDefault();
          create.mutate();
        }}
      >
        <Input placeholder="Note (optional)" value={note} onChange={(event) => setNote(event.target.value)} />
        <Button type="submit" disabled={create.isPending}>
          Create new API key
        </Button>
      </form>
      {create.error && <p className="mb-4 text-sm text-red-700">{create.error.message}</p>}
      {created?.secretKey && (
        <section data-testid="new-key" className="mb-6 flex flex-col gap-3 rounded-lg border border-amber-300 bg-amber-50 p-4">
          <p className="text-sm font-medium">Copy the secret key now: it is shown only once.</p>
          <dl className="grid grid-cols-[8rem_1fr] gap-1 font-mono text-sm">
            <dt className="font-sans text-slate-600">Public key</dt>
            <dd data-testid="public-key">{created.publicKey}</dd>
            <dt className="font-sans text-slate-600">Secret key</dt>
            <dd data-testid="secret-key">{created.secretKey}</dd>
            <dt className="font-sans text-slate-600">Host</dt>
            <dd>{host}</dd>
          </dl>
          {snippets({ host, publicKey: created.publicKey, secretKey: created.secretKey }).map((snippet) => (
            <CodeBlock key={snippet.title} {...snippet} />
          ))}
        </section>
      )}
      <table className="w-full overflow-hidden rounded-lg border border-slate-200 bg-white text-sm">
        <thead className="bg-slate-50 text-left text-xs text-slate-600">
          <tr>
            <th className="px-3 py-2">Public key</th>
            <th className="px-3 py-2">Secret key</th>
            <th className="px-3 py-2">Note</th>
            <th className="px-3 py-2">Created</th>
            <th className="px-3 py-2">Last used</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {keys.data?.data.map((key) => (
            <tr key={key.id} className="border-t border-slate-100">
              <td className="px-3 py-2 font-mono text-xs">{key.publicKey}</td>
              <td className="px-3 py-2 font-mono text-xs">{key.displaySecretKey}</td>
              <td className="px-3 py-2">{key.note}</td>
              <td className="px-3 py-2 text-xs">{key.createdAt.slice(0, 19).replace("T", " ")}</td>
              <td className="px-3 py-2 text-xs">{key.lastUsedAt?.slice(0, 19).replace("T", " ") ?? "never"}</td>
              <td className="px-3 py-2 text-right">
                <Button
                  variant="danger"
                  size="sm"
                  onClick={() => {
                    if (window.confirm(`Revoke ${key.publicKey}? Applications using it stop working.`)) revoke.mutate(key.id);
                  }}
                >
                  Revoke
                </Button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {keys.error && <p className="mt-2 text-sm text-red-700">{keys.error.message}</p>}
    </div>
  );
}
