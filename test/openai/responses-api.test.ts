/**
 * OpenAI's Responses API (docs/api.md#openai-api-v1) driven by the official `openai` SDK,
 * unmodified, over HTTP against the local server, the real Postgres and Redis: typed stream
 * events, a response appended to a conversation and read through the `backend-api`, a branch
 * through `previous_response_id`, instructions and `max_output_tokens`, a background response
 * resumed from a sequence number and one cancelled, `store: false`, and the errors and the 429
 * the SDK maps to its classes.
 */
import OpenAI from 'openai';
import { createChatModel, LOCAL_MODEL_MARKERS, resetConfig, setChatModel } from '@chatbot/shared/testing';
import { eventually, startOpenAiTestServer, type OpenAiTestServer } from './support';

let t: OpenAiTestServer;
beforeAll(async () => {
  t = await startOpenAiTestServer('openai-responses-test');
});
afterAll(() => t.close());
afterEach(() => setChatModel(undefined));

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;
const uuidOf = (conversationId: string): string => {
  const hex = conversationId.slice(5);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
};
/** Replies of about a second (40 ms a word): long enough to leave, resume or cancel one midway. */
const slowReplies = () => setChatModel(createChatModel({ provider: 'local', tokenDelayMs: 40 }));

it('streams typed events with contiguous sequence numbers into a conversation, which the backend-api then shows', async () => {
  const { client, token } = t.client();
  const conversation = await client.conversations.create({ items: [{ role: 'user', content: 'Hello' }, { role: 'assistant', content: 'Hi, how can I help?' } as never] });

  const stream = await client.responses.create({ model: 'local-offline-model', conversation: conversation.id, input: 'Tell me about streams', stream: true });
  const events: Json[] = [];
  for await (const event of stream) events.push(event);

  expect(events.map((event) => event.sequence_number)).toEqual(events.map((_, i) => i));
  const types = events.map((event) => event.type);
  expect(types.slice(0, 4)).toEqual(['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added']);
  expect(types.slice(-4)).toEqual(['response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed']);
  expect(new Set(types.slice(4, -4))).toEqual(new Set(['response.output_text.delta']));
  const text = events.filter((event) => event.type === 'response.output_text.delta').map((event) => event.delta).join('');
  // The local model counts the window: the two items and the new message.
  expect(text).toContain('"Tell me about streams". (4 words, 3 messages in context');
  expect(events.at(-4).text).toBe(text);
  const completed = events.at(-1).response;
  expect(completed).toMatchObject({ object: 'response', status: 'completed', model: 'local-offline-model', conversation: { id: conversation.id }, store: true });
  expect(completed.output).toEqual([{ id: events[2].item.id, type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text, annotations: [], logprobs: [] }] }]);
  expect(completed.usage).toMatchObject({ input_tokens: expect.any(Number), output_tokens: text.split(/\s+/).length, total_tokens: expect.any(Number) });
  expect(completed.id).toMatch(/^resp_[0-9a-f]{64}$/);

  const items = await client.conversations.items.list(conversation.id, { order: 'asc' });
  expect(items.data.map((item: Json) => [item.role, item.content[0].text])).toEqual([
    ['user', 'Hello'],
    ['assistant', 'Hi, how can I help?'],
    ['user', 'Tell me about streams'],
    ['assistant', text],
  ]);
  const detail: Json = await (await t.fetch(`/backend-api/conversation/${uuidOf(conversation.id)}`, token)).json();
  const reply = detail.mapping[detail.current_node].message;
  expect(`msg_${reply.id}`).toBe(completed.output[0].id);
  expect(reply.content.parts).toEqual([text]);
  expect(reply.metadata).toMatchObject({ model_slug: 'local-offline-model', finish_details: { type: 'stop' }, usage: { input_tokens: completed.usage.input_tokens, output_tokens: completed.usage.output_tokens } });
  // The conversation had no title: its first response named it.
  expect(detail.title).not.toBe('New chat');
});

