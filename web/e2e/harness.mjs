// Shared by the e2e journeys and the UI benchmark: starts the real glassbox binary on a
// free port with a temporary data directory, launches Debian's chromium through
// playwright-core (nothing downloads a browser), and sends Langfuse batches.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, "../..");

export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
    server.on("error", reject);
  });
}

export function binaryPath() {
  if (process.env.GLASSBOX_BIN) return process.env.GLASSBOX_BIN;
  const target = process.env.CARGO_TARGET_DIR ?? join(repoRoot, "target");
  return join(target, process.env.GLASSBOX_PROFILE ?? "debug", "glassbox");
}

/** Starts `glassbox serve`; resolves once /api/public/health answers. */
export async function startServer() {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), "glassbox-e2e-"));
  const child = spawn(binaryPath(), ["serve", "--port", String(port), "--data-dir", dataDir, "--no-otlp-grpc"], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, GLASSBOX_LOG: process.env.GLASSBOX_LOG ?? "warn" },
  });
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  const url = `http://127.0.0.1:${port}`;
  for (let attempt = 0; attempt < 200; attempt++) {
    if (child.exitCode !== null) throw new Error(`glassbox exited early:\n${output}`);
    try {
      const response = await fetch(`${url}/api/public/health`);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((resolveWait) => setTimeout(resolveWait, 50));
  }
  return {
    url,
    output: () => output,
    async stop() {
      child.kill("SIGTERM");
      await new Promise((resolveExit) => (child.exitCode !== null ? resolveExit() : child.once("exit", resolveExit)));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function launchBrowser() {
  return chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium", args: CHROMIUM_ARGS, headless: true });
}

/** `POST /api/public/ingestion`, split into batches of at most 5,000 events. */
export async function ingest(url, publicKey, secretKey, events) {
  const authorization = `Basic ${Buffer.from(`${publicKey}:${secretKey}`).toString("base64")}`;
  for (let start = 0; start < events.length; start += 5_000) {
    const batch = events.slice(start, start + 5_000);
    const response = await fetch(`${url}/api/public/ingestion`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization },
      body: JSON.stringify({ batch }),
    });
    const body = await response.json();
    if (response.status !== 207 || body.errors.length) {
      throw new Error(`ingestion failed: ${response.status} ${JSON.stringify(body).slice(0, 500)}`);
    }
  }
}

let eventCounter = 0;
export function event(type, body, timestamp = new Date().toISOString()) {
  eventCounter += 1;
  return { id: `e2e-event-${process.pid}-${eventCounter}`, type, timestamp, body };
}

/** A trace with `count` observations in a tree with fan-out 8, one generation per 10. */
export function bigTraceEvents(traceId, count, startMs = Date.now() - 3_600_000) {
  const iso = (ms) => new Date(ms).toISOString();
  const events = [event("trace-create", { id: traceId, name: "big-agent-run", timestamp: iso(startMs) })];
  for (let index = 0; index < count; index++) {
    const id = `${traceId}-obs-${index}`;
    const parentObservationId = index === 0 ? undefined : `${traceId}-obs-${Math.floor((index - 1) / 8)}`;
    const start = startMs + index * 10;
    const generation = index % 10 === 5;
    events.push(
      event(generation ? "generation-create" : "span-create", {
        id,
        traceId,
        parentObservationId,
        name: generation ? `llm-call-${index}` : `step-${index}`,
        startTime: iso(start),
        endTime: iso(start + (index === 0 ? count * 10 + 50 : 40)),
        ...(generation ? { model: "gpt-4o-mini", usageDetails: { input: 10, output: 5, total: 15 } } : {}),
      }),
    );
  }
  return events;
}
