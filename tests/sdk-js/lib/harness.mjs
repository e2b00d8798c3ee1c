// Shared plumbing for the scenarios: one glassbox server per test file, a Langfuse
// client (the real npm package) that records its ingestion exchanges, a small read-API
// client, and failure reports that carry the HTTP exchanges and the server log.

import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { Langfuse } from 'langfuse';

import { startGlassbox } from './server.mjs';

// Keep the SDK deterministic: it reads these from the environment when options are absent.
for (const name of [
  'LANGFUSE_PUBLIC_KEY',
  'LANGFUSE_SECRET_KEY',
  'LANGFUSE_BASEURL',
  'LANGFUSE_RELEASE',
  'LANGFUSE_SAMPLE_RATE',
  'LANGFUSE_TRACING_ENVIRONMENT',
]) {
  delete process.env[name];
}

export const SDK_RELEASE = 'sdk-js-test-release';
const MAX_BODY_CHARS = 20_000;
const READ_RETRY_MS = 2_000;

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves once Date.now() has moved past its value at the call: the SDK stamps envelope
 * timestamps with millisecond resolution, so the next event gets a later timestamp. */
export async function nextMillisecond() {
  const start = Date.now();
  while (Date.now() <= start) await new Promise((resolve) => setImmediate(resolve));
}

function truncate(text, max = MAX_BODY_CHARS) {
  if (text === undefined || text === null) return String(text);
  return text.length > max ? `${text.slice(0, max)}… (${text.length - max} more chars)` : text;
}

function tryParse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * The official client, unchanged except that `fetch` (a public, overridable method of the
 * SDK class) also records each request/response pair for assertions and failure reports.
 */
class RecordingLangfuse extends Langfuse {
  async fetch(url, options) {
    const entry = {
      kind: 'sdk',
      method: options?.method ?? 'GET',
      url: String(url),
      requestBody: typeof options?.body === 'string' ? options.body : undefined,
    };
    this.exchanges ??= [];
    this.exchanges.push(entry);
    if (this.sink) this.sink.push(entry);
    try {
      const res = await fetch(url, options);
      entry.status = res.status;
      entry.responseText = await res.clone().text();
      return res;
    } catch (err) {
      entry.error = String(err?.cause ?? err);
      throw err;
    }
  }
}

function describeExchange(x) {
  const lines = [`${x.method} ${x.url} -> ${x.error ? `network error ${x.error}` : `HTTP ${x.status}`}`];
  if (x.requestBody !== undefined) {
    const parsed = tryParse(x.requestBody);
    if (parsed && Array.isArray(parsed.batch)) {
      lines.push(
        `  batch (${parsed.batch.length} events, in wire order): ${parsed.batch
          .map((e) => `${e.type}(${e.body?.id})`)
          .join(', ')}`,
      );
    }
    lines.push(`  request body: ${truncate(x.requestBody)}`);
  }
  if (x.responseText !== undefined) lines.push(`  response body: ${truncate(x.responseText)}`);
  return lines.join('\n');
}

/**
 * Registers before/after hooks for a test file and returns the context the scenarios use.
 * Wrap every test body with `ctx.scenario(name, fn)` so failures carry diagnostics.
 */
