// Plumbing for the scenarios that use the current JS SDK (@langfuse/tracing, @langfuse/otel,
// @langfuse/client 5.11.1): one glassbox server per test file (through `useGlassbox()`), an
// OpenTelemetry NodeTracerProvider with the real LangfuseSpanProcessor pointed at it
// (tracing → OTLP/JSON on /api/public/otel/v1/traces), and a LangfuseClient for scores
// (→ score-create events on /api/public/ingestion).
//
// The SDK reports export problems only through loggers, so this file records them:
// OpenTelemetry's diag logger (OTLP partial success, export errors), the Langfuse SDK logger
// (console.warn/console.error with a "[Langfuse SDK]" prefix) and the REST requests of the
// Langfuse client (a recording wrapper around the global fetch that the client calls).

import assert from 'node:assert/strict';
import { after, before } from 'node:test';

import { LangfuseClient } from '@langfuse/client';
import { LangfuseSpanProcessor } from '@langfuse/otel';
import { setLangfuseTracerProvider } from '@langfuse/tracing';
import { DiagLogLevel, diag } from '@opentelemetry/api';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

import { useGlassbox } from './harness.mjs';

// Keep the v5 SDK deterministic: it reads these from the environment when options are absent.
for (const name of [
  'LANGFUSE_PUBLIC_KEY',
  'LANGFUSE_SECRET_KEY',
  'LANGFUSE_BASE_URL',
  'LANGFUSE_BASEURL',
  'LANGFUSE_RELEASE',
  'LANGFUSE_TRACING_ENVIRONMENT',
  'LANGFUSE_FLUSH_AT',
  'LANGFUSE_FLUSH_INTERVAL',
  'LANGFUSE_TIMEOUT',
  'LANGFUSE_MEDIA_UPLOAD_ENABLED',
  'LANGFUSE_SAMPLE_RATE',
  'LANGFUSE_LOG_LEVEL',
  'OTEL_SDK_DISABLED',
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
  'OTEL_EXPORTER_OTLP_HEADERS',
  'OTEL_EXPORTER_OTLP_TRACES_HEADERS',
  'OTEL_EXPORTER_OTLP_PROTOCOL',
  'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL',
  'OTEL_TRACES_SAMPLER',
  'OTEL_TRACES_SAMPLER_ARG',
]) {
  delete process.env[name];
}

/** OTLP export is asynchronous on the server side too: reads retry this long. */
export const V5_READ_TIMEOUT_MS = 5_000;

function tryParse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function format(args) {
  return args
    .map((arg) => {
      if (typeof arg === 'string') return arg;
      if (arg instanceof Error) return arg.stack ?? String(arg);
      try {
        return JSON.stringify(arg);
      } catch {
        return String(arg);
      }
    })
    .join(' ');
}

// ---------------------------------------------------------------------------------
// Log capture (process-wide; each test file runs in its own process)

const sdkLog = [];

