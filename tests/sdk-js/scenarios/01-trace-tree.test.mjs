// Scenario 1: trace → span → nested generation → event, scores on the trace and on the
// generation, all trace attributes; read back through traces, observations, scores and
// sessions endpoints.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

import { assertApprox, assertSameTime, byId, timeline, useGlassbox } from '../lib/harness.mjs';

const ctx = useGlassbox();

ctx.scenario('trace with span, nested generation, event and scores is stored as a tree', async () => {
  const langfuse = ctx.langfuse();
  const at = timeline();
  const tag = randomUUID().slice(0, 8);
  const traceId = randomUUID();
  const userId = `user-${tag}`;
  const sessionId = `session-${tag}`;

  const messages = [
    { role: 'system', content: 'You are a helpful shop assistant.' },
    { role: 'user', content: 'Where is my order 42?' },
  ];
  const completion = { role: 'assistant', content: 'Order 42 ships tomorrow.' };

  const trace = langfuse.trace({
    id: traceId,
    name: 'checkout-flow',
    timestamp: at(0),
    userId,
    sessionId,
    release: 'rel-1.2.3',
    version: 'v7',
    tags: ['zeta', 'alpha', 'sdk-js'],
    metadata: { suite: 'sdk-js', attempt: 1, nested: { flags: ['a', 'b'] } },
    input: { question: 'Where is my order 42?' },
    output: { answer: 'Order 42 ships tomorrow.' },
  });

  const span = trace.span({
    name: 'retrieve-context',
    startTime: at(0),
    input: { query: 'order 42' },
    metadata: { retriever: 'bm25' },
  });

  // A root-level generation with OpenAI-style legacy usage and a model without prices.
  const classifier = trace.generation({
    name: 'classify-intent',
    startTime: at(500),
    endTime: at(800),
    model: 'glassbox-test-classifier',
    input: 'Where is my order 42?',
    output: 'order_status',
    usage: { promptTokens: 3, completionTokens: 4, totalTokens: 7 },
  });

  const generation = span.generation({
    name: 'answer-llm',
    startTime: at(1000),
    completionStartTime: at(1500),
    model: 'gpt-4o-mini',
    modelParameters: { temperature: 0.7, maxTokens: 100 },
    input: messages,
  });

  const event = span.event({
    name: 'cache-miss',
    startTime: at(2000),
    level: 'WARNING',
    statusMessage: 'cache was cold',
    input: { key: 'order:42' },
  });

  generation.update({
    endTime: at(3000),
    output: completion,
    usage: { input: 10, output: 5, total: 15 },
    usageDetails: { input: 10, output: 5, cache_read_input_tokens: 2 },
    costDetails: { input: 0.00001, output: 0.00002 },
  });
  span.update({ endTime: at(4000), output: { documents: 2 } });

  trace.score({ name: 'user-feedback', value: 0.9, dataType: 'NUMERIC', comment: 'Answer was accurate' });
  generation.score({ name: 'tone', value: 'friendly', dataType: 'CATEGORICAL' });

  await ctx.flush(langfuse);

  // ---- GET /api/public/traces/{id}
  const t = await ctx.read(`/api/public/traces/${traceId}`, (b) => b.observations?.length === 4 && b.scores?.length === 2);
  assert.equal(t.id, traceId);
  assert.equal(t.name, 'checkout-flow');
  assertSameTime(t.timestamp, at(0), 'trace.timestamp');
  assert.equal(t.userId, userId);
  assert.equal(t.sessionId, sessionId);
  assert.equal(t.release, 'rel-1.2.3');
  assert.equal(t.version, 'v7');
  assert.deepEqual(t.tags, ['alpha', 'sdk-js', 'zeta'], 'trace tags are stored sorted');
  assert.deepEqual(t.metadata, { suite: 'sdk-js', attempt: 1, nested: { flags: ['a', 'b'] } });
  assert.deepEqual(t.input, { question: 'Where is my order 42?' });
  assert.deepEqual(t.output, { answer: 'Order 42 ships tomorrow.' });
  assert.equal(t.public, false);
  assert.equal(t.environment, 'default');
  assertApprox(t.latency, 4, 'trace.latency (s, first start → last end)', 1e-6);
  assertApprox(t.totalCost, 0.00003, 'trace.totalCost (Σ calculatedTotalCost)');

  assert.equal(t.observations.length, 4, 'trace.observations: span, 2 generations, event');
  const obs = byId(t.observations, 'trace.observations');
  for (const id of [span.id, classifier.id, generation.id, event.id]) {
    assert.ok(obs.has(id), `observation ${id} missing from trace.observations`);
  }
  for (const o of obs.values()) assert.equal(o.traceId, traceId, `observation ${o.id} traceId`);

  const s = obs.get(span.id);
  assert.equal(s.type, 'SPAN');
  assert.equal(s.name, 'retrieve-context');
  assert.equal(s.parentObservationId, null, 'span is a root observation');
  assertSameTime(s.startTime, at(0), 'span.startTime');
  assertSameTime(s.endTime, at(4000), 'span.endTime');
  assert.deepEqual(s.input, { query: 'order 42' });
  assert.deepEqual(s.output, { documents: 2 });
  assert.deepEqual(s.metadata, { retriever: 'bm25' });
  assert.equal(s.level, 'DEFAULT');
  assert.equal(s.statusMessage ?? null, null);

  const g = obs.get(generation.id);
  assert.equal(g.type, 'GENERATION');
  assert.equal(g.name, 'answer-llm');
  assert.equal(g.parentObservationId, span.id, 'generation is nested in the span');
  assertSameTime(g.startTime, at(1000), 'generation.startTime');
  assertSameTime(g.endTime, at(3000), 'generation.endTime');
  assertSameTime(g.completionStartTime, at(1500), 'generation.completionStartTime');
  assert.equal(g.model, 'gpt-4o-mini');
  assert.deepEqual(g.modelParameters, { temperature: 0.7, maxTokens: 100 });
  assert.deepEqual(g.input, messages);
  assert.deepEqual(g.output, completion);
  assert.equal(g.level, 'DEFAULT');
  // The reported total (15 = 10 + 5) shows that the 10 input tokens already include the 2
  // cache reads, so glassbox stores input 8 + cache_read_input_tokens 2 and never bills the
  // cached tokens twice. Legacy usage fields reduce usageDetails: input = Σ keys containing
  // "input" = 8 + 2, output likewise, total = total.
  assert.equal(g.usage?.input, 10, 'generation.usage.input = input + cache_read_input_tokens');
  assert.equal(g.usage?.output, 5, 'generation.usage.output');
  assert.equal(g.usage?.total, 15, 'generation.usage.total');
  assert.equal(g.usage?.unit, 'TOKENS', 'generation.usage.unit');
  assert.equal(g.promptTokens, 10);
  assert.equal(g.completionTokens, 5);
  assert.equal(g.totalTokens, 15);
  assert.deepEqual(
    g.usageDetails,
    { input: 8, output: 5, total: 15, cache_read_input_tokens: 2 },
    'usageDetails = legacy usage overlaid by usageDetails',
  );
  assertApprox(g.costDetails?.input, 0.00001, 'generation.costDetails.input');
  assertApprox(g.costDetails?.output, 0.00002, 'generation.costDetails.output');
  assertApprox(g.costDetails?.total, 0.00003, 'generation.costDetails.total (sum of provided input+output)');
  assertApprox(g.calculatedInputCost, 0.00001, 'generation.calculatedInputCost');
  assertApprox(g.calculatedOutputCost, 0.00002, 'generation.calculatedOutputCost');
  assertApprox(g.calculatedTotalCost, 0.00003, 'generation.calculatedTotalCost');
  assertApprox(g.latency, 2, 'generation.latency (s)', 1e-6);
  assertApprox(g.timeToFirstToken, 0.5, 'generation.timeToFirstToken (s)', 1e-6);

  const c = obs.get(classifier.id);
  assert.equal(c.type, 'GENERATION');
  assert.equal(c.name, 'classify-intent');
  assert.equal(c.parentObservationId, null);
  assert.equal(c.model, 'glassbox-test-classifier');
  assert.equal(c.input, 'Where is my order 42?');
  assert.equal(c.output, 'order_status');
  assertSameTime(c.startTime, at(500), 'classifier.startTime');
  assertSameTime(c.endTime, at(800), 'classifier.endTime');
  assert.deepEqual(
    { input: c.usage?.input, output: c.usage?.output, total: c.usage?.total },
    { input: 3, output: 4, total: 7 },
    'OpenAI-style usage {promptTokens, completionTokens, totalTokens} maps to input/output/total',
  );
  assert.deepEqual(c.usageDetails, { input: 3, output: 4, total: 7 });

  const e = obs.get(event.id);
  assert.equal(e.type, 'EVENT');
  assert.equal(e.name, 'cache-miss');
  assert.equal(e.parentObservationId, span.id, 'event is nested in the span');
  assertSameTime(e.startTime, at(2000), 'event.startTime');
  assert.equal(e.level, 'WARNING');
  assert.equal(e.statusMessage, 'cache was cold');
  assert.deepEqual(e.input, { key: 'order:42' });

  const scores = new Map(t.scores.map((x) => [x.name, x]));
  const fb = scores.get('user-feedback');
  assert.ok(fb, 'trace score user-feedback missing');
  assert.equal(fb.dataType, 'NUMERIC');
  assert.equal(fb.value, 0.9);
  assert.equal(fb.stringValue ?? null, null, 'NUMERIC score has no stringValue');
  assert.equal(fb.comment, 'Answer was accurate');
  assert.equal(fb.traceId, traceId);
  assert.equal(fb.observationId ?? null, null);
  assert.equal(fb.source, 'API');
  const tone = scores.get('tone');
  assert.ok(tone, 'generation score tone missing');
  assert.equal(tone.dataType, 'CATEGORICAL');
  assert.equal(tone.stringValue, 'friendly');
  assert.equal(tone.value, 0, 'CATEGORICAL without config has value 0');
  assert.equal(tone.traceId, traceId);
  assert.equal(tone.observationId, generation.id);
  assert.equal(tone.comment ?? null, null);

  // ---- GET /api/public/traces?userId=...
  const list = await ctx.read(`/api/public/traces?userId=${encodeURIComponent(userId)}`, (b) => b.data?.length === 1);
  assert.equal(list.data.length, 1, 'one trace for the user');
  assert.equal(list.meta?.totalItems, 1);
  const item = list.data[0];
  assert.equal(item.id, traceId);
  assert.equal(item.name, 'checkout-flow');
  assert.deepEqual(item.tags, ['alpha', 'sdk-js', 'zeta']);
  assert.deepEqual([...item.observations].sort(), [span.id, classifier.id, generation.id, event.id].sort());
  assert.equal(item.scores.length, 2);
  assertApprox(item.totalCost, 0.00003, 'list item totalCost');
  assertApprox(item.latency, 4, 'list item latency', 1e-6);

  // ---- GET /api/public/observations?traceId=...  (start_time DESC)
  const o = await ctx.read(`/api/public/observations?traceId=${traceId}`, (b) => b.data?.length === 4);
  assert.deepEqual(
    o.data.map((x) => x.id),
    [event.id, generation.id, classifier.id, span.id],
    'observations ordered by startTime descending',
  );
  assert.equal(o.meta?.totalItems, 4);
  assert.deepEqual(o.data[1], g, 'list and trace endpoints return the same generation object');

  // ---- GET /api/public/v2/scores?traceId=...
  const sc = await ctx.read(`/api/public/v2/scores?traceId=${traceId}`, (b) => b.data?.length === 2);
  assert.deepEqual(sc.data.map((x) => x.name).sort(), ['tone', 'user-feedback']);
  const v2tone = sc.data.find((x) => x.name === 'tone');
  assert.equal(v2tone.observationId, generation.id);
  assert.equal(v2tone.stringValue, 'friendly');
  assert.equal(v2tone.trace?.userId, userId, 'v2 score carries trace.userId');
  assert.deepEqual(v2tone.trace?.tags, ['alpha', 'sdk-js', 'zeta'], 'v2 score carries trace.tags');

  // ---- GET /api/public/sessions/{id}
  const session = await ctx.read(`/api/public/sessions/${encodeURIComponent(sessionId)}`);
  assert.equal(session.id, sessionId);
  assert.equal(session.environment, 'default');
  assert.deepEqual(session.traces.map((x) => x.id), [traceId], 'session lists its trace');
});
