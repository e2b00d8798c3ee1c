// Scenario 10 (JS SDK 5.11.1, @langfuse/tracing + @langfuse/otel + @langfuse/client): a trace
// built with startActiveObservation / startObservation / observe — a root span with nested
// agent, tool, generation, chain, retriever, embedding, evaluator, guardrail, event and two
// ERROR observations — under propagateAttributes (user, session, tags, metadata, trace name,
// version) with setActiveTraceIO and setActiveTraceAsPublic, exported by the
// LangfuseSpanProcessor as OTLP/JSON and flushed with forceFlush(); then scores through
// LangfuseClient (score-create ingestion events). Checked through
// GET /api/public/traces/{id} (observations and scores embedded),
// GET /api/public/v2/observations?traceId=…&fields=… and GET /api/public/sessions/{id}.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

import {
  observe,
  propagateAttributes,
  setActiveTraceAsPublic,
  setActiveTraceIO,
  startActiveObservation,
  startObservation,
} from '@langfuse/tracing';

import { assertApprox, assertSameTime, byId } from '../lib/harness.mjs';
import { useGlassboxV5 } from '../lib/v5.mjs';

const ctx = useGlassboxV5();

const V2_FIELDS = 'core,basic,io,model,usage,prompt,metrics';

// Expected tree: [name, type (as the read API spells it), parent name].
const TREE = [
  ['v5-request', 'SPAN', null],
  ['v5-agent', 'AGENT', 'v5-request'],
  ['lookup-weather', 'TOOL', 'v5-agent'],
  ['v5-llm', 'GENERATION', 'v5-agent'],
  ['v5-active-gen', 'GENERATION', 'v5-request'],
  ['v5-chain', 'CHAIN', 'v5-request'],
  ['v5-retriever', 'RETRIEVER', 'v5-chain'],
  ['v5-embedding', 'EMBEDDING', 'v5-chain'],
  ['v5-evaluator', 'EVALUATOR', 'v5-request'],
  ['v5-guardrail', 'GUARDRAIL', 'v5-request'],
  ['v5-event', 'EVENT', 'v5-request'],
  ['v5-error-span', 'SPAN', 'v5-request'],
  ['flaky-tool', 'TOOL', 'v5-request'],
];

/**
 * The application code under test. Explicit start times (in the past, whole milliseconds)
 * make the generation's latency and time to first token exact.
 */
