import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import {
  LOCAL_MODEL_MARKERS,
  closeDatabase,
  closeRedis,
  createChatModel,
  databaseStats,
  resetConfig,
  setChatModel,
} from '@chatbot/shared/testing';
import { startFakeOpenAiServer } from './support/fake-openai-server';
import { getConversation, listConversations, newUserId, postRaw, sendMessage } from './support/handlers';
import { rawRedis, runPrefix } from './support/redis';
import { applyV1Deltas, legacyText } from './support/sse';

const redis = rawRedis();
const db = new Client({ connectionString: process.env.DATABASE_URL });
const contextKey = (id: string) => `${runPrefix()}chat:${id}:context`;
const contextIds = async (id: string) => (await redis.lrange(contextKey(id), 0, -1)).map((e) => JSON.parse(e).id as string);
const storedMessage = async (id: string) =>
  (await db.query('SELECT role, parts, status, metadata, parent_id FROM messages WHERE id = $1', [id])).rows[0];
const countRows = async () => Number((await db.query('SELECT (SELECT count(*) FROM conversations) + (SELECT count(*) FROM messages) AS n')).rows[0].n);

beforeAll(() => db.connect());
afterAll(async () => {
  await closeRedis();
  await closeDatabase();
  await db.end();
  redis.disconnect();
});

