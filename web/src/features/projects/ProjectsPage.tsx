import { useState } from "react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Link } from "@tanstack/react-router";
import { api, type Organization } from "../../api/client";
import { Button } from "../../components/ui/button";
import { Input } from "../../components/ui/input";
import { SESSION_KEY, useSession } from "../auth/useSession";

function NewProject({ org }: { org: Organization }) {
  const [name, setName] = useState("");
  const queryClient = useQueryClient();
  const create = useMutation({
    mutationFn: () => api<{ id: string }>(`/organizations/${org.id}/projects`, { method: "POST", body: { name } }),
    onSuccess: () => {
      setName("");
      return queryClient.invalidateQueries({ queryKey: SESSION_KEY });
    },
  });
  if (org.role !== "OWNER" && org.role !== "ADMIN") return null;
  return (
    <form
      className="mt-3 flex gap-2"
      onSubmit={(event) => {
        event.preventDefault();
        create.mutate();
      }}
    >
      <Input aria-label={`New project in ${org.name}`} placeholder="New project name" required value={name} onChange={(event) => setName(event.target.value)} />
      <Button type="submit" disabled={create.isPending}>
        Create project
      </Button>
      {create.error && <span className="text-sm text-red-700">{create.error.message}</span>}
    </form>
  );
}

export function ProjectsPage() {
  const session = useSession();
  const [orgName, setOrgName] = useState("");
  const queryClient = useQueryClient();
  const createOrg = useMutation({
    mutationFn: () => api("/organizations", { method: "POST", body: { name: orgName } }),
    onSuccess: () => {
      setOrgName("");
      return queryClient.invalidateQueries({ queryKey: SESSION_KEY });
    },
  });
  return (
    <div className="mx-auto max-w-3xl p-6">
      <h1 className="mb-4 text-xl font-semibold">Organizations and projects</h1>
      {session.data?.organizations.map((org) => (
        <section key={org.id} className="mb-4 rounded-lg border border-slate-200 bg-white p-4">
          <h2 className="font-medium">
            {org.name} <span className="text-xs font-normal text-slate-500">({org.role.toLowerCase()})</span>
          </h2>
          <ul className="mt-2 flex flex-col gap-1">
            {org.projects.map((project) => (
              <li key={project.id}>
                <Link to="/project/$projectId/traces" params={{ projectId: project.id }} className="text-sm text-blue-700 hover:underline">
                  {project.name}
                </Link>
              </li>
            ))}
            {org.projects.length === 0 && <li className="text-sm text-slate-500">No projects yet.</li>}
          </ul>
          <NewProject org={org} />
        </section>
      ))}
      <form
        className="flex gap-2"
        onSubmit={(event) => {
          event.preventDefault();
          createOrg.mutate();
        }}
      >
        <Input placeholder="New organization name" required value={orgName} onChange={(event) => setOrgName(event.target.value)} />
        <Button type="submit" variant="secondary" disabled={createOrg.isPending}>
          Create organization
        </Button>
      </form>
    </div>
  );
}
