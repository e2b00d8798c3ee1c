// Browser journeys against the real glassbox binary (see harness.mjs). Screenshots go to
// web/test-output/e2e/ (gitignored; CI keeps the folder as an artifact).
//   npm run e2e            (GLASSBOX_BIN=... to pick the binary; default target/debug/glassbox)
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { bigTraceEvents, ingest, launchBrowser, repoRoot, startServer } from "./harness.mjs";

// The traces are sent by the official Python SDK (langfuse 5, OpenTelemetry export), from
// the venv that tests/sdk-python/run.sh creates.
const python = process.env.GLASSBOX_E2E_PYTHON ?? join(repoRoot, "tests", "sdk-python", ".venv", "bin", "python");
if (!existsSync(python)) {
  throw new Error(`no Python SDK venv at ${python}: run tests/sdk-python/run.sh --collect-only -q once`);
}

const shots = join(repoRoot, "web", "test-output", "e2e");
mkdirSync(shots, { recursive: true });

const server = await startServer();
const browser = await launchBrowser();
const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
page.setDefaultTimeout(20_000);
const consoleErrors = [];
page.on("console", (message) => message.type() === "error" && consoleErrors.push(message.text()));
page.on("pageerror", (error) => consoleErrors.push(String(error)));
const shot = (name) => page.screenshot({ path: join(shots, `${name}.png`) });
const results = [];

