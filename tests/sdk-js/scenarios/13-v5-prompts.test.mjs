// Scenario 13 (JS SDK 5.11.1, @langfuse/client prompt manager): create a text and a chat
// prompt, fetch and compile them (default label, by label, by version, a folder name),
// move a label with prompt.update, get the fallback of a missing prompt, and link a
// generation to the fetched prompt: the observation carries the version's id and the
// version's usage statistics (GET /api/ui/v1/prompts/{name}/usage) count it.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

import { startObservation } from '@langfuse/tracing';

import { useGlassboxV5 } from '../lib/v5.mjs';

const ctx = useGlassboxV5();
const suffix = randomUUID().slice(0, 8);
const enc = encodeURIComponent;

ctx.scenario('v5 prompts: create, fetch, compile, move labels, fallback', async () => {
  const langfuse = ctx.v5.langfuse;
  const textName = `js-text-${suffix}`;
  const created = await langfuse.prompt.create({
    name: textName,
    prompt: 'Summarize {{topic}} in {{n}} words',
    labels: ['production'],
    tags: ['js'],
    config: { model: 'gpt-4o-mini', temperature: 0.5 },
    commitMessage: 'js v1',
  });
  assert.equal(created.version, 1);
  assert.deepEqual(created.labels, ['production', 'latest']);
  assert.deepEqual(created.tags, ['js']);
  assert.equal(created.commitMessage, 'js v1');
  await langfuse.prompt.create({ name: textName, prompt: 'v2: {{topic}}', labels: ['staging'] });

  const prod = await langfuse.prompt.get(textName, { cacheTtlSeconds: 0 });
  assert.equal(prod.version, 1);
  assert.equal(prod.isFallback, false);
  assert.deepEqual(prod.config, { model: 'gpt-4o-mini', temperature: 0.5 });
  assert.equal(prod.compile({ topic: 'the sea', n: 5 }), 'Summarize the sea in 5 words');
  const staging = await langfuse.prompt.get(textName, { label: 'staging', cacheTtlSeconds: 0 });
  assert.equal(staging.compile({ topic: 'x' }), 'v2: x');
  const pinned = await langfuse.prompt.get(textName, { version: 2, cacheTtlSeconds: 0 });
  assert.deepEqual(pinned.labels, ['staging', 'latest']);

  // Chat prompt with a placeholder, in a folder.
  const chatName = `js-folder-${suffix}/chat`;
  await langfuse.prompt.create({
    name: chatName,
    type: 'chat',
    prompt: [
      { role: 'system', content: 'You are {{persona}}' },
      { type: 'placeholder', name: 'history' },
      { role: 'user', content: '{{q}}' },
    ],
    labels: ['production'],
  });
  const chat = await langfuse.prompt.get(chatName, { type: 'chat', cacheTtlSeconds: 0 });
  assert.equal(chat.name, chatName);
  assert.deepEqual(
    chat.compile({ persona: 'a pirate', q: 'Where?' }, { history: [{ role: 'user', content: 'Hi' }] }),
    [
      { role: 'system', content: 'You are a pirate' },
      { role: 'user', content: 'Hi' },
      { role: 'user', content: 'Where?' },
    ],
  );

  // Move production to v2.
  const updated = await langfuse.prompt.update({ name: textName, version: 2, newLabels: ['production'] });
  assert.deepEqual(updated.labels, ['staging', 'latest', 'production']);
  assert.equal((await langfuse.prompt.get(textName, { cacheTtlSeconds: 0 })).version, 2);

  // A missing prompt: the fallback (the 404 is Langfuse's error body).
  const fallback = await langfuse.prompt.get(`js-missing-${suffix}`, {
    fallback: 'Fallback {{x}}',
    maxRetries: 0,
    cacheTtlSeconds: 0,
  });
  assert.equal(fallback.isFallback, true);
  assert.equal(fallback.compile({ x: 1 }), 'Fallback 1');
  const missing = await ctx.get(`/api/public/v2/prompts/${enc(`js-missing-${suffix}`)}`);
  assert.equal(missing.status, 404);
  assert.equal(missing.json.error, 'LangfuseNotFoundError');
});

ctx.scenario('v5 prompts: a generation linked to a prompt counts in its usage', async () => {
  const langfuse = ctx.v5.langfuse;
  const name = `js-used-${suffix}`;
  await langfuse.prompt.create({ name, prompt: 'Hello {{who}}', labels: ['production'] });
  const prompt = await langfuse.prompt.get(name, { cacheTtlSeconds: 0 });
  const generation = startObservation(
    'js-linked-gen',
    {
      model: 'gpt-4o-mini',
      input: prompt.compile({ who: 'world' }),
      output: 'hi',
      prompt,
      usageDetails: { input: 3, output: 1 },
    },
    { asType: 'generation' },
  );
  generation.end();
  await ctx.flushTraces();

  const version = await ctx.readEventually(`/api/public/v2/prompts/${enc(name)}?version=1`, (b) => b.id);
  const observation = await ctx.readEventually(
    `/api/public/observations/${generation.id}`,
    (b) => b.promptId !== undefined,
  );
  assert.equal(observation.promptName, name);
  assert.equal(observation.promptVersion, 1);
  assert.equal(observation.promptId, version.id);
  const usage = await ctx.readEventually(
    `/api/ui/v1/prompts/${enc(name)}/usage`,
    (b) => b.data?.[0]?.generationCount === 1,
  );
  assert.equal(usage.data[0].version, 1);
  assert.equal(usage.data[0].inputTokens.sum, 3);
  assert.equal(usage.data[0].totalTokens.sum, 4);
});