it('answers a response without a conversation in a new one (titled, listed), reads it back, and branches from previous_response_id', async () => {
  const { client, token } = t.client();
  const first = await client.responses.create({ input: 'Plan a trip to Lisbon' });
  expect(first.status).toBe('completed');
  expect(first.output_text).toContain('Plan a trip to Lisbon');
  const conversationId = first.conversation?.id as string;
  const listed: Json = await (await t.fetch('/backend-api/conversations', token)).json();
  expect(listed.items).toEqual([expect.objectContaining({ id: uuidOf(conversationId), title: expect.not.stringMatching(/^New chat$/) })]);

  const retrieved = await client.responses.retrieve(first.id);
  expect(retrieved).toMatchObject({ id: first.id, status: 'completed', model: first.model, output: first.output, usage: first.usage, conversation: { id: conversationId } });

  // Two continuations of the first response: siblings, the latest on the current branch.
  const second = await client.responses.create({ previous_response_id: first.id, input: 'In spring' });
  const third = await client.responses.create({ previous_response_id: first.id, input: 'In autumn' });
  expect(second.conversation?.id).toBe(conversationId);
  expect(third.previous_response_id).toBe(first.id);
  // Each saw its own branch: the first exchange and its own message.
  expect(third.output_text).toContain('3 messages in context');
  const items = await client.conversations.items.list(conversationId, { order: 'asc' });
  expect(items.data.map((item: Json) => item.content[0].text)).toEqual(['Plan a trip to Lisbon', first.output_text, 'In autumn', third.output_text]);
  const detail: Json = await (await t.fetch(`/backend-api/conversation/${uuidOf(conversationId)}`, token)).json();
  const firstReply = detail.mapping[(first.output[0].id as string).slice(4)];
  expect(firstReply.children.map((id: string) => detail.mapping[id].message.content.parts[0])).toEqual(['In spring', 'In autumn']);
  expect((await client.responses.retrieve(second.id)).output_text).toBe(second.output_text);
});

it('applies instructions (and input system messages) to one response, and max_output_tokens', async () => {
  const { client } = t.client();
  const plain = await client.responses.create({ input: 'Count my words' });
  const instructed = await client.responses.create({
    instructions: 'Answer in French',
    input: [{ role: 'developer', content: 'Be brief and precise' }, { role: 'user', content: 'Count my words' }],
  });
  // The offline model counts every word of the window in: the instructions add 3 + 4 words.
  expect((instructed.usage?.input_tokens ?? 0) - (plain.usage?.input_tokens ?? 0)).toBe(7);
  expect(instructed.instructions).toBe('Be brief and precise\n\nAnswer in French');

  const cut = await client.responses.create({ input: 'Say a lot please', max_output_tokens: 3 });
  expect(cut.status).toBe('incomplete');
  expect(cut.incomplete_details).toEqual({ reason: 'max_output_tokens' });
  expect(cut.max_output_tokens).toBe(3);
  expect(cut.output_text.trim().split(/\s+/)).toHaveLength(3);
  expect((await client.responses.retrieve(cut.id)).status).toBe('incomplete');
});

it('resumes a background response from a sequence number after the connection dropped, and polls one to its end', async () => {
  slowReplies();
  const { client } = t.client();
  const stream = await client.responses.create({ input: 'one two three four five six', stream: true, background: true });
  const seen: Json[] = [];
  for await (const event of stream) {
    seen.push(event);
    // Leaving mid-reply: the SDK aborts the request; a background response runs on.
    if (seen.length === 8) break;
  }
  const responseId = seen[0].response.id as string;
  expect(seen[0].response.background).toBe(true);

  const resumed = await client.responses.retrieve(responseId, { stream: true, starting_after: seen.at(-1).sequence_number });
  const rest: Json[] = [];
  for await (const event of resumed) rest.push(event);
  const all = [...seen, ...rest];
  expect(all.map((event) => event.sequence_number)).toEqual(all.map((_, i) => i));
  expect(all.at(-1).type).toBe('response.completed');
  const text = all.filter((event) => event.type === 'response.output_text.delta').map((event) => event.delta).join('');
  expect((await client.responses.retrieve(responseId)).output_text).toBe(text);

  // Not streamed: answered at once, in progress, then generated to its end.
  const started = await client.responses.create({ input: 'poll me until I am done', background: true });
  expect(started.status).toBe('in_progress');
  expect(started.output).toEqual([]);
  const running = await client.responses.retrieve(started.id);
  expect(running).toMatchObject({ id: started.id, status: 'in_progress', model: 'local-offline-model' });
  const done = await eventually(async () => {
    const polled = await client.responses.retrieve(started.id);
    return polled.status === 'completed' && polled;
  });
  expect(done.output_text).toContain('poll me until I am done');

  // A response that is not in the background stops when its client leaves, and keeps what it wrote.
  const foreground = await client.responses.create({ input: 'one two three four five six', stream: true });
  let foregroundId = '';
  let events = 0;
  for await (const event of foreground) {
    if (event.type === 'response.created') foregroundId = event.response.id;
    if (++events === 8) break;
  }
  const stopped = await eventually(async () => {
    const polled = await client.responses.retrieve(foregroundId).catch(() => undefined);
    return polled?.status === 'incomplete' && polled;
  });
  expect(stopped.output_text.length).toBeGreaterThan(0);
  expect(stopped.output_text.length).toBeLessThan(text.length);
});

