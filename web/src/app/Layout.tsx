import { useEffect } from "react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Link, Outlet, useNavigate, useParams } from "@tanstack/react-router";
import { DropdownMenu } from "radix-ui";
import { ChevronsUpDown, KeyRound, LayoutDashboard, ListTree, LogOut, MessagesSquare, Plus, Sparkles, Users } from "lucide-react";
import { api } from "../api/client";
import { SESSION_KEY, useSession } from "../features/auth/useSession";

/** The signed-in shell: sidebar with the project switcher and navigation. */
export function Layout() {
  const session = useSession();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const params = useParams({ strict: false }) as { projectId?: string };
  const signOut = useMutation({
    mutationFn: () => api("/auth/sign-out", { method: "POST" }),
    onSuccess: () => {
      queryClient.clear();
      queryClient.setQueryData(SESSION_KEY, null);
      navigate({ to: "/sign-in" });
    },
  });
  useEffect(() => {
    if (session.isSuccess && !session.data) navigate({ to: "/sign-in" });
  }, [session.isSuccess, session.data, navigate]);
  if (!session.data) {
    return <div className="p-6 text-sm text-slate-500">{session.error ? session.error.message : "Loading…"}</div>;
  }
  const projects = session.data.organizations.flatMap((org) => org.projects.map((project) => ({ ...project, org })));
  const current = projects.find((project) => project.id === params.projectId);
  const projectId = current?.id;
  const navLink = "flex items-center gap-2 rounded px-2 py-1.5 text-sm text-slate-700 hover:bg-slate-100";
  const active = { className: "bg-slate-100 font-medium text-slate-900" };
  return (
    <div className="flex h-full">
      <aside className="flex w-56 shrink-0 flex-col border-r border-slate-200 bg-white">
        <div className="px-3 py-3 text-base font-semibold tracking-tight">glassbox</div>
        <DropdownMenu.Root>
          <DropdownMenu.Trigger
            data-testid="project-switcher"
            className="mx-2 flex items-center justify-between rounded border border-slate-200 px-2 py-1.5 text-left text-sm hover:bg-slate-50"
          >
            <span className="truncate">
              {current ? (
                <>
                  <span className="block text-xs text-slate-500">{current.org.name}</span>
                  {current.name}
                </>
              ) : (
                "Select a project"
              )}
            </span>
            <ChevronsUpDown className="size-4 text-slate-400" />
          </DropdownMenu.Trigger>
          <DropdownMenu.Portal>
            <DropdownMenu.Content align="start" className="z-50 min-w-56 rounded-md border border-slate-200 bg-white p-1 shadow-md">
              {session.data.organizations.map((org) => (
                <DropdownMenu.Group key={org.id}>
                  <DropdownMenu.Label className="px-2 py-1 text-xs text-slate-500">{org.name}</DropdownMenu.Label>
                  {org.projects.map((project) => (
                    <DropdownMenu.Item
                      key={project.id}
                      className="cursor-pointer rounded px-2 py-1.5 text-sm outline-none data-[highlighted]:bg-slate-100"
                      onSelect={() => navigate({ to: "/project/$projectId/traces", params: { projectId: project.id } })}
                    >
                      {project.name}
                    </DropdownMenu.Item>
                  ))}
                </DropdownMenu.Group>
              ))}
              <DropdownMenu.Separator className="my-1 h-px bg-slate-200" />
              <DropdownMenu.Item
                className="flex cursor-pointer items-center gap-1.5 rounded px-2 py-1.5 text-sm outline-none data-[highlighted]:bg-slate-100"
                onSelect={() => navigate({ to: "/projects" })}
              >
                <Plus className="size-4" /> Organizations and projects
              </DropdownMenu.Item>
            </DropdownMenu.Content>
          </DropdownMenu.Portal>
        </DropdownMenu.Root>
        <nav className="mt-3 flex flex-col gap-0.5 px-2">
          {projectId && (
            <>
              <Link to="/project/$projectId/dashboard" params={{ projectId }} className={navLink} activeProps={active}>
                <LayoutDashboard className="size-4" /> Dashboard
              </Link>
              <Link to="/project/$projectId/traces" params={{ projectId }} className={navLink} activeProps={active}>
                <ListTree className="size-4" /> Traces
              </Link>
              <Link to="/project/$projectId/generations" params={{ projectId }} className={navLink} activeProps={active}>
                <Sparkles className="size-4" /> Generations
              </Link>
              <Link to="/project/$projectId/sessions" params={{ projectId }} className={navLink} activeProps={active}>
                <MessagesSquare className="size-4" /> Sessions
              </Link>
              <Link to="/project/$projectId/users" params={{ projectId }} className={navLink} activeProps={active}>
                <Users className="size-4" /> Users
              </Link>
              <Link to="/project/$projectId/settings/api-keys" params={{ projectId }} className={navLink} activeProps={active}>
                <KeyRound className="size-4" /> API keys
              </Link>
            </>
          )}
        </nav>
        <div className="mt-auto border-t border-slate-200 p-3 text-sm">
          <div className="truncate font-medium">{session.data.user.name}</div>
          <div className="truncate text-xs text-slate-500">{session.data.user.email}</div>
          <button className="mt-2 flex items-center gap-1 text-xs text-slate-600 hover:text-slate-900" onClick={() => signOut.mutate()}>
            <LogOut className="size-3.5" /> Sign out
          </button>
        </div>
      </aside>
      <main className="min-w-0 flex-1 overflow-auto">
        <Outlet />
      </main>
    </div>
  );
}

/** `/`: the first project's traces, or the projects page when there is none. */
export function HomeRedirect() {
  const session = useSession();
  const navigate = useNavigate();
  useEffect(() => {
    if (!session.isSuccess) return;
    if (!session.data) {
      navigate({ to: "/sign-in", replace: true });
      return;
    }
    const first = session.data.organizations.flatMap((org) => org.projects)[0];
    if (first) navigate({ to: "/project/$projectId/dashboard", params: { projectId: first.id }, replace: true });
    else navigate({ to: "/projects", replace: true });
  }, [session.isSuccess, session.data, navigate]);
  return <div className="p-6 text-sm text-slate-500">Loading…</div>;
}