async function journey(name, body) {
  const started = Date.now();
  try {
    await body();
    results.push(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (error) {
    await shot(`FAILED-${name.replace(/\W+/g, "-")}`).catch(() => {});
    results.push(`FAIL ${name}: ${error.stack ?? error}`);
    throw error;
  }
}

let projectId;
let keys;
try {
  await journey("sign up, create a project, create a key", async () => {
    await page.goto(server.url);
    await page.waitForURL(/\/sign-in$/);
    await shot("01-sign-in");
    await page.getByRole("link", { name: "Sign up" }).click();
    await page.getByLabel("Name").fill("Ada Lovelace");
    await page.getByLabel("Email").fill("ada@example.com");
    await page.getByLabel("Password").fill("correct horse battery");
    await page.getByRole("button", { name: "Sign up" }).click();
    // The first user owns the organization made at first start: straight to its project.
    await page.waitForURL(/\/project\/[^/]+\/dashboard/);
    await page.getByRole("heading", { name: "Dashboard" }).waitFor();
    await page.getByTestId("project-switcher").click();
    await page.getByRole("menuitem", { name: "Organizations and projects" }).click();
    await page.waitForURL(/\/projects$/);
    await page.getByPlaceholder("New project name").first().fill("Checkout bot");
    await page.getByRole("button", { name: "Create project" }).first().click();
    await page.getByRole("link", { name: "Checkout bot" }).click();
    await page.waitForURL(/\/project\/([^/]+)\/traces/);
    projectId = page.url().match(/\/project\/([^/]+)\/traces/)[1];
    await page.getByRole("link", { name: "API keys" }).click();
    await page.getByRole("button", { name: "Create new API key" }).click();
    await page.getByTestId("new-key").waitFor();
    keys = {
      publicKey: (await page.getByTestId("public-key").textContent()).trim(),
      secretKey: (await page.getByTestId("secret-key").textContent()).trim(),
    };
    assert.match(keys.publicKey, /^pk-lf-/);
    assert.match(keys.secretKey, /^sk-lf-/);
    const python = await page.getByText("from langfuse import Langfuse").textContent();
    assert.ok(python.includes(keys.secretKey) && python.includes(server.url), "the Python snippet has the keys and host");
    await shot("02-api-keys");
  });

  let ids;
  await journey("send traces with the Python SDK, filter the table, open one, read a generation", async () => {
    const output = execFileSync(python, [join(repoRoot, "web", "e2e", "send_traces.py"), server.url, keys.publicKey, keys.secretKey], {
      encoding: "utf8",
      timeout: 60_000,
    });
    ids = JSON.parse(output.trim().split("\n").pop());
    await page.getByRole("link", { name: "Traces" }).click();
    await page.waitForURL(/\/traces$/);
    await page.getByTestId("trace-row").nth(2).waitFor();
    assert.equal(await page.getByTestId("trace-row").count(), 3);
    await shot("03-traces");
    await page.getByLabel("User ID").fill("alice");
    await page.getByRole("button", { name: "Apply" }).click();
    await page.waitForURL(/userId=alice/);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="trace-row"]').length === 2);
    // The filter survives a reload: it lives in the URL.
    await page.reload();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="trace-row"]').length === 2);
    await page.getByLabel("Level filter").selectOption("ERROR");
    await page.getByLabel("User ID").fill("");
    await page.getByRole("button", { name: "Apply" }).click();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="trace-row"]').length === 1);
    assert.ok((await page.getByTestId("trace-row").textContent()).includes("nightly-batch"));
    await shot("04-traces-filtered");
    // A numeric score filter: only the first chat trace has a `helpfulness` score (0.9).
    await page.getByLabel("Level filter").selectOption("");
    await page.getByLabel("Score name").fill("helpfulness");
    await page.getByLabel("Score operator").selectOption("gt");
    await page.getByLabel("Score value").fill("0.5");
    await page.getByRole("button", { name: "Apply" }).click();
    await page.waitForURL(/scoreName=helpfulness/);
    assert.ok(!page.url().includes("level="), page.url());
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="trace-row"]').length === 1);
    const scored = page.getByTestId("trace-row");
    assert.ok((await scored.getByRole("link", { name: "chat-support" }).getAttribute("href")).endsWith(`/traces/${ids.trace1}`));
    assert.ok((await scored.textContent()).includes("helpfulness: 0.90"));
    // Kept in the URL across a reload, then the other side of the threshold matches nothing.
    await page.reload();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="trace-row"]').length === 1);
    assert.equal(await page.getByLabel("Score value").inputValue(), "0.5");
    await shot("04b-traces-score-filter");
    await page.getByLabel("Score operator").selectOption("lt");
    await page.getByRole("button", { name: "Apply" }).click();
    await page.waitForURL(/scoreOp=lt/);
    await page.getByText("No traces match").waitFor();
    assert.equal(await page.getByTestId("trace-row").count(), 0);
    await page.getByRole("button", { name: "Reset" }).click();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="trace-row"]').length === 3);
    // The oldest chat trace (with the generation) is the last row, newest first.
    await page.getByTestId("trace-row").nth(2).getByRole("link", { name: "chat-support" }).click();
    await page.waitForURL(new RegExp(`/traces/${ids.trace1}`));
    await page.locator(`[data-observation-id="${ids.generation}"]`).click();
    await page.waitForURL(new RegExp(`observation=${ids.generation}`));
    const transcript = page.getByTestId("chat-transcript").first();
    await transcript.waitFor();
    const messages = await page.getByTestId("chat-message").allTextContents();
    assert.ok(messages.includes("What is the capital of France?"), JSON.stringify(messages));
    assert.ok(messages.includes("The capital of France is Paris."), JSON.stringify(messages));
    assert.equal((await page.getByTestId("observation-cost").textContent()).trim(), "$0.0030");
    await shot("05-trace-generation");
    // A deep link to the observation opens the same view.
    await page.goto(`${server.url}/project/${projectId}/traces/${ids.trace1}?observation=${ids.generation}`);
    await page.getByTestId("observation-panel").waitFor();
  });

  await journey("open a session", async () => {
    await page.getByRole("link", { name: "Session sess-1" }).click();
    await page.getByTestId("session-title").waitFor();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="session-trace"]').length === 2);
    const turns = await page.getByTestId("session-trace").allTextContents();
    assert.ok(turns[0].includes("capital?") && turns[1].includes("and Germany?"), "turns in order");
    await shot("06-session");
  });

  await journey("users: the list sorted by cost, and a user's page", async () => {
    await page.getByRole("link", { name: "Users" }).click();
    await page.waitForURL(/\/users$/);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="user-row"]').length === 2);
    // Last seen first: bob's nightly batch is the newest trace.
    assert.deepEqual(await page.getByTestId("user-row").locator("td:first-child").allTextContents(), ["bob", "alice"]);
    await page.getByRole("button", { name: "Total cost" }).click();
    await page.waitForURL(/orderBy=totalCost\.desc/);
    await page.getByRole("button", { name: "Total cost" }).click();
    await page.waitForURL(/orderBy=totalCost\.asc/);
    await page.waitForFunction(() => document.querySelector('[data-testid="user-row"] td')?.textContent === "alice");
    assert.deepEqual(await page.getByTestId("user-cost").allTextContents(), ["$0.0030", "$0.0100"]);
    await shot("08-users");
    await page.getByRole("link", { name: "alice" }).click();
    await page.getByTestId("user-title").waitFor();
    assert.equal((await page.getByTestId("user-trace-count").textContent()).trim(), "2");
    assert.equal((await page.getByTestId("user-total-cost").textContent()).trim(), "$0.0030");
    assert.equal((await page.getByTestId("user-total-tokens").textContent()).trim(), "28");
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="user-trace"]').length === 2);
    await page.getByRole("link", { name: "sess-1" }).waitFor();
    await shot("09-user");
  });

  await journey("generations: filter by model, kept in the URL", async () => {
    await page.getByRole("link", { name: "Generations" }).click();
    await page.waitForURL(/\/generations$/);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="generation-row"]').length === 2);
    await page.getByLabel("Model gpt-4o").check();
    await page.waitForURL(/models=gpt-4o/);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="generation-row"]').length === 1);
    assert.equal((await page.getByTestId("generation-model").textContent()).trim(), "gpt-4o");
    await page.reload();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="generation-row"]').length === 1);
    assert.ok(await page.getByLabel("Model gpt-4o").isChecked());
    await page.getByLabel("Model claude-3-5-sonnet").check();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="generation-row"]').length === 2);
    await page.getByLabel("Time range").selectOption("1h");
    await page.waitForURL(/range=1h/);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="generation-row"]').length === 2);
    await shot("10-generations");
  });

  await journey("dashboard: five charts with data", async () => {
    await page.getByRole("link", { name: "Dashboard" }).click();
    await page.waitForURL(/\/dashboard/);
    for (const chart of ["chart-traces", "chart-cost-by-model", "chart-latency", "chart-top-users", "chart-errors"]) {
      await page.getByTestId(chart).locator("canvas").first().waitFor();
    }
    assert.equal(await page.getByText("No data in this range").count(), 0);
    assert.ok((await page.getByTestId("dashboard-card").first().textContent()).includes("3 traces"));
    await page.getByLabel("Dashboard range").selectOption("24h");
    await page.waitForURL(/range=24h/);
    await page.getByTestId("chart-top-users").locator("canvas").first().waitFor();
    await page.waitForLoadState("networkidle");
    await shot("11-dashboard");
  });

  await journey("open a 50,000-observation trace and scroll to its end", async () => {
    const ingestStarted = Date.now();
    await ingest(server.url, keys.publicKey, keys.secretKey, bigTraceEvents("big", 50_000));
    const ingestMs = Date.now() - ingestStarted;
    const opened = Date.now();
    await page.goto(`${server.url}/project/${projectId}/traces/big`);
    await page.getByTestId("observation-row").first().waitFor({ timeout: 60_000 });
    const firstRenderMs = Date.now() - opened;
    assert.equal((await page.getByTestId("observation-count").textContent()).trim(), "50,000 observations");
    const rendered = await page.getByTestId("observation-row").count();
    assert.ok(rendered < 200, `virtualised: ${rendered} rows in the DOM`);
    const tree = page.getByTestId("observation-tree");
    for (let step = 0; step < 20; step++) {
      await tree.evaluate((element) => element.scrollTo(0, element.scrollHeight));
      const reached = await page
        .locator('[data-index="49999"]')
        .waitFor({ timeout: 250 })
        .then(() => true, () => false);
      if (reached) break;
    }
    await page.locator('[data-index="49999"]').waitFor();
    await shot("07-big-trace-end");
    // The deepest-numbered observation via a deep link, scrolled into view.
    await page.goto(`${server.url}/project/${projectId}/traces/big?observation=big-obs-49999`);
    await page.locator('[data-observation-id="big-obs-49999"]').waitFor({ timeout: 60_000 });
    await page.getByTestId("observation-panel").waitFor();
    results.push(`     50,000 observations: ingest ${ingestMs} ms, first rows ${firstRenderMs} ms (dev binary, cold)`);
  });

  await journey("sign out", async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(/\/sign-in$/);
    await page.goto(`${server.url}/project/${projectId}/traces`);
    await page.waitForURL(/\/sign-in$/);
  });
  assert.deepEqual(consoleErrors.filter((text) => !text.includes("401")), [], "no console errors");
} finally {
  console.log(results.join("\n"));
  await browser.close();
  await server.stop();
}
console.log(`e2e: all journeys passed; screenshots in ${shots}`);
