// Benchmark (not a test): time to first render of a 50,000-observation trace in headless
// Chromium, against the real binary. Run from web/ (it uses web/node_modules):
//   cd web && GLASSBOX_BIN=../target/release/glassbox node ../bench/ui/trace-first-render.mjs [runs]
// Reports, per run: navigation start → first observation row painted, and → the header
// showing "50,000 observations" (the tree model built), plus the median.
import { bigTraceEvents, ingest, launchBrowser, startServer } from "../../web/e2e/harness.mjs";

const runs = Number(process.argv[2] ?? 5);
const count = Number(process.env.OBSERVATIONS ?? 50_000);
const server = await startServer();
const browser = await launchBrowser();
try {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  const signUp = await page.request.post(`${server.url}/api/ui/v1/auth/sign-up`, {
    data: { email: "bench@example.com", password: "benchmark password" },
  });
  if (!signUp.ok()) throw new Error(`sign-up failed: ${signUp.status()}`);
  const session = await signUp.json();
  const project = session.organizations[0].projects[0].id;
  const csrf = session.csrfToken;
  const key = await page.request.post(`${server.url}/api/ui/v1/projects/${project}/api-keys`, {
    data: {},
    headers: { "x-csrf-token": csrf },
  });
  const { publicKey, secretKey } = await key.json();
  const ingestStarted = performance.now();
  await ingest(server.url, publicKey, secretKey, bigTraceEvents("bench-big", count));
  console.log(`ingested ${count.toLocaleString("en-US")} observations in ${Math.round(performance.now() - ingestStarted)} ms`);
  const apiStarted = performance.now();
  const detail = await page.request.get(`${server.url}/api/ui/v1/projects/${project}/traces/bench-big`);
  const bytes = (await detail.body()).length;
  console.log(`trace detail API: ${Math.round(performance.now() - apiStarted)} ms, ${(bytes / 1e6).toFixed(1)} MB JSON`);
  const firstRows = [];
  const ready = [];
  for (let run = 0; run < runs; run++) {
    await page.goto(`${server.url}/projects`);
    await page.getByText("Organizations and projects").first().waitFor();
    const started = performance.now();
    await page.goto(`${server.url}/project/${project}/traces/bench-big`);
    await page.getByTestId("observation-row").first().waitFor({ timeout: 120_000 });
    firstRows.push(performance.now() - started);
    await page.getByText(`${count.toLocaleString("en-US")} observations`).waitFor();
    ready.push(performance.now() - started);
    console.log(`run ${run + 1}: first rows ${Math.round(firstRows.at(-1))} ms, header ${Math.round(ready.at(-1))} ms`);
  }
  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  console.log(`median time to first render of ${count.toLocaleString("en-US")} observations: ${Math.round(median(firstRows))} ms`);
} finally {
  await browser.close();
  await server.stop();
}
