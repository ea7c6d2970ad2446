/**
 * Models (docs/api.md#models-feedback-and-remaining-turns) against the real Postgres and Redis:
 * GET models from memory; a POST's `model` — listed: used, stored, the conversation's default
 * for the next turn; unlisted: 422 before anything is written or counted; absent: the
 * conversation's last model, else the default; a regenerate with another model keeps both;
 * titles from the title model.
 */
import { randomUUID } from 'node:crypto';
import {
  closeDatabase,
  closeRedis,
  databaseStats,
  redisKeys,
  redisStats,
  resetCacheService,
  resetConfig,
  setChatModel,
  TITLE_SYSTEM_PROMPT,
} from '@chatbot/shared/testing';
import { generateTitle, getConversation, listModels, newUserId, postRaw, sendMessage } from './support/handlers';
import { rawRedis } from './support/redis';
import { startFakeOpenAiServer } from './support/fake-openai-server';
import { AssertionDatabase } from './reliability/support/database';

const db = new AssertionDatabase();
const redis = rawRedis();
const saved = { ...process.env };

function useEnvironment(overrides: Record<string, string> = {}): void {
  process.env = { ...saved, ...overrides };
  resetConfig();
  resetCacheService();
  setChatModel(undefined);
}

afterEach(() => useEnvironment());
afterAll(async () => {
  await closeRedis();
  await closeDatabase();
  await db.close();
  redis.disconnect();
});

const newTurn = (text: string, extra: Record<string, unknown> = {}) => ({
  action: 'next',
  messages: [{ id: randomUUID(), author: { role: 'user' }, content: { content_type: 'text', parts: [text] } }],
  parent_message_id: randomUUID(),
  ...extra,
});

/** The stored assistant message as GET detail returns it. */
async function assistant(conversationId: string, messageId: string, userId: string) {
  const detail = await getConversation(conversationId, userId);
  return { message: detail.json.mapping[messageId].message, detail: detail.json };
}

describe('GET /backend-api/models', () => {
  it('lists the offline models locally, the echo as the default, from memory: no Redis command, no Postgres query', async () => {
    // Prepare: a warm container (the configuration is read on the first request).
    const userId = newUserId();
    await listModels(userId);
    const before = { redis: redisStats.commands, postgres: databaseStats.queries };

    // Act
    const response = await listModels(userId);

    // Assess
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(response.json).toEqual({
      models: [
        { slug: 'local-offline-model', title: 'Offline echo', description: expect.stringContaining('not an LLM'), max_tokens: 1024, tags: ['offline'] },
        { slug: 'local-long-answer', title: 'Offline long answer', description: expect.stringContaining('Markdown'), max_tokens: 1024, tags: ['offline'] },
      ],
      default_model_slug: 'local-offline-model',
    });
    expect({ redis: redisStats.commands, postgres: databaseStats.queries }).toEqual(before);
  });

  it('serves LLM_MODELS as configured, with its default and per-model max_tokens', async () => {
    useEnvironment({
      LLM_MODELS: JSON.stringify([
        { id: 'local-offline-model', slug: 'echo', title: 'Echo' },
        { id: 'local-long-answer', slug: 'long', title: 'Long', description: 'Markdown', max_tokens: 4096, tags: ['demo'] },
      ]),
      LLM_DEFAULT_MODEL: 'long',
    });

    const response = await listModels(newUserId());

    expect(response.json).toEqual({
      models: [
        { slug: 'echo', title: 'Echo', description: '', max_tokens: 1024, tags: [] },
        { slug: 'long', title: 'Long', description: 'Markdown', max_tokens: 4096, tags: ['demo'] },
      ],
      default_model_slug: 'long',
    });
  });

  it('refuses a caller without a usable identity', async () => {
    expect((await listModels(undefined)).statusCode).toBe(401);
  });
});

