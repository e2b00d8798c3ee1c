// Code-based routes (TanStack Router). Paths mirror Langfuse's, so its deep links
// (`/project/{id}/traces/{traceId}`, the public API's `htmlPath`) work here too.
import { createRootRoute, createRoute, createRouter, Outlet } from "@tanstack/react-router";
import { lazy, Suspense } from "react";
import { AuthPage } from "../features/auth/AuthPage";
import { ApiKeysPage } from "../features/projects/ApiKeysPage";
import { ProjectsPage } from "../features/projects/ProjectsPage";
import { SessionPage, SessionsPage } from "../features/sessions/SessionsPages";
import { TraceDetailPage } from "../features/traces/TraceDetailPage";
import { TracesPage } from "../features/traces/TracesPage";
import { validateTraceSearch } from "../features/traces/search";
import { GenerationsPage } from "../features/generations/GenerationsPage";
import { validateGenerationsSearch } from "../features/generations/search";
import { UserPage, UsersPage, validateUsersSearch } from "../features/users/UsersPages";
import { HomeRedirect, Layout } from "./Layout";

const rootRoute = createRootRoute({ component: Outlet });

const signInRoute = createRoute({ getParentRoute: () => rootRoute, path: "/sign-in", component: () => <AuthPage mode="sign-in" /> });
const signUpRoute = createRoute({ getParentRoute: () => rootRoute, path: "/sign-up", component: () => <AuthPage mode="sign-up" /> });
const homeRoute = createRoute({ getParentRoute: () => rootRoute, path: "/", component: HomeRedirect });

const shellRoute = createRoute({ getParentRoute: () => rootRoute, id: "shell", component: Layout });

const projectsRoute = createRoute({ getParentRoute: () => shellRoute, path: "/projects", component: ProjectsPage });

const tracesRoute = createRoute({
  getParentRoute: () => shellRoute,
  path: "/project/$projectId/traces",
  validateSearch: validateTraceSearch,
  component: function Traces() {
    const { projectId } = tracesRoute.useParams();
    return <TracesPage key={projectId} projectId={projectId} search={tracesRoute.useSearch()} />;
  },
});

const traceRoute = createRoute({
  getParentRoute: () => shellRoute,
  path: "/project/$projectId/traces/$traceId",
  validateSearch: (raw: Record<string, unknown>): { observation?: string } =>
    typeof raw.observation === "string" && raw.observation ? { observation: raw.observation } : {},
  component: function Trace() {
    const { projectId, traceId } = traceRoute.useParams();
    const { observation } = traceRoute.useSearch();
    return <TraceDetailPage key={`${projectId}/${traceId}`} projectId={projectId} traceId={traceId} observationId={observation} />;
  },
});

const sessionsRoute = createRoute({
  getParentRoute: () => shellRoute,
  path: "/project/$projectId/sessions",
  validateSearch: (raw: Record<string, unknown>): { page?: number } => {
    const page = Number(raw.page);
    return Number.isInteger(page) && page > 1 ? { page } : {};
  },
  component: function Sessions() {
    const { projectId } = sessionsRoute.useParams();
    return <SessionsPage projectId={projectId} page={sessionsRoute.useSearch().page ?? 1} />;
  },
});

const sessionRoute = createRoute({
  getParentRoute: () => shellRoute,
  path: "/project/$projectId/sessions/$sessionId",
  component: function Session() {
    const { projectId, sessionId } = sessionRoute.useParams();
    return <SessionPage projectId={projectId} sessionId={sessionId} />;
  },
});

// The dashboard (and ECharts with it) is a separate chunk, loaded when the route opens.
const DashboardPage = lazy(() => import("../features/dashboard/DashboardPage").then((module) => ({ default: module.DashboardPage })));

const dashboardRoute = createRoute({
  getParentRoute: () => shellRoute,
  path: "/project/$projectId/dashboard",
  validateSearch: (raw: Record<string, unknown>): { range?: string } => (typeof raw.range === "string" && raw.range ? { range: raw.range } : {}),
  component: function Dashboard() {
    const { projectId } = dashboardRoute.useParams();
    return (
      <Suspense fallback={<p className="p-6 text-sm text-slate-500">Loading…</p>}>
        <DashboardPage key={projectId} projectId={projectId} range={dashboardRoute.useSearch().range} />
      </Suspense>
    );
  },
});

const usersRoute = createRoute({
  getParentRoute: () => shellRoute,
  path: "/project/$projectId/users",
  validateSearch: validateUsersSearch,
  component: function Users() {
    const { projectId } = usersRoute.useParams();
    return <UsersPage key={projectId} projectId={projectId} search={usersRoute.useSearch()} />;
  },
});

const userRoute = createRoute({
  getParentRoute: () => shellRoute,
  path: "/project/$projectId/users/$userId",
  component: function User() {
    const { projectId, userId } = userRoute.useParams();
    return <UserPage key={`${projectId}/${userId}`} projectId={projectId} userId={userId} />;
  },
});

const generationsRoute = createRoute({
  getParentRoute: () => shellRoute,
  path: "/project/$projectId/generations",
  validateSearch: validateGenerationsSearch,
  component: function Generations() {
    const { projectId } = generationsRoute.useParams();
    return <GenerationsPage key={projectId} projectId={projectId} search={generationsRoute.useSearch()} />;
  },
});

const apiKeysRoute = createRoute({
  getParentRoute: () => shellRoute,
  path: "/project/$projectId/settings/api-keys",
  component: function ApiKeys() {
    const { projectId } = apiKeysRoute.useParams();
    return <ApiKeysPage key={projectId} projectId={projectId} />;
  },
});

const routeTree = rootRoute.addChildren([
  signInRoute,
  signUpRoute,
  homeRoute,
  shellRoute.addChildren([
    projectsRoute,
    dashboardRoute,
    tracesRoute,
    traceRoute,
    generationsRoute,
    sessionsRoute,
    sessionRoute,
    usersRoute,
    userRoute,
    apiKeysRoute,
  ]),
]);

export const router = createRouter({ routeTree, defaultPreload: "intent" });

declare module "@tanstack/react-router" {
  interface Register {
    router: typeof router;
  }
}
