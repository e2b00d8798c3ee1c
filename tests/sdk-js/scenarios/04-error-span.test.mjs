// Scenario 4: observations ended with level ERROR and a status message (`span.end()` /
// `generation.end()`), next to a normal span; plus the client `environment` option.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

import { byId, useGlassbox } from '../lib/harness.mjs';

const ctx = useGlassbox();

function assertWithin(iso, fromMs, toMs, what) {
  const ms = Date.parse(iso);
  assert.ok(Number.isFinite(ms), `${what}: not a timestamp: ${JSON.stringify(iso)}`);
  assert.ok(ms >= fromMs && ms <= toMs, `${what}: ${iso} not within the test's run window`);
}

ctx.scenario('span and generation ended with level ERROR keep level and statusMessage', async () => {
  const langfuse = ctx.langfuse();
  const traceId = randomUUID();
  const startedAt = Date.now();

  const trace = langfuse.trace({ id: traceId, name: 'error-flow' });
  const ok = trace.span({ name: 'ok-step', input: { n: 1 } });
  ok.end({ output: 'fine' });
  const failing = trace.span({ name: 'call-payment-api', input: { amount: 42 } });
  failing.end({
    level: 'ERROR',
    statusMessage: 'payment API returned 503',
    output: { error: 'Service Unavailable' },
  });
  const generation = failing.generation({ name: 'explain-failure', model: 'glassbox-test-model', input: 'why?' });
  generation.end({ level: 'ERROR', statusMessage: 'rate limited by provider' });
  const endedAt = Date.now();

  await ctx.flush(langfuse);

  const t = await ctx.read(`/api/public/traces/${traceId}`, (b) => b.observations?.length === 3);
  const obs = byId(t.observations, 'trace.observations');

  const f = obs.get(failing.id);
  assert.ok(f, 'failing span missing');
  assert.equal(f.type, 'SPAN');
  assert.equal(f.name, 'call-payment-api');
  assert.equal(f.level, 'ERROR');
  assert.equal(f.statusMessage, 'payment API returned 503');
  assert.deepEqual(f.input, { amount: 42 });
  assert.deepEqual(f.output, { error: 'Service Unavailable' });
  assertWithin(f.startTime, startedAt, endedAt, 'failing.startTime');
  assertWithin(f.endTime, Date.parse(f.startTime), endedAt, 'failing.endTime (set by end())');

  const g = obs.get(generation.id);
  assert.ok(g, 'failed generation missing');
  assert.equal(g.type, 'GENERATION');
  assert.equal(g.parentObservationId, failing.id);
  assert.equal(g.level, 'ERROR');
  assert.equal(g.statusMessage, 'rate limited by provider');
  assert.equal(g.output ?? null, null, 'no output was sent');
  assertWithin(g.endTime, startedAt, endedAt, 'generation.endTime (set by end())');

  const o = obs.get(ok.id);
  assert.ok(o, 'ok span missing');
  assert.equal(o.level, 'DEFAULT', 'level defaults to DEFAULT');
  assert.equal(o.statusMessage ?? null, null);
  assert.equal(o.output, 'fine');

  const errors = await ctx.read(`/api/public/observations?traceId=${traceId}&level=ERROR`, (b) => b.data?.length === 2);
  assert.deepEqual(
    errors.data.map((x) => x.id).sort(),
    [failing.id, generation.id].sort(),
    'observations?level=ERROR returns exactly the two failed observations',
  );
});

ctx.scenario('client environment option is stored on traces, observations and scores', async () => {
  const langfuse = ctx.langfuse({ environment: 'sdk-staging' });
  const traceId = randomUUID();
  const trace = langfuse.trace({ id: traceId, name: 'env-trace' });
  const span = trace.span({ name: 'env-span' });
  span.end();
  trace.score({ name: 'env-score', value: 1 });
  await ctx.flush(langfuse);

  const t = await ctx.read(`/api/public/traces/${traceId}`, (b) => b.observations?.length === 1 && b.scores?.length === 1);
  assert.equal(t.environment, 'sdk-staging');
  assert.equal(t.observations[0].environment, 'sdk-staging');
  assert.equal(t.scores[0].environment, 'sdk-staging');
});
