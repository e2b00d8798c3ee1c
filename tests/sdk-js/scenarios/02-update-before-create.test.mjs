// Scenario 2: an observation update that reaches the server before its create.
//
// JS SDK 3.x queues events after async media processing, so `generation-update` can be
// sent ahead of its `generation-create` (observed in the wire captures). Here it is made
// deterministic with the SDK's public `_updateSpan` / `_updateGeneration` methods (what
// `span.update()` / `generation.end()` call), issued before the create.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

import { assertSameTime, byId, nextMillisecond, timeline, useGlassbox, wireOrder } from '../lib/harness.mjs';

const ctx = useGlassbox();

ctx.scenario('span-update flushed in an earlier batch than its span-create is merged', async () => {
  const langfuse = ctx.langfuse();
  const at = timeline();
  const traceId = randomUUID();
  const spanId = randomUUID();

  langfuse.trace({ id: traceId, name: 'update-before-create', timestamp: at(0) });
  langfuse._updateSpan({
    id: spanId,
    traceId,
    endTime: at(3000),
    output: { result: 'done' },
    metadata: { phase: 'update' },
  });
  const first = await ctx.flush(langfuse);
  assert.deepEqual(
    wireOrder(first).sort(),
    [`span-update(${spanId})`, `trace-create(${traceId})`],
    'precondition: batch 1 carries the update but not the create',
  );

  langfuse.span({
    id: spanId,
    traceId,
    name: 'late-create',
    startTime: at(1000),
    input: { question: 'q' },
    metadata: { origin: 'create' },
  });
  const second = await ctx.flush(langfuse);
  assert.deepEqual(wireOrder(second), [`span-create(${spanId})`], 'precondition: batch 2');

  const t = await ctx.read(`/api/public/traces/${traceId}`, (b) => b.observations?.[0]?.name === 'late-create');
  assert.equal(t.observations.length, 1, 'create and update are one observation');
  const s = t.observations[0];
  assert.equal(s.id, spanId);
  assert.equal(s.traceId, traceId);
  assert.equal(s.type, 'SPAN');
  assert.equal(s.name, 'late-create', 'name from the create');
  assertSameTime(s.startTime, at(1000), 'startTime from the create (not the update envelope time)');
  assertSameTime(s.endTime, at(3000), 'endTime from the update');
  assert.deepEqual(s.input, { question: 'q' }, 'input from the create');
  assert.deepEqual(s.output, { result: 'done' }, 'output from the update');
  assert.deepEqual(s.metadata, { phase: 'update', origin: 'create' }, 'metadata merged key-wise');
  assert.equal(s.parentObservationId, null);
  assert.equal(s.level, 'DEFAULT');

  const single = await ctx.read(`/api/public/observations/${spanId}`);
  assert.equal(single.name, 'late-create');
  assert.deepEqual(single.output, { result: 'done' });
});

ctx.scenario('generation-update before generation-create in the same batch is merged', async () => {
  const langfuse = ctx.langfuse();
  const at = timeline();
  const traceId = randomUUID();
  const parentId = randomUUID();
  const generationId = randomUUID();

  const trace = langfuse.trace({ id: traceId, name: 'gen-update-first', timestamp: at(0) });
  trace.span({ id: parentId, name: 'parent', startTime: at(0), endTime: at(5000) });
  langfuse._updateGeneration({
    id: generationId,
    traceId,
    endTime: at(2500),
    output: 'The answer is 4.',
    usage: { input: 7, output: 3 },
    level: 'WARNING',
    statusMessage: 'truncated',
  });
  // Distinct envelope timestamps (ms resolution) so the update is unambiguously older.
  await nextMillisecond();
  langfuse.generation({
    id: generationId,
    traceId,
    parentObservationId: parentId,
    name: 'late-generation',
    startTime: at(1000),
    model: 'glassbox-test-model',
    modelParameters: { temperature: 0 },
    input: [{ role: 'user', content: 'What is 2 + 2?' }],
  });
  const batches = await ctx.flush(langfuse);
  assert.equal(batches.length, 1, 'precondition: a single ingestion request');
  const order = wireOrder(batches);
  assert.ok(
    order.indexOf(`generation-update(${generationId})`) < order.indexOf(`generation-create(${generationId})`),
    `precondition: update precedes create on the wire, got ${order.join(', ')}`,
  );

  const t = await ctx.read(`/api/public/traces/${traceId}`, (b) => b.observations?.length === 2);
  const obs = byId(t.observations, 'trace.observations');
  const g = obs.get(generationId);
  assert.ok(g, `generation ${generationId} missing`);
  assert.equal(g.type, 'GENERATION');
  assert.equal(g.name, 'late-generation');
  assert.equal(g.parentObservationId, parentId);
  assert.equal(g.model, 'glassbox-test-model');
  assert.deepEqual(g.modelParameters, { temperature: 0 });
  assert.deepEqual(g.input, [{ role: 'user', content: 'What is 2 + 2?' }]);
  assert.equal(g.output, 'The answer is 4.');
  assertSameTime(g.startTime, at(1000), 'startTime from the create');
  assertSameTime(g.endTime, at(2500), 'endTime from the update');
  assert.equal(g.level, 'WARNING');
  assert.equal(g.statusMessage, 'truncated');
  assert.deepEqual(
    { input: g.usage?.input, output: g.usage?.output, total: g.usage?.total },
    { input: 7, output: 3, total: 10 },
    'usage from the update; total = input + output when not sent',
  );
  assert.equal(g.totalTokens, 10);
});