diag.setLogger(
  {
    error: (...args) => sdkLog.push(`otel error: ${format(args)}`),
    warn: (...args) => sdkLog.push(`otel warn: ${format(args)}`),
    info: () => {},
    debug: () => {},
    verbose: () => {},
  },
  { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
);

for (const level of ['warn', 'error']) {
  const original = console[level].bind(console);
  console[level] = (...args) => {
    if (typeof args[0] === 'string' && args[0].includes('[Langfuse SDK]')) {
      sdkLog.push(`langfuse ${level}: ${format(args)}`);
    }
    original(...args);
  };
}

// ---------------------------------------------------------------------------------
// Recording of the Langfuse client's REST requests (the client calls the global fetch)

let exchangeSink = null;
const originalFetch = globalThis.fetch;

function headerValue(headers, name) {
  if (!headers) return undefined;
  if (typeof headers.get === 'function') return headers.get(name) ?? undefined;
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : headers[key];
}

globalThis.fetch = async function recordingFetch(input, init) {
  // Only the SDK's requests (they carry its identity header); the harness's reads are
  // recorded by the harness itself.
  if (!exchangeSink || headerValue(init?.headers, 'x-langfuse-sdk-name') === undefined) {
    return originalFetch(input, init);
  }
  const entry = {
    kind: 'sdk-v5',
    method: init?.method ?? 'GET',
    url: String(input instanceof Request ? input.url : input),
    requestBody: typeof init?.body === 'string' ? init.body : undefined,
  };
  exchangeSink().push(entry);
  try {
    const res = await originalFetch(input, init);
    entry.status = res.status;
    entry.responseText = await res.clone().text();
    return res;
  } catch (err) {
    entry.error = String(err?.cause ?? err);
    throw err;
  }
};

function describeRestExchange(x) {
  return `${x.method} ${x.url} -> ${x.error ? `network error ${x.error}` : `HTTP ${x.status}`}\n  request body: ${
    x.requestBody
  }\n  response body: ${x.responseText}`;
}

/**
 * `useGlassbox()` plus the v5 SDK wired to the server. Returns the harness context with:
 * - `ctx.v5.processor`, `ctx.v5.provider`, `ctx.v5.langfuse` (LangfuseClient);
 * - `ctx.flushTraces()`: forceFlush() the span processor and check the export was accepted;
 * - `ctx.flushScores()`: flush the LangfuseClient and check every score event was accepted;
 * - `ctx.readEventually(path, ready)`: `ctx.read` that retries for up to 5 s.
 */
export function useGlassboxV5() {
  const v5 = { processor: null, provider: null, langfuse: null };

  // Registered before useGlassbox()'s hooks so that it runs before the server stops.
  after(async () => {
    exchangeSink = null;
    await v5.langfuse?.shutdown().catch(() => {});
    await v5.provider?.shutdown().catch(() => {});
  });

  const ctx = useGlassbox();
  ctx.v5 = v5;

  before(async () => {
    const { baseUrl, publicKey, secretKey } = await ctx.serverReady;
    v5.processor = new LangfuseSpanProcessor({ publicKey, secretKey, baseUrl });
    v5.provider = new NodeTracerProvider({ spanProcessors: [v5.processor] });
    // Global registration installs the AsyncLocalStorage context manager that
    // startActiveObservation/propagateAttributes rely on.
    v5.provider.register();
    setLangfuseTracerProvider(v5.provider);
    v5.langfuse = new LangfuseClient({ publicKey, secretKey, baseUrl });
    exchangeSink = () => ctx.exchanges;
  });

  /** The SDK log lines recorded since `mark` (an index returned by `ctx.logMark()`). */
  ctx.logMark = () => sdkLog.length;
  ctx.sdkLogSince = (mark) => sdkLog.slice(mark);

  ctx.flushTraces = async () => {
    const mark = sdkLog.length;
    // Rejects when the OTLP export failed (non-2xx after the exporter's retries).
    await v5.processor.forceFlush();
    assert.deepEqual(
      sdkLog.slice(mark),
      [],
      'the SDK logged warnings/errors while exporting spans (e.g. an OTLP partialSuccess)',
    );
  };

  ctx.flushScores = async () => {
    const mark = sdkLog.length;
    const start = ctx.exchanges.length;
    await v5.langfuse.flush();
    const sent = ctx.exchanges.slice(start).filter((x) => x.kind === 'sdk-v5' && x.url.endsWith('/api/public/ingestion'));
    assert.ok(sent.length > 0, 'langfuse.flush() did not send any ingestion request');
    for (const x of sent) {
      assert.ok(!x.error && x.status >= 200 && x.status < 300, `ingestion request failed: ${describeRestExchange(x)}`);
      const body = tryParse(x.responseText);
      assert.ok(body && typeof body === 'object', `ingestion response is not JSON: ${describeRestExchange(x)}`);
      if (x.status === 207 || Array.isArray(body.errors)) {
        assert.deepEqual(body.errors, [], `ingestion rejected score events: ${describeRestExchange(x)}`);
      }
    }
    assert.deepEqual(sdkLog.slice(mark), [], 'the SDK logged warnings/errors while sending scores');
    return sent.map((x) => JSON.parse(x.requestBody));
  };

  ctx.readEventually = (pathAndQuery, ready) => ctx.read(pathAndQuery, ready, { timeoutMs: V5_READ_TIMEOUT_MS });

  return ctx;
}