describe('POST /backend-api/f/conversation', () => {
  it('starts a conversation: stores both messages, streams legacy snapshots, sends a title, and lists it first with that title', async () => {
    const userId = newUserId();
    const { conversationId, userMessageId, assistantMessageId, response } = await sendMessage(userId, 'Plan a trip to Lisbon in May');
    expect(response.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    const events = response.events;
    expect(events.at(-1)?.data).toBe('[DONE]');
    // The user message is echoed first, then assistant snapshots each carrying the whole text so far.
    expect(events[0].json.message.author.role).toBe('user');
    const snapshots = events.filter((e) => e.json?.message?.author?.role === 'assistant').map((e) => e.json.message.content.parts[0] as string);
    expect(snapshots.length).toBeGreaterThan(3);
    for (let i = 1; i < snapshots.length; i++) expect(snapshots[i].startsWith(snapshots[i - 1])).toBe(true);
    const final = events.filter((e) => e.json?.message?.author?.role === 'assistant').at(-1)!.json;
    expect(final.message.status).toBe('finished_successfully');
    expect(final.message.end_turn).toBe(true);
    expect(final.message.metadata.finish_details).toEqual({ type: 'stop' });
    expect(final.conversation_id).toBe(conversationId);
    expect(events.find((e) => e.json?.is_completion)?.json).toEqual({ conversation_id: conversationId, message_id: assistantMessageId, is_completion: true });
    const title = events.find((e) => e.json?.type === 'title_generation')?.json;
    expect(title).toMatchObject({ conversation_id: conversationId });
    expect(title.title.length).toBeGreaterThan(0);

    const stored = await storedMessage(assistantMessageId);
    expect(stored.parts).toEqual([legacyText(events)]);
    expect(stored.parent_id).toBe(userMessageId);
    expect((await storedMessage(userMessageId)).parts).toEqual(['Plan a trip to Lisbon in May']);

    const list = await listConversations(userId, {});
    expect(list.json.items[0]).toMatchObject({ id: conversationId, title: title.title });
  });

  it('streams the v1 delta format when asked, and the patched document equals what is stored', async () => {
    const userId = newUserId();
    const { conversationId, assistantMessageId, response } = await sendMessage(userId, 'delta please', { v1: true });
    const events = response.events;
    expect(events[0]).toMatchObject({ event: 'delta_encoding', json: 'v1' });
    expect(events.some((e) => e.event === 'delta' && e.json.p === undefined && typeof e.json.v === 'string')).toBe(true);
    const doc = applyV1Deltas(events);
    expect(doc.conversation_id).toBe(conversationId);
    expect(doc.message.id).toBe(assistantMessageId);
    expect(doc.message.status).toBe('finished_successfully');
    expect(doc.message.end_turn).toBe(true);
    expect(doc.message.metadata).toMatchObject({ is_complete: true, finish_details: { type: 'stop' } });
    expect((await storedMessage(assistantMessageId)).parts).toEqual(doc.message.content.parts);
    const types = events.filter((e) => e.json?.type).map((e) => e.json.type);
    expect(types).toEqual(['resume_conversation_token', 'message_stream_complete', 'title_generation']);
    expect(events.at(-1)?.data).toBe('[DONE]');
    // The time the stream showed is the time stored.
    const detail = (await getConversation(conversationId, userId)).json;
    expect(detail.mapping[assistantMessageId].message.create_time).toBe(doc.message.create_time);
  });

  it('streams the reply in several chunks as it is generated', async () => {
    process.env.LOCAL_MODEL_TOKEN_DELAY_MS = '5';
    resetConfig();
    setChatModel(undefined);
    try {
      const { response } = await sendMessage(newUserId(), 'one two three four five six');
      expect(response.chunks).toBeGreaterThan(5);
    } finally {
      delete process.env.LOCAL_MODEL_TOKEN_DELAY_MS;
      resetConfig();
      setChatModel(undefined);
    }
  });

  it('clears the heartbeat timer of every token: a long reply leaves no 15 s timers behind', async () => {
    const set = jest.spyOn(global, 'setTimeout');
    const clear = jest.spyOn(global, 'clearTimeout');
    try {
      await sendMessage(newUserId(), 'count my timers: one two three four five six seven eight nine ten');
      const heartbeatTimers = set.mock.results.filter((_, i) => set.mock.calls[i][1] === 15000).map((result) => result.value);
      expect(heartbeatTimers.length).toBeGreaterThan(10);
      const cleared = new Set(clear.mock.calls.map((call) => call[0]));
      expect(heartbeatTimers.filter((timer) => !cleared.has(timer))).toEqual([]);
    } finally {
      set.mockRestore();
      clear.mockRestore();
    }
  });

  it('keeps exactly the last 20 messages of a 25-turn conversation in chat:{id}:context, with a 24 h TTL', async () => {
    const userId = newUserId();
    let turn = await sendMessage(userId, 'turn 1');
    const ids = [turn.userMessageId, turn.assistantMessageId];
    for (let i = 2; i <= 25; i++) {
      turn = await sendMessage(userId, `turn ${i}`, { conversationId: turn.conversationId, parentMessageId: turn.assistantMessageId });
      ids.push(turn.userMessageId, turn.assistantMessageId);
    }
    expect(await contextIds(turn.conversationId)).toEqual(ids.slice(-20));
    const entries = (await redis.lrange(contextKey(turn.conversationId), 0, -1)).map((e) => JSON.parse(e));
    expect(entries.at(-2)).toEqual({ id: turn.userMessageId, role: 'user', content: 'turn 25' });
    expect(entries.at(-1).role).toBe('assistant');
    const ttl = await redis.ttl(contextKey(turn.conversationId));
    expect(ttl).toBeGreaterThan(86000);
    expect(ttl).toBeLessThanOrEqual(86400);
  });

  it('reads a warm context from Redis only, and rebuilds an expired one from Postgres with one more query', async () => {
    const userId = newUserId();
    const first = await sendMessage(userId, 'hello');
    let before = databaseStats.queries;
    const warm = await sendMessage(userId, 'warm', { conversationId: first.conversationId, parentMessageId: first.assistantMessageId });
    const warmQueries = databaseStats.queries - before;

    await redis.del(contextKey(first.conversationId)); // expired or evicted
    before = databaseStats.queries;
    const cold = await sendMessage(userId, 'cold', { conversationId: first.conversationId, parentMessageId: warm.assistantMessageId });
    const coldQueries = databaseStats.queries - before;
    expect(coldQueries).toBe(warmQueries + 1);
    expect(await contextIds(first.conversationId)).toEqual([
      first.userMessageId, first.assistantMessageId, warm.userMessageId, warm.assistantMessageId, cold.userMessageId, cold.assistantMessageId,
    ]);
  });

  it('rebuilds the context for the edited branch, and the detail shows both branches', async () => {
    const userId = newUserId();
    const t1 = await sendMessage(userId, 'first question');
    const t2 = await sendMessage(userId, 'second question', { conversationId: t1.conversationId, parentMessageId: t1.assistantMessageId });
    const t3 = await sendMessage(userId, 'third question', { conversationId: t1.conversationId, parentMessageId: t2.assistantMessageId });
    // Edit the second question: a sibling under the first answer.
    const edit = await sendMessage(userId, 'second question, edited', { conversationId: t1.conversationId, parentMessageId: t1.assistantMessageId });
    expect(await contextIds(t1.conversationId)).toEqual([t1.userMessageId, t1.assistantMessageId, edit.userMessageId, edit.assistantMessageId]);
    expect(edit.response.events.at(-3)?.json?.message?.content.parts[0] ?? legacyText(edit.response.events)).toContain('3 messages in context');

    const detail = (await getConversation(t1.conversationId, userId)).json;
    expect(detail.mapping[t1.assistantMessageId].children).toEqual([t2.userMessageId, edit.userMessageId]);
    expect(detail.current_node).toBe(edit.assistantMessageId);
    expect(detail.mapping[t3.assistantMessageId]).toBeDefined();
  });

  it('regenerates (action variant) as a new assistant sibling under the same user message', async () => {
    const userId = newUserId();
    const t1 = await sendMessage(userId, 'regenerate me');
    const again = await sendMessage(userId, 'regenerate me', {
      conversationId: t1.conversationId, action: 'variant', messageId: t1.userMessageId, parentMessageId: t1.userMessageId,
    });
    expect(again.assistantMessageId).not.toBe(t1.assistantMessageId);
    const detail = (await getConversation(t1.conversationId, userId)).json;
    expect(detail.mapping[t1.userMessageId].children).toEqual([t1.assistantMessageId, again.assistantMessageId]);
    expect(await contextIds(t1.conversationId)).toEqual([t1.userMessageId, again.assistantMessageId]);
  });

  it('continues an assistant message (action continue) under it', async () => {
    const userId = newUserId();
    const t1 = await sendMessage(userId, `cut short ${LOCAL_MODEL_MARKERS.maxTokens}`);
    expect((await storedMessage(t1.assistantMessageId)).metadata.finish_details).toEqual({ type: 'max_tokens' });
    const response = await postRaw({ action: 'continue', conversation_id: t1.conversationId, parent_message_id: t1.assistantMessageId }, userId);
    expect(response.statusCode).toBe(200);
    const detail = (await getConversation(t1.conversationId, userId)).json;
    const continued = detail.mapping[t1.assistantMessageId].children;
    expect(continued).toHaveLength(1);
    expect(detail.mapping[continued[0]].message.author.role).toBe('assistant');
  });

  it('answers 502 JSON when the model fails before its first token, and keeps the user message', async () => {
    const userId = newUserId();
    const messageId = randomUUID();
    const response = await postRaw(
      { action: 'next', messages: [{ id: messageId, author: { role: 'user' }, content: { content_type: 'text', parts: [`hi ${LOCAL_MODEL_MARKERS.failBeforeFirstToken}`] } }], parent_message_id: randomUUID() },
      userId,
    );
    expect(response.statusCode).toBe(502);
    expect(response.json.detail.code).toBe('model_error');
    expect((await storedMessage(messageId)).role).toBe('user');
    const list = await listConversations(userId, {});
    expect(list.json.total).toBe(1);
    // The body names the conversation the message was stored in, so a retry continues it.
    expect(response.json.detail.conversation_id).toBe(list.json.items[0].id);
  });

  it('sends an SSE error and stores the partial reply as interrupted when the model fails mid-stream', async () => {
    const userId = newUserId();
    for (const v1 of [false, true]) {
      const { conversationId, response } = await sendMessageAllowingErrors(userId, `boom ${LOCAL_MODEL_MARKERS.failAfterFirstToken}`, v1);
      expect(response.statusCode).toBe(200);
      expect(response.events.at(-1)?.data).toBe('[DONE]');
      const detail = (await getConversation(conversationId, userId)).json;
      const assistant = detail.mapping[detail.current_node].message;
      expect(assistant.author.role).toBe('assistant');
      expect(assistant.metadata.finish_details).toEqual({ type: 'interrupted', reason: 'error' });
      expect(assistant.status).toBe('finished_partial_completion');
      expect(assistant.content.parts[0].length).toBeGreaterThan(0);
      if (v1) {
        expect(applyV1Deltas(response.events).error).toEqual(expect.any(String));
      } else {
        expect(response.events.find((e) => typeof e.json?.error === 'string' && e.json.error !== '')).toBeDefined();
      }
    }
  });

  it('stops generating when the client goes away and stores the reply as far as it got', async () => {
    const userId = newUserId();
    const controller = new AbortController();
    let received = '';
    const messageId = randomUUID();
    const started = Date.now();
    await postRaw(
      {
        action: 'next',
        messages: [{ id: messageId, author: { role: 'user' }, content: { content_type: 'text', parts: [`${LOCAL_MODEL_MARKERS.slow} a b c d e f g h i j k l m n o p`] } }],
        parent_message_id: randomUUID(),
      },
      userId,
      {
        signal: controller.signal,
        onChunk: (chunk) => {
          received += chunk;
          if ((received.match(/"author":\{"role":"assistant"/g) ?? []).length >= 3) controller.abort();
        },
      },
    );
    expect(Date.now() - started).toBeLessThan(4000); // the full reply would take ~6 s
    let assistant: { parts: string[]; metadata: { finish_details: unknown } } | undefined;
    for (let i = 0; i < 50 && !assistant; i++) {
      const row = (await db.query("SELECT parts, metadata FROM messages WHERE parent_id = $1 AND role = 'assistant'", [messageId])).rows[0];
      assistant = row;
      if (!row) await new Promise((r) => setTimeout(r, 100));
    }
    expect(assistant?.metadata.finish_details).toEqual({ type: 'interrupted', reason: 'client_gone' });
    expect(assistant?.parts[0].length).toBeGreaterThan(0);
    expect(assistant?.parts[0]).not.toContain('not an LLM');
  });

  it('does not let one user post into another user\'s conversation', async () => {
    const owner = newUserId();
    const t1 = await sendMessage(owner, 'mine');
    const before = await countRows();
    const response = await postRaw(
      { action: 'next', conversation_id: t1.conversationId, parent_message_id: t1.assistantMessageId, messages: [{ id: randomUUID(), author: { role: 'user' }, content: { content_type: 'text', parts: ['intrusion'] } }] },
      newUserId(),
    );
    expect(response.statusCode).toBe(404);
    expect(response.json.detail.code).toBe('conversation_not_found');
    expect(await countRows()).toBe(before);
  });

  it('accepts the 2022 message shape (role on the message) and the old /backend-api/conversation fields', async () => {
    // Not its `model` ("text-davinci-002-render"): a model the deployment does not list is a 422 (test/models.test.ts).
    const response = await postRaw(
      { action: 'next', messages: [{ id: randomUUID(), role: 'user', content: { content_type: 'text', parts: ['old client'] } }], parent_message_id: randomUUID(), timezone_offset_min: -60, history_and_training_disabled: false, conversation_mode: { kind: 'primary_assistant' } },
      newUserId(),
    );
    expect(response.statusCode).toBe(200);
    expect(legacyText(response.events)).toContain('old client');
  });

  describe('bad input: a 4xx with a JSON detail, and nothing written', () => {
    const msg = (parts: unknown, extra: Record<string, unknown> = {}) => ({ id: randomUUID(), author: { role: 'user' }, content: { content_type: 'text', parts }, ...extra });
    const cases: [string, unknown, number, Record<string, string>][] = [
      ['empty body', '', 422, {}],
      ['invalid JSON', '{"action": "next",', 422, {}],
      ['a JSON array', '[]', 422, {}],
      ['a JSON string', '"hello"', 422, {}],
      ['unknown action', { action: 'delete', messages: [msg(['x'])], parent_message_id: 'p' }, 422, {}],
      ['no messages for next', { action: 'next', parent_message_id: 'p' }, 422, {}],
      ['messages not a list', { action: 'next', messages: 'hi', parent_message_id: 'p' }, 422, {}],
      ['assistant role', { messages: [{ ...msg(['x']), author: { role: 'assistant' } }], parent_message_id: 'p' }, 422, {}],
      ['parts not a list', { messages: [msg('x')], parent_message_id: 'p' }, 422, {}],
      ['empty text', { messages: [msg(['   '])], parent_message_id: 'p' }, 422, {}],
      ['numbers as parts', { messages: [msg([1, 2])], parent_message_id: 'p' }, 422, {}],
      ['NUL in text', { messages: [msg(['a\u0000b'])], parent_message_id: 'p' }, 422, {}],
      ['lone surrogate', { messages: [msg(['a\ud800b'])], parent_message_id: 'p' }, 422, {}],
      ['bad message id', { messages: [{ ...msg(['x']), id: '../../x' }], parent_message_id: 'p' }, 422, {}],
      ['bad conversation id', { conversation_id: 'nope', messages: [msg(['x'])], parent_message_id: 'p' }, 422, {}],
      ['continue without conversation', { action: 'continue', parent_message_id: 'p' }, 422, {}],
      ['existing conversation without parent', { conversation_id: randomUUID(), messages: [msg(['x'])] }, 422, {}],
      ['text too long', { messages: [msg(['x'.repeat(32001)])], parent_message_id: 'p' }, 413, {}],
      ['form content type', { messages: [msg(['x'])], parent_message_id: 'p' }, 415, { 'Content-Type': 'application/x-www-form-urlencoded' }],
      ['unknown conversation', { conversation_id: randomUUID(), messages: [msg(['x'])], parent_message_id: 'p' }, 404, {}],
    ];
    // Four values per row: Jest would take a missing fourth argument for a done callback.
    it.each(cases)('%s', async (_name, body, status, headers) => {
      const rows = await countRows();
      const keys = new Set(await redis.keys(`${runPrefix()}*`));
      const userId = newUserId();
      const response = await postRaw(body, userId, { headers });
      expect(response.statusCode).toBe(status);
      expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(response.json.detail).toBeDefined();
      expect(await countRows()).toBe(rows);
      // A valid request counts against the user's turn limit even when it then fails (404): that key only.
      const added = (await redis.keys(`${runPrefix()}*`)).filter((key) => !keys.has(key));
      expect(added).toEqual(status === 404 ? [`${runPrefix()}user:${userId}:turns`] : []);
    });

    it('answers 413 message_length_exceeds_limit for oversize text', async () => {
      const response = await postRaw({ messages: [msg(['x'.repeat(40000)])], parent_message_id: 'p' }, newUserId());
      expect(response.json.detail.code).toBe('message_length_exceeds_limit');
    });

    it('rejects a parent that is not in the conversation', async () => {
      const userId = newUserId();
      const t1 = await sendMessage(userId, 'x');
      const rows = await countRows();
      const response = await postRaw({ conversation_id: t1.conversationId, parent_message_id: 'not-a-node', messages: [msg(['y'])] }, userId);
      expect(response.statusCode).toBe(422);
      expect(response.json.detail[0].loc).toEqual(['body', 'parent_message_id']);
      expect(await countRows()).toBe(rows);
    });
  });

  describe('a model that is slow to start', () => {
    let server: Awaited<ReturnType<typeof startFakeOpenAiServer>>;
    beforeAll(async () => {
      server = await startFakeOpenAiServer();
      Object.assign(process.env, { LLM_FIRST_TOKEN_WAIT_MS: '50', SSE_HEARTBEAT_INTERVAL_MS: '100' });
      resetConfig();
      setChatModel(createChatModel({ provider: 'openai', baseURL: server.baseURL, apiKey: 'k', model: 'slow-model', maxRetries: 0 }));
    });
    afterAll(async () => {
      delete process.env.LLM_FIRST_TOKEN_WAIT_MS;
      delete process.env.SSE_HEARTBEAT_INTERVAL_MS;
      resetConfig();
      setChatModel(undefined);
      await server.close();
    });

    it('opens the stream after the first-token wait and keeps it alive with heartbeat comments', async () => {
      server.setScript({ reply: 'finally here', headersDelayMs: 450 });
      const { response, assistantMessageId } = await sendMessage(newUserId(), 'take your time');
      expect(response.statusCode).toBe(200);
      expect((response.body.match(/^: ping$/gm) ?? []).length).toBeGreaterThanOrEqual(2);
      expect(legacyText(response.events)).toBe('finally here');
      expect((await storedMessage(assistantMessageId)).parts).toEqual(['finally here']);
    });

    it('reports a failure after the stream opened as an SSE error, and keeps the user message', async () => {
      server.setScript({ errorStatus: 500, headersDelayMs: 300 });
      const userId = newUserId();
      const { conversationId, response } = await sendMessageAllowingErrors(userId, 'this will fail late', false);
      expect(response.statusCode).toBe(200);
      expect(response.events.find((e) => typeof e.json?.error === 'string' && e.json.error !== '')).toBeDefined();
      expect(response.events.at(-1)?.data).toBe('[DONE]');
      const detail = (await getConversation(conversationId, userId)).json;
      const user = Object.values(detail.mapping as Record<string, { message?: { author: { role: string }; content: { parts: string[] } } }>)
        .find((n) => n.message?.author.role === 'user');
      expect(user?.message?.content.parts).toEqual(['this will fail late']);
    });
  });

  it('talks to an OpenAI-compatible endpoint over its streaming protocol', async () => {
    const server = await startFakeOpenAiServer({ reply: 'Bonjour from the fake server', chunks: 4 });
    setChatModel(createChatModel({ provider: 'openai', baseURL: server.baseURL, apiKey: 'test-key', model: 'fake-model' }));
    try {
      const userId = newUserId();
      const { assistantMessageId, response } = await sendMessage(userId, 'Say bonjour');
      expect(legacyText(response.events)).toBe('Bonjour from the fake server');
      expect((await storedMessage(assistantMessageId)).metadata.model_slug).toBe('fake-model');
      const chat = server.requests.find((r) => (r.body as { stream?: boolean }).stream === true && JSON.stringify(r.body).includes('Say bonjour'));
      expect((chat?.body as { messages: { role: string }[] }).messages.map((m) => m.role)).toEqual(['system', 'user']);
    } finally {
      setChatModel(undefined);
      await server.close();
    }
  });
});

async function sendMessageAllowingErrors(userId: string, text: string, v1: boolean) {
  const response = await postRaw(
    { action: 'next', messages: [{ id: randomUUID(), author: { role: 'user' }, content: { content_type: 'text', parts: [text] } }], parent_message_id: randomUUID(), ...(v1 ? { supported_encodings: ['v1'] } : {}) },
    userId,
  );
  const conversationId = (response.events.find((e) => e.json?.conversation_id)?.json.conversation_id ?? applyV1Deltas(response.events)?.conversation_id) as string;
  return { conversationId, response };
}