describe('POST model', () => {
  it('uses a listed slug, stores it on the reply, returns it on GET, and makes it the conversation\'s default for the next turn', async () => {
    // Prepare
    const userId = newUserId();

    // Act
    const first = await sendMessage(userId, 'Explain keyset paging', { model: 'local-long-answer' });
    const next = await sendMessage(userId, 'And again, shorter', { conversationId: first.conversationId, parentMessageId: first.assistantMessageId });

    // Assess
    const read = await assistant(first.conversationId, first.assistantMessageId, userId);
    expect(read.message.metadata.model_slug).toBe('local-long-answer');
    expect(read.message.content.parts[0]).toMatch(/^## Explain keyset paging\n/);
    const followUp = await assistant(next.conversationId, next.assistantMessageId, userId);
    expect(followUp.message.metadata.model_slug).toBe('local-long-answer');
    expect(followUp.detail.default_model_slug).toBe('local-long-answer');
    // The stream reported the model as it answered.
    expect(first.response.events.some((e) => e.json?.message?.metadata?.model_slug === 'local-long-answer')).toBe(true);
  });

  it('uses the default for a new conversation without a model, or with "auto" (ChatGPT\'s "let the server choose")', async () => {
    const userId = newUserId();

    for (const model of [undefined, 'auto']) {
      const sent = await sendMessage(userId, 'hello', model === undefined ? {} : { model });
      const read = await assistant(sent.conversationId, sent.assistantMessageId, userId);
      expect(read.message.metadata.model_slug).toBe('local-offline-model');
      expect(read.message.content.parts[0]).toContain('You said: "hello"');
    }
    const none = await postRaw(newTurn('no model field', { model: null }), userId);
    expect(none.statusCode).toBe(200);
  });

  it('switches model within a conversation when the request names another', async () => {
    const userId = newUserId();
    const first = await sendMessage(userId, 'one', { model: 'local-long-answer' });

    const second = await sendMessage(userId, 'two', { conversationId: first.conversationId, parentMessageId: first.assistantMessageId, model: 'local-offline-model' });

    const read = await assistant(second.conversationId, second.assistantMessageId, userId);
    expect(read.message.metadata.model_slug).toBe('local-offline-model');
    expect(read.detail.default_model_slug).toBe('local-offline-model');
  });

  it('refuses an unlisted model with 422 model_not_allowed, before anything is written or counted as a turn', async () => {
    // Prepare: a user at the last turn of the limit, with a conversation.
    useEnvironment({ USER_TURN_LIMIT: '2' });
    const userId = newUserId();
    const sent = await sendMessage(userId, 'first');
    const rowsBefore = await db.rowCounts();
    const turnsBefore = await redis.zcard(redisKeys.turnLog(userId));

    // Act
    const refusedNew = await postRaw(newTurn('new', { model: 'gpt-4o' }), userId);
    const refusedFollowUp = await postRaw(
      newTurn('follow-up', { model: 'text-davinci-002-render', conversation_id: sent.conversationId, parent_message_id: sent.assistantMessageId }),
      userId,
    );
    const refusedType = await postRaw(newTurn('typed', { model: 42 }), userId);

    // Assess
    for (const refused of [refusedNew, refusedFollowUp]) {
      expect(refused.statusCode).toBe(422);
      expect(refused.json.detail).toEqual({ code: 'model_not_allowed', message: expect.stringContaining('/backend-api/models') });
    }
    expect(refusedType.statusCode).toBe(422);
    expect(refusedType.json.detail).toEqual([expect.objectContaining({ loc: ['body', 'model'] })]);
    expect(await db.rowCounts()).toEqual(rowsBefore);
    expect(await redis.zcard(redisKeys.turnLog(userId))).toBe(turnsBefore);
    // The turn the refusals did not spend is still there.
    expect((await postRaw(newTurn('the second turn', { model: 'local-long-answer' }), userId)).statusCode).toBe(200);
  });

  it('regenerates with another model: the variant keeps both replies, each with its own model_slug', async () => {
    // Prepare
    const userId = newUserId();
    const first = await sendMessage(userId, 'Compare two designs');

    // Act: a regenerate (variant) of the same user message, with the long-answer model, twice.
    const regenerate = () =>
      postRaw(
        { action: 'variant', conversation_id: first.conversationId, parent_message_id: first.userMessageId, messages: [], model: 'local-long-answer' },
        userId,
      );
    const second = await regenerate();
    const third = await regenerate();

    // Assess
    expect(second.statusCode).toBe(200);
    expect(third.statusCode).toBe(200);
    const detail = (await getConversation(first.conversationId, userId)).json;
    const replies = detail.mapping[first.userMessageId].children.map((id: string) => detail.mapping[id].message);
    expect(replies.map((m: { metadata: { model_slug: string } }) => m.metadata.model_slug)).toEqual(['local-offline-model', 'local-long-answer', 'local-long-answer']);
    // Each regenerate is another variant of the long answer: the second differs from the first.
    expect(replies[1].content.parts[0]).toContain('This is the second answer');
    expect(replies[2].content.parts[0]).toContain('This is the third answer');
    expect(detail.default_model_slug).toBe('local-long-answer');
  });

  it('falls back to the default when the conversation\'s last model is no longer listed', async () => {
    const userId = newUserId();
    const first = await sendMessage(userId, 'start', { model: 'local-long-answer' });
    useEnvironment({ LLM_MODELS: 'local-offline-model' });

    const next = await sendMessage(userId, 'continue', { conversationId: first.conversationId, parentMessageId: first.assistantMessageId });

    expect((await assistant(next.conversationId, next.assistantMessageId, userId)).message.metadata.model_slug).toBe('local-offline-model');
  });
});

describe('titles', () => {
  it('come from the title model (LLM_TITLE_MODEL), whichever model answers; each slug calls its own model id', async () => {
    // Prepare: an OpenAI-compatible endpoint with two models, the small one writing titles.
    const server = await startFakeOpenAiServer({ reply: 'Designs compared' });
    try {
      useEnvironment({
        LLM_PROVIDER: 'openai',
        OPENAI_BASE_URL: server.baseURL,
        OPENAI_API_KEY: 'test-key',
        LLM_MODELS: JSON.stringify([{ id: 'big-model-v2', slug: 'big' }, { id: 'small-model-v1', slug: 'small' }]),
        LLM_TITLE_MODEL: 'small',
      });
      const userId = newUserId();

      // Act
      const sent = await sendMessage(userId, 'Compare two designs', { model: 'big' });
      const requestsAfterPost = server.requests.length;
      const titled = await generateTitle(sent.conversationId, { message_id: sent.assistantMessageId }, userId);

      // Assess
      const calls = server.requests.map((r) => ({ model: r.body.model, title: r.body.messages[0].content === TITLE_SYSTEM_PROMPT }));
      expect(calls.slice(0, requestsAfterPost).sort((a, b) => a.model.localeCompare(b.model))).toEqual([
        { model: 'big-model-v2', title: false },
        { model: 'small-model-v1', title: true },
      ]);
      expect(titled.statusCode).toBe(200);
      expect(calls.slice(requestsAfterPost)).toEqual([{ model: 'small-model-v1', title: true }]);
      const read = await assistant(sent.conversationId, sent.assistantMessageId, userId);
      expect(read.message.metadata.model_slug).toBe('big');
    } finally {
      await server.close();
    }
  });
});
