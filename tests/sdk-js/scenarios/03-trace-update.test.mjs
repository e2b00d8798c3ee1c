// Scenario 3: `trace.update()` re-sends `trace-create` with the same id; the server
// must upsert: latest name/output win, metadata merges key-wise, tags are a sorted
// union, fields the update does not carry (input, userId) and the first timestamp stay.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

import { SDK_RELEASE, assertSameTime, nextMillisecond, timeline, useGlassbox, wireOrder } from '../lib/harness.mjs';

const ctx = useGlassbox();

function createDraft(langfuse, at, ids) {
  return langfuse.trace({
    id: ids.traceId,
    name: 'draft-name',
    timestamp: at(0),
    userId: ids.userId,
    input: { prompt: 'hi' },
    tags: ['beta', 'alpha'],
    metadata: { stage: 'draft', owner: 'team-a' },
  });
}

async function assertMerged(ids, at) {
  const t = await ctx.read(`/api/public/traces/${ids.traceId}`, (b) => b.name === 'final-name');
  assert.equal(t.id, ids.traceId);
  assert.equal(t.name, 'final-name', 'name from the update');
  assert.deepEqual(t.input, { prompt: 'hi' }, 'input kept from the first create');
  assert.deepEqual(t.output, { reply: 'hello' }, 'output from the update');
  assert.deepEqual(t.tags, ['alpha', 'beta', 'gamma'], 'tags: sorted union');
  assert.deepEqual(t.metadata, { stage: 'final', owner: 'team-a', reviewed: true }, 'metadata merged key-wise');
  assert.equal(t.userId, ids.userId, 'userId kept from the first create');
  assert.equal(t.sessionId, ids.sessionId, 'sessionId from the update');
  assert.equal(t.release, SDK_RELEASE, 'release (client default) on both creates');
  assertSameTime(t.timestamp, at(0), 'timestamp of the first create is kept');

  const list = await ctx.read(`/api/public/traces?userId=${encodeURIComponent(ids.userId)}`, (b) => b.data?.length === 1);
  assert.deepEqual(list.data.map((x) => x.id), [ids.traceId], 'the upsert did not create a second trace');
  assert.equal(list.data[0].name, 'final-name');

  const session = await ctx.read(`/api/public/sessions/${encodeURIComponent(ids.sessionId)}`);
  assert.deepEqual(session.traces.map((x) => x.id), [ids.traceId], 'session set by the update exists');
}

function newIds() {
  const tag = randomUUID().slice(0, 8);
  return { traceId: randomUUID(), userId: `user-${tag}`, sessionId: `session-${tag}` };
}

const UPDATE = {
  name: 'final-name',
  output: { reply: 'hello' },
  tags: ['gamma', 'alpha'],
  metadata: { stage: 'final', reviewed: true },
};

ctx.scenario('trace.update() in the same batch as the create is merged', async () => {
  const langfuse = ctx.langfuse();
  const at = timeline();
  const ids = newIds();
  const trace = createDraft(langfuse, at, ids);
  await nextMillisecond(); // distinct envelope timestamps
  trace.update({ ...UPDATE, sessionId: ids.sessionId });
  const batches = await ctx.flush(langfuse);
  assert.deepEqual(
    wireOrder(batches),
    [`trace-create(${ids.traceId})`, `trace-create(${ids.traceId})`],
    'precondition: update is a second trace-create with the same id',
  );
  await assertMerged(ids, at);
});

ctx.scenario('trace.update() flushed after the create is merged with the stored trace', async () => {
  const langfuse = ctx.langfuse();
  const at = timeline();
  const ids = newIds();
  const trace = createDraft(langfuse, at, ids);
  await ctx.flush(langfuse);
  const before = await ctx.read(`/api/public/traces/${ids.traceId}`);
  assert.equal(before.name, 'draft-name');
  assert.deepEqual(before.tags, ['alpha', 'beta']);

  trace.update({ ...UPDATE, sessionId: ids.sessionId });
  await ctx.flush(langfuse);
  await assertMerged(ids, at);
});
