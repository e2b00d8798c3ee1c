// Scenario 12 (JS SDK 5.11.1, @langfuse/client): datasets and an experiment on a dataset.
// api.datasets.create / api.datasetItems.create, dataset.get (paged item fetch), then
// dataset.runExperiment with an item evaluator and a run evaluator. JS 5 links every item
// through POST /api/public/dataset-run-items and uses the returned datasetRunId as the
// experiment id (span attributes) and for run-level scores. Checked through the dataset
// run reads, the traces, the scores, the experiments reads and glassbox's run comparison.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

import { useGlassboxV5 } from '../lib/v5.mjs';

const ctx = useGlassboxV5();

const CAPITALS = { France: 'Paris', Spain: 'Madrid' };

ctx.scenario('v5: dataset.runExperiment creates a dataset run through POST /dataset-run-items', async () => {
  const langfuse = ctx.v5.langfuse;
  const token = randomUUID().slice(0, 8);
  const name = `js-evals-${token}/capitals`;
  const runName = `js-run-${token}`;

  const created = await langfuse.api.datasets.create({ name, description: 'JS capitals', metadata: { by: 'js' } });
  assert.equal(created.name, name);
  const france = await langfuse.api.datasetItems.create({
    datasetName: name,
    input: { country: 'France' },
    expectedOutput: 'Paris',
  });
  const spain = await langfuse.api.datasetItems.create({
    datasetName: name,
    input: { country: 'Spain' },
    expectedOutput: 'Madrid',
    metadata: { difficulty: 'easy' },
    id: `js-item-spain-${token}`,
  });
  assert.equal(spain.id, `js-item-spain-${token}`);
  assert.equal(spain.status, 'ACTIVE');

  const dataset = await langfuse.dataset.get(name, { fetchItemsPageSize: 1 });
  assert.equal(dataset.id, created.id);
  assert.deepEqual(dataset.items.map((item) => item.id).sort(), [france.id, spain.id].sort());

  const mark = ctx.exchanges.length;
  const result = await dataset.runExperiment({
    name: 'js-capitals-eval',
    runName,
    description: 'JS baseline',
    metadata: { model: 'lookup' },
    task: async ({ input }) => ({ France: 'Paris', Spain: 'Barcelona' })[input.country],
    evaluators: [
      async ({ output, expectedOutput }) => ({ name: 'exact', value: output === expectedOutput ? 1 : 0, comment: 'cmp' }),
    ],
    runEvaluators: [
      async ({ itemResults }) => ({
        name: 'avg-exact',
        value: itemResults.flatMap((r) => r.evaluations).reduce((sum, e) => sum + e.value, 0) / itemResults.length,
      }),
    ],
  });
  await ctx.flushTraces();

  // One POST /dataset-run-items per item, each answered with the same run id.
  const links = ctx.exchanges
    .slice(mark)
    .filter((x) => x.kind === 'sdk-v5' && new URL(x.url).pathname === '/api/public/dataset-run-items');
  assert.equal(links.length, 2, 'one link per item');
  for (const x of links) assert.equal(x.status, 200, x.responseText);
  const runId = JSON.parse(links[0].responseText).datasetRunId;
  assert.ok(runId, 'datasetRunId in the answer');
  assert.equal(JSON.parse(links[1].responseText).datasetRunId, runId);
  assert.equal(result.datasetRunId, runId);
  assert.equal(result.experimentId, runId);
  assert.equal(result.itemResults.length, 2);

  // The run and its items.
  const runPath = `/api/public/datasets/${encodeURIComponent(name)}/runs/${encodeURIComponent(runName)}`;
  const run = await ctx.readEventually(runPath, (r) => r.datasetRunItems?.length === 2);
  assert.equal(run.id, runId);
  assert.equal(run.name, runName);
  assert.equal(run.description, 'JS baseline');
  assert.deepEqual(run.metadata, { model: 'lookup' });
  assert.equal(run.datasetId, created.id);
  assert.equal(run.datasetName, name);
  const runItems = new Map(run.datasetRunItems.map((item) => [item.datasetItemId, item]));
  for (const itemResult of result.itemResults) {
    const runItem = runItems.get(itemResult.item.id);
    assert.ok(runItem, `run item of ${itemResult.item.id}`);
    assert.equal(runItem.traceId, itemResult.traceId);
    assert.match(runItem.observationId, /^[0-9a-f]{16}$/, 'the experiment-item-run span');
  }
  const listed = await ctx.read(
    `/api/public/dataset-run-items?datasetId=${encodeURIComponent(created.id)}&runName=${encodeURIComponent(runName)}`,
  );
  assert.equal(listed.meta.totalItems, 2);

  // Traces: the experiment-item-run span with the task's output, the item score on it.
  for (const itemResult of result.itemResults) {
    const country = itemResult.item.input.country;
    const trace = await ctx.readEventually(
      `/api/public/traces/${itemResult.traceId}`,
      (t) => t.observations?.length >= 1 && t.scores?.length >= 1,
    );
    const root = trace.observations.find((o) => o.name === 'experiment-item-run');
    assert.ok(root, 'experiment-item-run observation');
    assert.equal(root.id, runItems.get(itemResult.item.id).observationId);
    assert.deepEqual(root.input, { country });
    assert.equal(root.output, itemResult.output);
    assert.equal(root.environment, 'sdk-experiment');
    const exact = trace.scores.find((s) => s.name === 'exact');
    assert.equal(exact.value, itemResult.output === CAPITALS[country] ? 1 : 0);
    assert.equal(exact.observationId, root.id);
  }

  // The run-level score targets the run.
  const runScores = await ctx.readEventually(`/api/public/v2/scores?datasetRunId=${runId}`, (s) => s.data?.length === 1);
  assert.equal(runScores.data[0].name, 'avg-exact');
  assert.equal(runScores.data[0].value, 0.5);

  // The same run as a v4 experiment (the spans carry langfuse.experiment.id = runId).
  const experiments = await ctx.readEventually(
    `/api/public/experiments?fromStartTime=2020-01-01T00:00:00Z&id=${runId}&fields=core,metadata,scores`,
    (e) => e.data?.length === 1,
  );
  const experiment = experiments.data[0];
  assert.equal(experiment.itemCount, 2);
  assert.equal(experiment.datasetId, created.id);
  assert.deepEqual(
    experiment.scores.map((s) => s.name),
    ['avg-exact'],
  );
  const items = await ctx.read(
    `/api/public/experiment-items?fromStartTime=2020-01-01T00:00:00Z&experimentId=${runId}&fields=core,io`,
  );
  assert.deepEqual(items.data.map((item) => item.output).sort(), ['Barcelona', 'Paris']);
  assert.deepEqual(items.data.map((item) => item.expectedOutput).sort(), ['Madrid', 'Paris']);

  // glassbox's run comparison (UI API) over this one run.
  const compare = await ctx.read(`/api/ui/v1/datasets/${encodeURIComponent(created.id)}/compare?runIds=${runId}`);
  const aggregates = compare.runs[0].aggregates;
  assert.equal(aggregates.itemCount, 2);
  assert.deepEqual(aggregates.scores, [{ name: 'exact', dataType: 'NUMERIC', count: 2, average: 0.5 }]);
  assert.equal(aggregates.runScores[0].value, 0.5);
  assert.equal(compare.items.length, 2);
});