it('cancels a background response: what it wrote is kept, cancelled', async () => {
  slowReplies();
  const { client } = t.client();
  const started = await client.responses.create({ input: 'a long answer please, with many many words in it', background: true });
  await new Promise((resolve) => setTimeout(resolve, 300));

  const cancelled = await client.responses.cancel(started.id);

  expect(cancelled.status).toBe('cancelled');
  const written = (cancelled.output[0] as Json).content[0].text as string;
  expect(written.length).toBeGreaterThan(0);
  expect(written).not.toContain('not an LLM');
  const retrieved = await client.responses.retrieve(started.id);
  expect(retrieved.status).toBe('cancelled');
  expect(retrieved.output_text).toBe(written);
  // Cancelling again answers the same.
  expect((await client.responses.cancel(started.id)).status).toBe('cancelled');
});

it('keeps nothing with store: false (no conversation, a 404 to read back)', async () => {
  const { client, token } = t.client();
  const response = await client.responses.create({ input: [{ role: 'user', content: 'Earlier' }, { role: 'assistant', content: 'Noted' } as never, { role: 'user', content: 'Now' }], store: false });
  expect(response).toMatchObject({ status: 'completed', store: false, conversation: null });
  expect(response.output_text).toContain('3 messages in context');
  await expect(client.responses.retrieve(response.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  expect(((await (await t.fetch('/backend-api/conversations', token)).json()) as Json).items).toEqual([]);
});

it('refuses bad requests with OpenAI errors, a stranger\'s response with a 404, and the turn limit with a 429 the SDK retries', async () => {
  const { client } = t.client();
  const mine = await client.responses.create({ input: 'mine' });
  const cases: [Promise<unknown>, string, string][] = [
    [client.responses.create({ model: 'gpt-nothing', input: 'x' }), 'model', 'model_not_found'],
    [client.responses.create({ input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'file-1' }] }] }), 'input[0].content[0]', 'invalid_value'],
    [client.responses.create({ conversation: 'conv_x', input: 'x' }), 'conversation', 'invalid_value'],
    [client.responses.create({ conversation: mine.conversation?.id, previous_response_id: mine.id, input: 'x' }), 'previous_response_id', 'invalid_value'],
    [client.responses.create({ input: 'x', background: true, store: false }), 'background', 'invalid_value'],
    [client.responses.create({ input: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a' } as never] }), 'input', 'invalid_value'],
  ];
  for (const [request, param, code] of cases) {
    const error = await request.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).error).toMatchObject({ type: 'invalid_request_error', param, code });
  }
  const stranger = t.client().client;
  await expect(stranger.responses.retrieve(mine.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  await expect(stranger.responses.create({ previous_response_id: mine.id, input: 'x' })).rejects.toMatchObject({ status: 404, code: 'response_not_found' });
  await expect(stranger.responses.create({ conversation: mine.conversation?.id, input: 'x' })).rejects.toMatchObject({ status: 404, code: 'conversation_not_found' });

  process.env.USER_TURN_LIMIT = '2';
  resetConfig();
  try {
    const limited = t.client({ maxRetries: 1 });
    await limited.client.responses.create({ input: 'one' });
    await limited.client.chat.completions.create({ model: 'local-offline-model', messages: [{ role: 'user', content: 'two' }] });
    const before = t.log.length;
    const error = await limited.client.responses.create({ input: 'three' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    const limit = error as InstanceType<typeof OpenAI.RateLimitError>;
    expect(limit.error).toMatchObject({ type: 'requests', code: 'rate_limit_exceeded', param: null, message: expect.stringContaining('at most 2') });
    expect(Number(limit.headers?.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // The SDK retried the 429 once (maxRetries: 1): two requests reached the server.
    expect(t.log.slice(before).filter((line) => line.startsWith('POST /v1/responses -> 429'))).toHaveLength(2);
  } finally {
    delete process.env.USER_TURN_LIMIT;
    resetConfig();
  }
});

it('fails a response whose model fails: an error event and response.failed in the stream; a 502 the SDK must not retry before it', async () => {
  const { client } = t.client({ maxRetries: 2 });
  const stream = await client.responses.create({ input: `x ${LOCAL_MODEL_MARKERS.failAfterFirstToken}`, stream: true });
  const seen: Json[] = [];
  const failure = await (async () => {
    for await (const event of stream) seen.push(event);
  })().catch((error: unknown) => error);
  expect(failure).toBeInstanceOf(OpenAI.APIError);
  expect(seen.at(-1).type).toBe('response.output_item.done');
  expect(seen.at(-1).item.status).toBe('incomplete');
  expect((await client.responses.retrieve(seen[0].response.id)).status).toBe('failed');

  const before = t.log.length;
  const early = await client.responses.create({ input: `x ${LOCAL_MODEL_MARKERS.failBeforeFirstToken}` }).catch((error: unknown) => error);
  expect(early).toBeInstanceOf(OpenAI.InternalServerError);
  expect((early as InstanceType<typeof OpenAI.InternalServerError>).status).toBe(502);
  // The user message is stored by then: `x-should-retry: false` keeps the SDK from storing it twice.
  expect(t.log.slice(before).filter((line) => line.startsWith('POST /v1/responses'))).toHaveLength(1);
});
