// Scenario 11 (JS SDK 5.11.1): how the trace is put together from spans.
// - A trace exported in two OTLP requests (a child flushed while the root is still open, the
//   root later) under propagateAttributes with an environment and a prompt: the trace gets
//   its attributes from whichever spans arrived, the root's input/output become the trace's
//   when setActiveTraceIO is not used, and the propagated prompt is linked to generations only.
// - A span continuing a remote parent (parentSpanContext with a seeded trace id from
//   createTraceId): it is the app root (`langfuse.internal.is_app_root`), so it names the
//   trace, while keeping the remote parent id.

import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';

import { createTraceId, propagateAttributes, startActiveObservation, startObservation } from '@langfuse/tracing';

import { assertSameTime, byId } from '../lib/harness.mjs';
import { useGlassboxV5 } from '../lib/v5.mjs';

const ctx = useGlassboxV5();

ctx.scenario('v5: a trace exported in two batches with a propagated environment and prompt', async () => {
  const userId = `v5-user-${randomUUID().slice(0, 8)}`;
  const ids = {};
  let afterFirstFlush;

  await startActiveObservation('v5-split-root', async (root) => {
    ids.root = root.id;
    ids.traceId = root.traceId;
    root.update({ input: { q: 'split' }, metadata: { origin: 'root' } });
    await propagateAttributes(
      {
        userId,
        traceName: 'v5-split',
        tags: ['zeta', 'alpha'],
        environment: 'staging',
        prompt: { name: 'v5-propagated-prompt', version: 2 },
      },
      async () => {
        const helper = startObservation('v5-helper', { input: 'h' });
        ids.helper = helper.id;
        helper.end();
        const gen = startObservation(
          'v5-split-gen',
          { model: 'gpt-4o-mini', input: 'hi', output: 'hello', usageDetails: { input: 1, output: 1 } },
          { asType: 'generation' },
        );
        ids.generation = gen.id;
        gen.end();

        // First export: the two children, while the root span is still open.
        await ctx.flushTraces();
        afterFirstFlush = await ctx.readEventually(
          `/api/public/traces/${ids.traceId}`,
          (b) => b.observations?.length === 2,
        );
      },
    );
    root.update({ output: { a: 'done' } });
  });
  // Second export: the root.
  await ctx.flushTraces();
  const traceId = ids.traceId;

  // After the first export the trace already exists, built from the children's attributes.
  assert.equal(afterFirstFlush.id, traceId);
  assert.equal(afterFirstFlush.name, 'v5-split', 'trace name from a child span (langfuse.trace.name)');
  assert.equal(afterFirstFlush.userId, userId, 'user from a child span');
  assert.equal(afterFirstFlush.environment, 'staging', 'environment from a child span');
  assert.deepEqual([...afterFirstFlush.observations.map((o) => o.id)].sort(), [ids.helper, ids.generation].sort());

  const t = await ctx.readEventually(`/api/public/traces/${traceId}`, (b) => b.observations?.length === 3);
  assert.equal(t.name, 'v5-split', 'the root does not override the propagated trace name');
  assert.equal(t.userId, userId);
  assert.equal(t.environment, 'staging', 'langfuse.environment from propagateAttributes');
  assert.deepEqual([...(t.tags ?? [])].sort(), ['alpha', 'zeta'], 'langfuse.trace.tags');
  assert.deepEqual(t.input, { q: 'split' }, 'without setActiveTraceIO the trace input is the root span input');
  assert.deepEqual(t.output, { a: 'done' }, 'without setActiveTraceIO the trace output is the root span output');
  assert.equal(t.metadata?.origin, 'root', 'root observation metadata reaches the trace');
  const root = t.observations.find((o) => o.id === ids.root);
  assert.ok(root, 'root observation present after the second export');
  assertSameTime(t.timestamp, Date.parse(root.startTime), 'trace.timestamp = root start (the earliest span)');

  const obs = byId(t.observations, 'trace.observations');
  assert.equal(obs.get(ids.root).parentObservationId, null);
  assert.equal(obs.get(ids.helper).parentObservationId, ids.root);
  assert.equal(obs.get(ids.generation).parentObservationId, ids.root);
  for (const o of t.observations) assert.equal(o.environment, 'staging', `${o.name}.environment`);

  const gen = obs.get(ids.generation);
  assert.equal(gen.type, 'GENERATION');
  assert.equal(gen.promptName, 'v5-propagated-prompt', 'a propagated prompt is linked to generations');
  assert.equal(gen.promptVersion, 2);
  assert.deepEqual(gen.usageDetails, { input: 1, output: 1, total: 2 });
  // propagateAttributes puts the prompt attributes on every span in scope, including the
  // plain span; only generation-like observations are linked (sdk-wire.md §3, "Prompt link").
  assert.equal(obs.get(ids.helper).promptName ?? null, null, 'no prompt link on a plain span');
  assert.equal(obs.get(ids.helper).promptVersion ?? null, null);

  // v2 filters: environment (any of) and isRootObservation.
  const staging = await ctx.readEventually(
    `/api/public/v2/observations?traceId=${traceId}&environment=staging&fields=core,basic,prompt`,
    (b) => b.data?.length === 3,
  );
  assert.equal(staging.data.length, 3, 'environment=staging');
  const stagingGen = staging.data.find((o) => o.id === ids.generation);
  assert.equal(stagingGen.promptName, 'v5-propagated-prompt');
  const none = await ctx.get(`/api/public/v2/observations?traceId=${traceId}&environment=default`);
  assert.equal(none.status, 200);
  assert.deepEqual(none.json?.data, [], 'environment=default matches nothing');
  const roots = await ctx.readEventually(
    `/api/public/v2/observations?traceId=${traceId}&isRootObservation=true`,
    (b) => b.data?.length === 1,
  );
  assert.deepEqual(roots.data.map((o) => o.id), [ids.root], 'isRootObservation=true');
});

