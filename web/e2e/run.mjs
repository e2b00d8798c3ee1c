// Browser journeys against the real glassbox binary (see harness.mjs). Screenshots go to
// web/test-output/e2e/ (gitignored; CI keeps the folder as an artifact).
//   npm run e2e            (GLASSBOX_BIN=... to pick the binary; default target/debug/glassbox)
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { bigTraceEvents, event, ingest, launchBrowser, repoRoot, startServer } from "./harness.mjs";

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
    await page.waitForURL(/\/project\/[^/]+\/traces/);
    await page.getByText("No traces match").waitFor();
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

  await journey("send traces, filter the table, open one, read a generation", async () => {
    const now = Date.now();
    const iso = (offset) => new Date(now - offset).toISOString();
    await ingest(server.url, keys.publicKey, keys.secretKey, [
      event("trace-create", { id: "trace-1", name: "chat-support", userId: "alice", sessionId: "sess-1", tags: ["prod"], timestamp: iso(60_000), input: "capital?", output: "Paris." }),
      event("generation-create", {
        id: "gen-1",
        traceId: "trace-1",
        name: "answer",
        model: "gpt-4o",
        startTime: iso(60_000),
        completionStartTime: iso(59_600),
        endTime: iso(59_000),
        input: [
          { role: "system", content: "You are a geography assistant." },
          { role: "user", content: "What is the capital of France?" },
        ],
        output: { role: "assistant", content: "The capital of France is Paris." },
        usageDetails: { input: 20, output: 8, total: 28 },
        costDetails: { input: 0.001, output: 0.002, total: 0.003 },
      }),
      event("span-create", { id: "span-1", traceId: "trace-1", name: "retrieve", startTime: iso(60_000), endTime: iso(59_800), input: { query: "france" } }),
      event("trace-create", { id: "trace-2", name: "chat-support", userId: "alice", sessionId: "sess-1", timestamp: iso(30_000), input: "and Germany?", output: "Berlin." }),
      event("trace-create", { id: "trace-3", name: "nightly-batch", userId: "bob", timestamp: iso(10_000) }),
      event("span-create", { id: "span-3", traceId: "trace-3", name: "load", level: "ERROR", statusMessage: "timeout", startTime: iso(10_000), endTime: iso(9_000) }),
      event("score-create", { id: "score-1", traceId: "trace-1", name: "helpfulness", value: 0.9 }),
    ]);
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
    await page.getByRole("button", { name: "Reset" }).click();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="trace-row"]').length === 3);
    // The oldest chat trace (with the generation) is the last row, newest first.
    await page.getByTestId("trace-row").nth(2).getByRole("link", { name: "chat-support" }).click();
    await page.waitForURL(/\/traces\/trace-1/);
    await page.locator('[data-observation-id="gen-1"]').click();
    await page.waitForURL(/observation=gen-1/);
    const transcript = page.getByTestId("chat-transcript").first();
    await transcript.waitFor();
    const messages = await page.getByTestId("chat-message").allTextContents();
    assert.ok(messages.includes("What is the capital of France?"), JSON.stringify(messages));
    assert.ok(messages.includes("The capital of France is Paris."), JSON.stringify(messages));
    assert.equal((await page.getByTestId("observation-cost").textContent()).trim(), "$0.0030");
    await shot("05-trace-generation");
    // A deep link to the observation opens the same view.
    await page.goto(`${server.url}/project/${projectId}/traces/trace-1?observation=gen-1`);
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
      if (await page.locator('[data-index="49999"]').count()) break;
      await page.waitForTimeout(100);
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