async function runPipeline({ userId, sessionId }) {
  const base = Math.floor(Date.now() / 1000) * 1000 - 10_000;
  const at = (offsetMs) => new Date(base + offsetMs);
  const ids = {};
  const messages = [
    { role: 'system', content: 'You are a weather bot.' },
    { role: 'user', content: 'Weather in Rome?' },
  ];
  const completion = { role: 'assistant', content: 'Sunny, 21 °C.' };

  const lookupWeather = observe(async (city) => ({ city, temp: 21 }), { name: 'lookup-weather', asType: 'tool' });
  const flakyTool = observe(
    async () => {
      throw new Error('upstream returned 500');
    },
    { name: 'flaky-tool', asType: 'tool' },
  );

  await startActiveObservation(
    'v5-request',
    async (root) => {
      ids.root = root.id;
      ids.traceId = root.traceId;
      root.update({
        input: { question: 'Weather in Rome?' },
        metadata: { step: 1, nested: { a: 1 }, label: 'plain' },
      });

      await propagateAttributes(
        {
          userId,
          sessionId,
          tags: ['v5-a', 'v5-b'],
          metadata: { tenant: 'acme', region: 'eu' },
          traceName: 'v5-trace',
          version: 'v5-1.0.0',
        },
        async () => {
          setActiveTraceIO({ input: { q: 'trace-level input' }, output: { a: 'trace-level output' } });
          setActiveTraceAsPublic();

          // agent (active) → tool (observe) + generation (startObservation: the active agent is
          // its parent; the method form on the agent object takes no startTime)
          await startActiveObservation(
            'v5-agent',
            async (agent) => {
              ids.agent = agent.id;
              agent.update({ input: { task: 'weather' } });
              const weather = await lookupWeather('Rome');
              const gen = startObservation(
                'v5-llm',
                {
                  model: 'gpt-4o-mini',
                  modelParameters: { temperature: 0.2, maxTokens: 100 },
                  input: messages,
                  metadata: { provider: 'openai' },
                  prompt: { name: 'v5-weather-prompt', version: 3, isFallback: false },
                },
                { asType: 'generation', startTime: at(1000) },
              );
              ids.generation = gen.id;
              gen.update({
                completionStartTime: at(1300),
                output: completion,
                usageDetails: { input: 10, output: 2, total: 12 },
                costDetails: { input: 0.00001, output: 0.00002, total: 0.00003 },
              });
              gen.end(at(1800));
              ctx.v5.langfuse.score.activeObservation({ name: 'v5-agent-progress', value: 0.5 });
              agent.update({ output: { weather } });
            },
            { asType: 'agent', startTime: at(500) },
          );

          // the active observation is a generation; usage without total and no model
          await startActiveObservation(
            'v5-active-gen',
            async (g) => {
              ids.activeGeneration = g.id;
              g.update({ output: 'ok', usageDetails: { input: 3, output: 1 } });
            },
            { asType: 'generation' },
          );

          // chain → retriever + embedding (started on the chain object)
          const chain = startObservation('v5-chain', { input: { t: 'chain' } }, { asType: 'chain' });
          ids.chain = chain.id;
          const retriever = chain.startObservation('v5-retriever', { input: { query: 'rome' } }, { asType: 'retriever' });
          ids.retriever = retriever.id;
          retriever.update({ output: { documents: ['doc-1', 'doc-2'] } });
          retriever.end();
          const embedding = chain.startObservation(
            'v5-embedding',
            { model: 'glassbox-test-embedder', input: ['rome'], usageDetails: { input: 4 }, costDetails: { total: 0.000001 } },
            { asType: 'embedding' },
          );
          ids.embedding = embedding.id;
          embedding.update({ output: [[0.1, 0.2]] });
          embedding.end();
          chain.update({ output: { ok: true } });
          chain.end();

          const evaluator = startObservation('v5-evaluator', { input: { t: 'evaluator' } }, { asType: 'evaluator' });
          ids.evaluator = evaluator.id;
          evaluator.update({ output: { score: 1 } });
          evaluator.end();

          const guardrail = startObservation('v5-guardrail', { input: { t: 'guardrail' } }, { asType: 'guardrail' });
          ids.guardrail = guardrail.id;
          guardrail.update({ output: { allowed: true } });
          guardrail.end();

          // An event is a span that ends at its start time.
          const event = startObservation('v5-event', { input: { e: 1 }, level: 'DEBUG' }, { asType: 'event', startTime: at(2000) });
          ids.event = event.id;

          // ERROR explicitly (JS 5 leaves the OTel status unset: only the langfuse.* attributes say so) …
          const errorSpan = startObservation('v5-error-span', { input: 'x' });
          ids.errorSpan = errorSpan.id;
          errorSpan.update({ level: 'ERROR', statusMessage: 'something failed' });
          errorSpan.end();

          // … and through observe() of a function that throws.
          await assert.rejects(flakyTool(), /upstream returned 500/);
        },
      );
      root.update({ output: { answer: 'sunny' } });
    },
    { startTime: at(0) },
  );

  return { ids, messages, completion, at };
}