ctx.scenario('v5: a span continuing a remote parent under a seeded trace id is the trace root', async () => {
  const seed = `glassbox-remote-${randomUUID()}`;
  const traceId = await createTraceId(seed);
  assert.equal(traceId, createHash('sha256').update(seed).digest('hex').slice(0, 32), 'createTraceId(seed)');
  const remoteParentId = '0123456789abcdef';

  const span = startObservation(
    'v5-remote-child',
    { input: 'r', output: { ok: 1 } },
    { parentSpanContext: { traceId, spanId: remoteParentId, traceFlags: 1 } },
  );
  assert.equal(span.traceId, traceId);
  span.end();
  await ctx.flushTraces();

  const t = await ctx.readEventually(`/api/public/traces/${traceId}`, (b) => b.observations?.length === 1);
  assert.equal(t.id, traceId);
  assert.equal(t.name, 'v5-remote-child', 'the app-root span names the trace');
  assert.equal(t.input, 'r', 'the app-root span input is the trace input');
  assert.deepEqual(t.output, { ok: 1 });
  assert.equal(t.environment, 'default');
  const [o] = t.observations;
  assert.equal(o.id, span.id);
  assert.equal(o.type, 'SPAN');
  assert.equal(o.parentObservationId, remoteParentId, 'the (never exported) remote parent id is kept');

  const v2 = await ctx.readEventually(`/api/public/v2/observations?traceId=${traceId}&fields=core,basic`, (b) => b.data?.length === 1);
  assert.equal(v2.data[0].parentObservationId, remoteParentId);
  assert.equal(
    v2.data[0].isRootObservation,
    true,
    'isRootObservation: "root = no parent OR is_app_root" (read-apis.md §3, v2 observations)',
  );
  const roots = await ctx.readEventually(
    `/api/public/v2/observations?traceId=${traceId}&isRootObservation=true`,
    (b) => b.data?.length === 1,
  );
  assert.deepEqual(roots.data.map((o) => o.id), [span.id], 'isRootObservation=true includes the app root');
});
