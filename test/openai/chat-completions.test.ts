/**
 * OpenAI's Chat Completions and Models APIs (docs/api.md#openai-api-v1) driven by the official
 * `openai` SDK, unmodified, over HTTP against the local server: stateless replies streamed as
 * chunks (with usage when asked) or answered whole, the same model list as the `backend-api`,
 * the live-stream cap as a 429, and bad requests as the SDK's error classes.
 */
import OpenAI from 'openai';
import { createChatModel, LOCAL_MODEL_MARKERS, resetConfig, setChatModel } from '@chatbot/shared/testing';
import { startOpenAiTestServer, type OpenAiTestServer } from './support';

let t: OpenAiTestServer;
beforeAll(async () => {
  t = await startOpenAiTestServer('openai-chat-test');
});
afterAll(() => t.close());
afterEach(() => setChatModel(undefined));

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

it('streams chat.completion.chunks with the usage last when asked, and answers one chat.completion; nothing is stored', async () => {
  const { client, token } = t.client();
  const messages = [
    { role: 'system' as const, content: 'You are terse.' },
    { role: 'user' as const, content: 'Hi' },
    { role: 'assistant' as const, content: 'Hello.' },
    { role: 'user' as const, content: [{ type: 'text' as const, text: 'Tell me a joke' }] },
  ];

  const stream = await client.chat.completions.create({ model: 'local-offline-model', messages, stream: true, stream_options: { include_usage: true } });
  const chunks: Json[] = [];
  for await (const chunk of stream) chunks.push(chunk);

  expect(new Set(chunks.map((chunk) => chunk.id)).size).toBe(1);
  expect(chunks[0].id).toMatch(/^chatcmpl-/);
  expect(chunks.every((chunk) => chunk.object === 'chat.completion.chunk' && chunk.model === 'local-offline-model')).toBe(true);
  expect(chunks[0].choices[0].delta).toEqual({ role: 'assistant', content: '' });
  const text = chunks.map((chunk) => chunk.choices[0]?.delta?.content ?? '').join('');
  // The window the model saw: the three messages the request sent before the last, and the last.
  expect(text).toContain('"Tell me a joke". (4 words, 3 messages in context');
  expect(chunks.at(-2).choices[0].finish_reason).toBe('stop');
  expect(chunks.at(-1).choices).toEqual([]);
  expect(chunks.at(-1).usage).toEqual({ prompt_tokens: expect.any(Number), completion_tokens: text.split(/\s+/).length, total_tokens: expect.any(Number) });
  expect(chunks.slice(0, -1).every((chunk) => chunk.usage === null)).toBe(true);

  const completion = await client.chat.completions.create({ model: 'local-offline-model', messages, max_completion_tokens: 4 });
  expect(completion).toMatchObject({ object: 'chat.completion', model: 'local-offline-model', choices: [{ index: 0, finish_reason: 'length', message: { role: 'assistant' } }] });
  expect(completion.choices[0].message.content?.trim().split(/\s+/)).toHaveLength(4);
  expect(completion.usage).toMatchObject({ completion_tokens: 4 });
  expect(((await (await t.fetch('/backend-api/conversations', token)).json()) as Json).items).toEqual([]);
});

it('lists the same models as the backend-api and reads one; an unknown one is a 404', async () => {
  const { client, token } = t.client();
  const backend: Json = await (await t.fetch('/backend-api/models', token)).json();

  const models = await client.models.list();

  expect(models.data.map((model) => model.id)).toEqual(backend.models.map((model: Json) => model.slug));
  expect(models.data[0]).toEqual({ id: backend.models[0].slug, object: 'model', created: 0, owned_by: 'chatbot-api' });
  expect(await client.models.retrieve(models.data[1].id)).toEqual(models.data[1]);
  await expect(client.models.retrieve('gpt-unknown')).rejects.toMatchObject({ status: 404, code: 'model_not_found' });
});

it('refuses what it does not support, naming the parameter', async () => {
  const { client } = t.client();
  const cases: [Promise<unknown>, string][] = [
    [client.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }), 'model'],
    [client.chat.completions.create({ model: 'local-offline-model', messages: [] }), 'messages'],
    [client.chat.completions.create({ model: 'local-offline-model', messages: [{ role: 'tool', content: 'x', tool_call_id: 'c' }] }), 'messages[0].role'],
    [client.chat.completions.create({ model: 'local-offline-model', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://x.example/a.png' } }] }] }), 'messages[0].content[0]'],
    [client.chat.completions.create({ model: 'local-offline-model', messages: [{ role: 'user', content: 'x' }], n: 2 }), 'n'],
    [client.chat.completions.create({ model: 'local-offline-model', messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'function', function: { name: 'f' } }] }), 'tools'],
  ];
  for (const [request, param] of cases) {
    const error = await request.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).error).toMatchObject({ type: 'invalid_request_error', param });
  }
});

it('holds a live-stream slot per completion: one more than USER_MAX_LIVE_STREAMS is a 429; a model failing mid-stream is an error the SDK raises', async () => {
  setChatModel(createChatModel({ provider: 'local', tokenDelayMs: 40 }));
  process.env.USER_MAX_LIVE_STREAMS = '1';
  resetConfig();
  try {
    const { client } = t.client();
    const first = await client.chat.completions.create({ model: 'local-offline-model', messages: [{ role: 'user', content: 'one two three' }], stream: true });
    const reading = (async () => {
      let text = '';
      for await (const chunk of first) text += chunk.choices[0]?.delta?.content ?? '';
      return text;
    })();
    const refused = await client.chat.completions.create({ model: 'local-offline-model', messages: [{ role: 'user', content: 'two' }] }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
    expect((refused as InstanceType<typeof OpenAI.RateLimitError>).error).toMatchObject({ code: 'too_many_streams', type: 'requests' });
    expect(await reading).toContain('one two three');
  } finally {
    delete process.env.USER_MAX_LIVE_STREAMS;
    resetConfig();
    setChatModel(undefined);
  }

  const { client } = t.client();
  const failing = await client.chat.completions.create({ model: 'local-offline-model', messages: [{ role: 'user', content: `x ${LOCAL_MODEL_MARKERS.failAfterFirstToken}` }], stream: true });
  const failure = await (async () => {
    for await (const chunk of failing) void chunk;
  })().catch((error: unknown) => error);
  expect(failure).toBeInstanceOf(OpenAI.APIError);
  expect((failure as InstanceType<typeof OpenAI.APIError>).message).toContain('fail-after-first-token');
  await expect(client.chat.completions.create({ model: 'local-offline-model', messages: [{ role: 'user', content: `x ${LOCAL_MODEL_MARKERS.failBeforeFirstToken}` }] })).rejects.toMatchObject({ status: 502, code: 'model_error' });
});
