// Scenario 5: scores through `langfuse.score({...})`: BOOLEAN true/false, a NUMERIC score
// with a comment and no dataType (inferred), a CATEGORICAL one on an observation with the
// type inferred from the string value, and a re-sent score id (update).

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

import { useGlassbox } from '../lib/harness.mjs';

const ctx = useGlassbox();

ctx.scenario('boolean, numeric-with-comment and inferred scores are stored with their types', async () => {
  const langfuse = ctx.langfuse();
  const traceId = randomUUID();
  const userId = `user-${traceId.slice(0, 8)}`;
  const ids = { yes: randomUUID(), no: randomUUID(), helpful: randomUUID(), tone: randomUUID() };

  const trace = langfuse.trace({ id: traceId, name: 'scored-trace', userId, tags: ['scores'] });
  const span = trace.span({ name: 'answer' });
  span.end({ output: 'ok' });

  langfuse.score({ id: ids.yes, traceId, name: 'is-correct', value: 1, dataType: 'BOOLEAN' });
  langfuse.score({ id: ids.no, traceId, name: 'is-toxic', value: 0, dataType: 'BOOLEAN', comment: 'rule check passed' });
  langfuse.score({ id: ids.helpful, traceId, name: 'helpfulness', value: 4.5, comment: 'mostly helpful, one gap' });
  langfuse.score({ id: ids.tone, traceId, observationId: span.id, name: 'tone', value: 'friendly' });
  await ctx.flush(langfuse);

  const v2 = await ctx.read(`/api/public/v2/scores?traceId=${traceId}`, (b) => b.data?.length === 4);
  assert.equal(v2.data.length, 4, 'four scores for the trace');
  assert.equal(v2.meta?.totalItems, 4);
  const byScoreId = new Map(v2.data.map((s) => [s.id, s]));
  for (const [key, id] of Object.entries(ids)) assert.ok(byScoreId.has(id), `score ${key} (${id}) missing`);

  const yes = byScoreId.get(ids.yes);
  assert.equal(yes.name, 'is-correct');
  assert.equal(yes.dataType, 'BOOLEAN');
  assert.equal(yes.value, 1);
  assert.equal(yes.stringValue, 'True');
  assert.equal(yes.comment ?? null, null);
  assert.equal(yes.traceId, traceId);
  assert.equal(yes.observationId ?? null, null);
  assert.equal(yes.source, 'API');

  const no = byScoreId.get(ids.no);
  assert.equal(no.dataType, 'BOOLEAN');
  assert.equal(no.value, 0);
  assert.equal(no.stringValue, 'False');
  assert.equal(no.comment, 'rule check passed');

  const helpful = byScoreId.get(ids.helpful);
  assert.equal(helpful.name, 'helpfulness');
  assert.equal(helpful.dataType, 'NUMERIC', 'number without dataType is NUMERIC');
  assert.equal(helpful.value, 4.5);
  assert.equal(helpful.stringValue ?? null, null);
  assert.equal(helpful.comment, 'mostly helpful, one gap');
  assert.equal(helpful.trace?.userId, userId, 'v2 score carries trace.userId');
  assert.deepEqual(helpful.trace?.tags, ['scores']);

  const tone = byScoreId.get(ids.tone);
  assert.equal(tone.dataType, 'CATEGORICAL', 'string without dataType is CATEGORICAL');
  assert.equal(tone.stringValue, 'friendly');
  assert.equal(tone.observationId, span.id);

  // The same scores through the trace endpoint.
  const t = await ctx.read(`/api/public/traces/${traceId}`, (b) => b.scores?.length === 4);
  assert.deepEqual(t.scores.map((s) => s.id).sort(), Object.values(ids).sort());
  const traceYes = t.scores.find((s) => s.id === ids.yes);
  assert.equal(traceYes.dataType, 'BOOLEAN');
  assert.equal(traceYes.stringValue, 'True');

  // Filtering by dataType and by observation.
  const booleans = await ctx.read(`/api/public/v2/scores?traceId=${traceId}&dataType=BOOLEAN`, (b) => b.data?.length === 2);
  assert.deepEqual(booleans.data.map((s) => s.id).sort(), [ids.yes, ids.no].sort(), 'dataType=BOOLEAN filter');
  const onSpan = await ctx.read(`/api/public/v2/scores?traceId=${traceId}&observationId=${span.id}`, (b) => b.data?.length === 1);
  assert.deepEqual(onSpan.data.map((s) => s.id), [ids.tone], 'observationId filter');
});

ctx.scenario('a score re-sent with the same id is updated in place', async () => {
  const langfuse = ctx.langfuse();
  const traceId = randomUUID();
  const scoreId = randomUUID();
  langfuse.trace({ id: traceId, name: 'rescored-trace' });
  langfuse.score({ id: scoreId, traceId, name: 'quality', value: 2, comment: 'first pass' });
  await ctx.flush(langfuse);
  const first = await ctx.read(`/api/public/v2/scores?traceId=${traceId}`, (b) => b.data?.length === 1);
  assert.equal(first.data[0].value, 2);

  langfuse.score({ id: scoreId, traceId, name: 'quality', value: 5, comment: 'after review' });
  await ctx.flush(langfuse);
  const v2 = await ctx.read(`/api/public/v2/scores?traceId=${traceId}`, (b) => b.data?.[0]?.value === 5);
  assert.equal(v2.data.length, 1, 'still one score');
  assert.equal(v2.data[0].id, scoreId);
  assert.equal(v2.data[0].value, 5);
  assert.equal(v2.data[0].comment, 'after review');
  assert.equal(v2.data[0].dataType, 'NUMERIC');
});