ctx.scenario('v5: nested observations of every type, propagated trace attributes and scores', async () => {
  const userId = `v5-user-${randomUUID().slice(0, 8)}`;
  const sessionId = `v5-session-${randomUUID().slice(0, 8)}`;
  const { ids, messages, completion, at } = await runPipeline({ userId, sessionId });
  const traceId = ids.traceId;
  assert.match(traceId, /^[0-9a-f]{32}$/, 'OTel trace id');
  await ctx.flushTraces();

  // Scores through the LangfuseClient (score-create events on /api/public/ingestion).
  const langfuse = ctx.v5.langfuse;
  const scoreIds = { trace: randomUUID(), generation: randomUUID(), bool: randomUUID(), cat: randomUUID() };
  langfuse.score.create({ id: scoreIds.trace, traceId, name: 'v5-user-feedback', value: 0.9, comment: 'accurate' });
  langfuse.score.create({
    id: scoreIds.generation,
    traceId,
    observationId: ids.generation,
    name: 'v5-relevance',
    value: 0.75,
    dataType: 'NUMERIC',
    metadata: { reviewer: 'bot' },
  });
  langfuse.score.create({ id: scoreIds.bool, traceId, name: 'v5-is-correct', value: 1, dataType: 'BOOLEAN' });
  langfuse.score.create({
    id: scoreIds.cat,
    traceId,
    observationId: ids.guardrail,
    name: 'v5-tone',
    value: 'friendly',
    dataType: 'CATEGORICAL',
  });
  const batches = await ctx.flushScores();
  const events = batches.flatMap((b) => b.batch);
  assert.ok(events.every((e) => e.type === 'score-create'), 'JS 5 sends scores as score-create events');
  assert.equal(events.length, 5, '4 explicit scores + 1 score.activeObservation()');

  const t = await ctx.readEventually(
    `/api/public/traces/${traceId}`,
    (b) => b.observations?.length === TREE.length && b.scores?.length === 5,
  );

  // ---- the trace, aggregated from the spans' trace attributes (ingestion.md §3.4)
  assert.equal(t.id, traceId);
  assert.equal(t.name, 'v5-trace', 'langfuse.trace.name (propagateAttributes traceName)');
  assertSameTime(t.timestamp, at(0), 'trace.timestamp = root span start');
  assert.equal(t.userId, userId, 'user.id');
  assert.equal(t.sessionId, sessionId, 'session.id');
  assert.deepEqual(t.tags, ['v5-a', 'v5-b'], 'langfuse.trace.tags');
  assert.equal(t.version, 'v5-1.0.0', 'langfuse.version');
  assert.equal(t.public, true, 'langfuse.trace.public (setActiveTraceAsPublic)');
  assert.equal(t.environment, 'default');
  assert.equal(t.metadata?.tenant, 'acme', 'trace metadata from langfuse.trace.metadata.tenant');
  assert.equal(t.metadata?.region, 'eu', 'trace metadata from langfuse.trace.metadata.region');
  assert.equal(t.metadata?.step, 1, 'root observation metadata reaches the trace (JSON-decoded "1")');
  assert.deepEqual(t.metadata?.nested, { a: 1 }, 'root observation metadata reaches the trace');
  assert.deepEqual(t.input, { q: 'trace-level input' }, 'langfuse.trace.input (setActiveTraceIO) wins over the root input');
  assert.deepEqual(t.output, { a: 'trace-level output' }, 'langfuse.trace.output (setActiveTraceIO)');
  assert.equal(typeof t.latency, 'number');
  assert.ok(t.latency >= 9 && t.latency < 60, `trace latency ≈ 10 s (root started 10 s ago), got ${t.latency}`);
  assertApprox(t.totalCost, 0.00003 + 0.000001, 'trace.totalCost = generation + embedding provided costs');

  // ---- observations: names, types, parent/child structure
  assert.equal(t.observations.length, TREE.length, `${TREE.length} observations`);
  const obs = byId(t.observations, 'trace.observations');
  const byName = new Map(t.observations.map((o) => [o.name, o]));
  assert.equal(byName.size, TREE.length, 'observation names are unique');
  for (const [name, type, parent] of TREE) {
    const o = byName.get(name);
    assert.ok(o, `observation ${name} missing; got ${[...byName.keys()].join(', ')}`);
    assert.equal(o.type, type, `${name}.type`);
    assert.equal(o.traceId, traceId, `${name}.traceId`);
    assert.equal(o.parentObservationId, parent === null ? null : byName.get(parent).id, `${name}.parentObservationId`);
    assert.equal(o.environment, 'default', `${name}.environment`);
  }
  for (const [key, name] of Object.entries({
    root: 'v5-request',
    agent: 'v5-agent',
    generation: 'v5-llm',
    activeGeneration: 'v5-active-gen',
    chain: 'v5-chain',
    retriever: 'v5-retriever',
    embedding: 'v5-embedding',
    evaluator: 'v5-evaluator',
    guardrail: 'v5-guardrail',
    event: 'v5-event',
    errorSpan: 'v5-error-span',
  })) {
    assert.equal(byName.get(name).id, ids[key], `${name} id = the SDK's span id`);
  }

  // root span
  const root = obs.get(ids.root);
  assertSameTime(root.startTime, at(0), 'root.startTime');
  assert.deepEqual(root.input, { question: 'Weather in Rome?' }, 'root observation keeps its own input');
  assert.deepEqual(root.output, { answer: 'sunny' });
  assert.equal(root.metadata?.step, 1, 'langfuse.observation.metadata.step "1" → 1');
  assert.deepEqual(root.metadata?.nested, { a: 1 }, 'langfuse.observation.metadata.nested JSON → object');
  assert.equal(root.metadata?.label, 'plain', 'raw string metadata value kept');
  assert.equal(root.level, 'DEFAULT');
  assert.equal(root.version, 'v5-1.0.0');

  // generation
  const g = obs.get(ids.generation);
  assertSameTime(g.startTime, at(1000), 'generation.startTime');
  assertSameTime(g.endTime, at(1800), 'generation.endTime');
  assertSameTime(g.completionStartTime, at(1300), 'generation.completionStartTime');
  assertApprox(g.latency, 0.8, 'generation.latency (s)', 1e-6);
  assertApprox(g.timeToFirstToken, 0.3, 'generation.timeToFirstToken (s)', 1e-6);
  assert.equal(g.model, 'gpt-4o-mini');
  assert.deepEqual(g.modelParameters, { temperature: 0.2, maxTokens: 100 });
  assert.deepEqual(g.input, messages, 'generation input messages');
  assert.deepEqual(g.output, completion, 'generation output');
  assert.equal(g.metadata?.provider, 'openai', 'generation metadata');
  assert.equal(g.version, 'v5-1.0.0', 'the propagated version is the observation version too');
  assert.equal(g.level, 'DEFAULT');
  assert.equal(g.statusMessage ?? null, null);
  assert.deepEqual(g.usageDetails, { input: 10, output: 2, total: 12 });
  assert.deepEqual(
    { unit: g.usage?.unit, input: g.usage?.input, output: g.usage?.output, total: g.usage?.total },
    { unit: 'TOKENS', input: 10, output: 2, total: 12 },
    'generation.usage',
  );
  assert.deepEqual([g.promptTokens, g.completionTokens, g.totalTokens], [10, 2, 12]);
  assertApprox(g.costDetails?.input, 0.00001, 'generation.costDetails.input');
  assertApprox(g.costDetails?.output, 0.00002, 'generation.costDetails.output');
  assertApprox(g.costDetails?.total, 0.00003, 'generation.costDetails.total');
  assertApprox(g.calculatedInputCost, 0.00001, 'generation.calculatedInputCost');
  assertApprox(g.calculatedOutputCost, 0.00002, 'generation.calculatedOutputCost');
  assertApprox(g.calculatedTotalCost, 0.00003, 'generation.calculatedTotalCost (provided cost wins)');
  assert.equal(g.promptName, 'v5-weather-prompt', 'langfuse.observation.prompt.name (unresolved prompt kept)');
  assert.equal(g.promptVersion, 3, 'langfuse.observation.prompt.version');

  // active generation: usage without total → total = Σ provided keys; no model, no cost
  const ag = obs.get(ids.activeGeneration);
  assert.equal(ag.output, 'ok', 'a plain string output is stored as the string');
  assert.equal(ag.input ?? null, null);
  assert.equal(ag.model ?? null, null);
  assert.deepEqual(ag.usageDetails, { input: 3, output: 1, total: 4 }, 'total = sum of provided usage keys');
  assert.deepEqual(ag.costDetails, {});

  // agent and its tool (observe(): a single argument is captured as the input)
  const agent = obs.get(ids.agent);
  assertSameTime(agent.startTime, at(500), 'agent.startTime');
  assert.deepEqual(agent.input, { task: 'weather' });
  assert.deepEqual(agent.output, { weather: { city: 'Rome', temp: 21 } });
  const tool = byName.get('lookup-weather');
  assert.equal(tool.input, 'Rome', 'observe() captures a single argument as is');
  assert.deepEqual(tool.output, { city: 'Rome', temp: 21 });
  assert.equal(tool.level, 'DEFAULT');

  // chain, retriever, embedding
  assert.deepEqual(obs.get(ids.chain).input, { t: 'chain' });
  assert.deepEqual(obs.get(ids.chain).output, { ok: true });
  const retriever = obs.get(ids.retriever);
  assert.deepEqual(retriever.input, { query: 'rome' });
  assert.deepEqual(retriever.output, { documents: ['doc-1', 'doc-2'] });
  const emb = obs.get(ids.embedding);
  assert.equal(emb.model, 'glassbox-test-embedder');
  assert.deepEqual(emb.input, ['rome']);
  assert.deepEqual(emb.output, [[0.1, 0.2]]);
  assert.deepEqual(emb.usageDetails, { input: 4, total: 4 });
  assertApprox(emb.costDetails?.total, 0.000001, 'embedding.costDetails.total');
  assertApprox(emb.calculatedTotalCost, 0.000001, 'embedding.calculatedTotalCost (provided total)');

  assert.deepEqual(obs.get(ids.evaluator).output, { score: 1 });
  assert.deepEqual(obs.get(ids.guardrail).output, { allowed: true });

  // event: start == end, level DEBUG
  const ev = obs.get(ids.event);
  assert.equal(ev.level, 'DEBUG');
  assert.deepEqual(ev.input, { e: 1 });
  assertSameTime(ev.startTime, at(2000), 'event.startTime');
  assertSameTime(ev.endTime, at(2000), 'event.endTime = startTime');

  // ERROR observations: level and statusMessage come from langfuse.observation.* attributes
  const err = obs.get(ids.errorSpan);
  assert.equal(err.level, 'ERROR');
  assert.equal(err.statusMessage, 'something failed');
  assert.equal(err.input, 'x');
  const flaky = byName.get('flaky-tool');
  assert.equal(flaky.level, 'ERROR', 'observe() of a throwing function → level ERROR');
  assert.equal(flaky.statusMessage, 'upstream returned 500', 'observe() → statusMessage = error message');

  // ---- scores embedded in the trace
  assert.equal(t.scores.length, 5);
  const scores = new Map(t.scores.map((s) => [s.name, s]));
  const fb = scores.get('v5-user-feedback');
  assert.ok(fb, 'score v5-user-feedback');
  assert.equal(fb.id, scoreIds.trace);
  assert.equal(fb.value, 0.9);
  assert.equal(fb.dataType, 'NUMERIC', 'a number without dataType is NUMERIC');
  assert.equal(fb.stringValue ?? null, null);
  assert.equal(fb.comment, 'accurate');
  assert.equal(fb.traceId, traceId);
  assert.equal(fb.observationId ?? null, null);
  assert.equal(fb.source, 'API');
  const rel = scores.get('v5-relevance');
  assert.equal(rel.id, scoreIds.generation);
  assert.equal(rel.observationId, ids.generation);
  assert.equal(rel.value, 0.75);
  assert.equal(rel.dataType, 'NUMERIC');
  assert.deepEqual(rel.metadata, { reviewer: 'bot' });
  const bool = scores.get('v5-is-correct');
  assert.equal(bool.id, scoreIds.bool);
  assert.equal(bool.dataType, 'BOOLEAN');
  assert.equal(bool.value, 1);
  assert.equal(bool.stringValue, 'True');
  const cat = scores.get('v5-tone');
  assert.equal(cat.id, scoreIds.cat);
  assert.equal(cat.dataType, 'CATEGORICAL');
  assert.equal(cat.stringValue, 'friendly');
  assert.equal(cat.value, 0, 'CATEGORICAL without config has value 0');
  assert.equal(cat.observationId, ids.guardrail);
  const progress = scores.get('v5-agent-progress');
  assert.ok(progress, 'score.activeObservation() score');
  assert.equal(progress.observationId, ids.agent, 'score.activeObservation() targets the active agent span');
  assert.equal(progress.traceId, traceId);
  assert.equal(progress.value, 0.5);

  // ---- GET /api/public/v2/observations (field groups, raw io strings, start_time DESC)
  const v2 = await ctx.readEventually(
    `/api/public/v2/observations?traceId=${traceId}&fields=${V2_FIELDS}&limit=100`,
    (b) => b.data?.length === TREE.length,
  );
  assert.equal(v2.data.length, TREE.length);
  const starts = v2.data.map((o) => Date.parse(o.startTime));
  assert.deepEqual(starts, [...starts].sort((a, b) => b - a), 'v2 observations ordered by startTime descending');
  assert.equal(v2.meta?.cursor ?? null, null, 'no next page');
  const v2ById = byId(v2.data, 'v2 observations');
  for (const [name, type, parent] of TREE) {
    const o = v2ById.get(byName.get(name).id);
    assert.ok(o, `v2: ${name} missing`);
    assert.equal(o.name, name, `v2 ${name}.name`);
    assert.equal(o.type, type, `v2 ${name}.type`);
    assert.equal(o.traceId, traceId);
    assert.equal(o.parentObservationId, parent === null ? null : byName.get(parent).id, `v2 ${name}.parentObservationId`);
    assert.equal(o.userId, userId, `v2 ${name}.userId (basic)`);
    assert.equal(o.sessionId, sessionId, `v2 ${name}.sessionId (basic)`);
    assert.equal(o.version, 'v5-1.0.0', `v2 ${name}.version (basic)`);
    assert.equal(o.environment, 'default', `v2 ${name}.environment (basic)`);
    assert.equal(o.isRootObservation, parent === null, `v2 ${name}.isRootObservation`);
    assert.ok(!('metadata' in o), `v2 ${name}: metadata group not requested`);
  }
  const v2gen = v2ById.get(ids.generation);
  assert.equal(typeof v2gen.input, 'string', 'v2 io is the raw string as stored');
  assert.deepEqual(JSON.parse(v2gen.input), messages);
  assert.deepEqual(JSON.parse(v2gen.output), completion);
  assert.equal(v2gen.level, 'DEFAULT');
  assert.equal(v2gen.providedModelName, 'gpt-4o-mini', 'model group: providedModelName');
  assert.deepEqual(v2gen.modelParameters, { temperature: 0.2, maxTokens: 100 });
  assert.deepEqual(v2gen.usageDetails, { input: 10, output: 2, total: 12 });
  assertApprox(v2gen.costDetails?.input, 0.00001, 'v2 generation.costDetails.input');
  assertApprox(v2gen.costDetails?.output, 0.00002, 'v2 generation.costDetails.output');
  assertApprox(v2gen.costDetails?.total, 0.00003, 'v2 generation.costDetails.total');
  assertApprox(v2gen.totalCost, 0.00003, 'v2 generation.totalCost');
  assert.equal(v2gen.promptName, 'v5-weather-prompt', 'prompt group');
  assert.equal(v2gen.promptVersion, 3);
  assertApprox(v2gen.latency, 0.8, 'v2 generation.latency', 1e-6);
  assertApprox(v2gen.timeToFirstToken, 0.3, 'v2 generation.timeToFirstToken', 1e-6);
  assert.equal(v2ById.get(byName.get('lookup-weather').id).input, 'Rome', 'v2: a plain string input is stored unquoted');
  const v2err = v2ById.get(ids.errorSpan);
  assert.equal(v2err.level, 'ERROR');
  assert.equal(v2err.statusMessage, 'something failed');
  assert.equal(v2ById.get(ids.event).level, 'DEBUG');

  // Filters of the v2 endpoint on the same trace.
  const v2gens = await ctx.readEventually(
    `/api/public/v2/observations?traceId=${traceId}&type=GENERATION&fields=core,basic`,
    (b) => b.data?.length === 2,
  );
  assert.deepEqual(v2gens.data.map((o) => o.id).sort(), [ids.generation, ids.activeGeneration].sort(), 'type=GENERATION');
  const v2errors = await ctx.readEventually(
    `/api/public/v2/observations?traceId=${traceId}&level=ERROR`,
    (b) => b.data?.length === 2,
  );
  assert.deepEqual(v2errors.data.map((o) => o.id).sort(), [ids.errorSpan, byName.get('flaky-tool').id].sort(), 'level=ERROR');

  // ---- the session groups the trace
  const session = await ctx.readEventually(`/api/public/sessions/${encodeURIComponent(sessionId)}`, (b) => b.traces?.length === 1);
  assert.equal(session.id, sessionId);
  assert.deepEqual(session.traces.map((x) => x.id), [traceId], 'session lists its trace');
});