export function useGlassbox() {
  const ctx = {
    server: null,
    exchanges: [], // HTTP exchanges of the current test (SDK ingestion + read API)
    sdkErrors: [],
    clients: [],
    failed: false,
  };

  // Root-level `before` hooks of node:test run concurrently, so hooks that need the server
  // (e.g. lib/v5.mjs) await `ctx.serverReady` instead of reading `ctx.server` directly.
  let serverStarted;
  ctx.serverReady = new Promise((resolve, reject) => {
    serverStarted = { resolve, reject };
  });
  ctx.serverReady.catch(() => {}); // reported by the hook below
  before(async () => {
    try {
      ctx.server = await startGlassbox();
      serverStarted.resolve(ctx.server);
    } catch (err) {
      serverStarted.reject(err);
      throw err;
    }
  });

  beforeEach(() => {
    ctx.exchanges = [];
    ctx.sdkErrors = [];
  });

  after(async () => {
    for (const client of ctx.clients) {
      await client.shutdownAsync().catch(() => {});
    }
    if (!ctx.server) return;
    const crashed = !ctx.server.alive;
    if (crashed) {
      process.stderr.write(`glassbox died during the tests.\n${ctx.server.describe()}\n`);
    } else if (ctx.failed) {
      process.stderr.write(`Some scenarios failed; server output follows.\n${ctx.server.describe()}\n`);
    }
    await ctx.server.stop({ keepData: ctx.failed || crashed });
    if (crashed) throw new Error('glassbox exited while the tests were running (see server output above)');
  });

  /** A fresh official SDK client pointed at the server. */
  ctx.langfuse = (options = {}) => {
    const client = new RecordingLangfuse({
      publicKey: ctx.server.publicKey,
      secretKey: ctx.server.secretKey,
      baseUrl: ctx.server.baseUrl,
      release: SDK_RELEASE,
      flushAt: 1_000, // only explicit flushes send batches
      flushInterval: 0, // no background timer
      fetchRetryCount: 0, // a rejected batch must fail the test, not be re-sent
      requestTimeout: 15_000,
      ...options,
    });
    // Always log into the exchanges of the test that is currently running.
    Object.defineProperty(client, 'sink', { get: () => ctx.exchanges });
    client.on('error', (e) => ctx.sdkErrors.push(`error: ${typeof e === 'string' ? e : JSON.stringify(e)}`));
    client.on('warning', (e) => ctx.sdkErrors.push(`warning: ${String(e?.message ?? e)}`));
    ctx.clients.push(client);
    return client;
  };

  /**
   * `flushAsync()` and check that the server accepted every event: ingestion answered
   * 2xx with JSON and no entry in `errors`. Returns the parsed batches that were sent.
   */
  ctx.flush = async (client) => {
    const start = client.exchanges?.length ?? 0;
    await client.flushAsync();
    const sent = (client.exchanges ?? []).slice(start).filter((x) => x.url.endsWith('/api/public/ingestion'));
    assert.ok(sent.length > 0, 'flushAsync() did not send any ingestion request');
    for (const x of sent) {
      assert.ok(
        !x.error && x.status >= 200 && x.status < 300,
        `ingestion request failed: ${describeExchange(x)}`,
      );
      const body = tryParse(x.responseText);
      assert.ok(body && typeof body === 'object', `ingestion response is not a JSON object: ${describeExchange(x)}`);
      if (x.status === 207 || Array.isArray(body.errors)) {
        assert.ok(Array.isArray(body.errors), `207 response without an errors array: ${describeExchange(x)}`);
        assert.equal(body.errors.length, 0, `ingestion rejected events: ${describeExchange(x)}`);
      }
    }
    assert.deepEqual(ctx.sdkErrors, [], 'the SDK reported errors/warnings while flushing');
    return sent.map((x) => JSON.parse(x.requestBody));
  };

  /** GET on the public API with Basic auth; returns {status, text, json}. */
  ctx.get = async (pathAndQuery) => {
    const url = `${ctx.server.baseUrl}${pathAndQuery}`;
    const auth = Buffer.from(`${ctx.server.publicKey}:${ctx.server.secretKey}`).toString('base64');
    const entry = { kind: 'read', method: 'GET', url };
    ctx.exchanges.push(entry);
    try {
      const res = await fetch(url, { headers: { Authorization: `Basic ${auth}` }, signal: AbortSignal.timeout(10_000) });
      entry.status = res.status;
      entry.responseText = await res.text();
      return { status: res.status, text: entry.responseText, json: tryParse(entry.responseText) };
    } catch (err) {
      entry.error = String(err?.cause ?? err);
      throw err;
    }
  };

  /**
   * GET expecting 200 and a JSON body for which `ready(json)` holds. Retries for at most
   * 2 s (writes should be visible immediately; this only absorbs scheduling jitter) or
   * `timeoutMs`, then fails with the last response.
   */
  ctx.read = async (pathAndQuery, ready = () => true, { timeoutMs = READ_RETRY_MS } = {}) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await ctx.get(pathAndQuery);
      if (res.status === 200 && res.json !== undefined && ready(res.json)) return res.json;
      if (Date.now() >= deadline) {
        assert.equal(res.status, 200, `GET ${pathAndQuery} -> HTTP ${res.status}: ${truncate(res.text)}`);
        assert.ok(res.json !== undefined, `GET ${pathAndQuery} returned non-JSON: ${truncate(res.text)}`);
        // Not ready but well-formed: return it and let the scenario's assertions explain.
        return res.json;
      }
      await sleep(100);
    }
  };

  /** `test()` whose failures are annotated with HTTP exchanges and the server log. */
  ctx.scenario = (name, fn) =>
    test(name, { timeout: 60_000 }, async (t) => {
      try {
        await fn(t);
      } catch (err) {
        ctx.failed = true;
        const report = [
          '',
          '=== HTTP exchanges of this scenario (oldest first) ===',
          ...ctx.exchanges.slice(-15).map(describeExchange),
          ctx.sdkErrors.length ? `=== SDK errors/warnings ===\n${ctx.sdkErrors.join('\n')}` : '',
          ctx.server ? ctx.server.describe(80) : '(server not started)',
        ].join('\n');
        if (err && typeof err === 'object') {
          try {
            err.message = `${err.message}\n${report}`;
          } catch {
            // non-writable message: print instead
            process.stderr.write(`${report}\n`);
          }
          throw err;
        }
        throw new Error(`${String(err)}\n${report}`);
      }
    });

  return ctx;
}

// ---------------------------------------------------------------------------------
// Assertion helpers

/** Equal within an absolute tolerance (costs are decimals on the server). */
export function assertApprox(actual, expected, what, tolerance = 1e-12) {
  assert.equal(typeof actual, 'number', `${what}: expected a number ≈ ${expected}, got ${JSON.stringify(actual)}`);
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: expected ≈ ${expected}, got ${actual}`);
}

/** Same instant as `expected` (a Date or ms), whatever the ISO formatting. */
export function assertSameTime(actual, expected, what) {
  assert.equal(typeof actual, 'string', `${what}: expected an ISO timestamp, got ${JSON.stringify(actual)}`);
  assert.match(actual, /(Z|[+-]\d\d:\d\d)$/, `${what}: timestamp without zone: ${actual}`);
  const want = expected instanceof Date ? expected.getTime() : expected;
  assert.equal(Date.parse(actual), want, `${what}: expected ${new Date(want).toISOString()}, got ${actual}`);
}

/** Index an array of objects by id, asserting ids are unique. */
export function byId(items, what) {
  assert.ok(Array.isArray(items), `${what}: expected an array, got ${JSON.stringify(items)}`);
  const map = new Map();
  for (const item of items) {
    assert.ok(!map.has(item.id), `${what}: duplicate id ${item.id}`);
    map.set(item.id, item);
  }
  return map;
}

/** Types of the events in the order they were sent, e.g. ['trace-create(id)', ...]. */
export function wireOrder(batches) {
  return batches.flatMap((b) => b.batch.map((e) => `${e.type}(${e.body.id})`));
}

/** A Date at whole milliseconds, `offsetMs` after a fixed base a minute in the past. */
export function timeline() {
  const base = Math.floor(Date.now() / 1000) * 1000 - 60_000;
  return (offsetMs = 0) => new Date(base + offsetMs);
}
