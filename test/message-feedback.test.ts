/**
 * Rating a reply (docs/api.md#models-feedback-and-remaining-turns) through the real
 * update-conversation handler, against the real Postgres and Redis: stored once per user and
 * message (a second rating replaces the first), shown in the detail as `metadata.feedback` at
 * once even when the detail was cached, counted per rating; foreign or unknown → 404; a user
 * message, a bad rating, bad tags or text → 422, writing nothing.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { closeDatabase, closeRedis, listMessageFeedbackSince, metrics, rateMessage as rateMessageUseCase, resetConfig } from '@chatbot/shared/testing';
import { getConversation, listConversations, newUserId, patchConversation, rateMessage, sendMessage } from './support/handlers';

const db = new Client({ connectionString: process.env.DATABASE_URL });

beforeAll(() => db.connect());
afterAll(async () => {
  await closeRedis();
  await closeDatabase();
  await db.end();
});

async function storedFeedback(conversationId: string, messageId: string) {
  const { rows } = await db.query('SELECT user_id, rating, tags, text FROM message_feedback WHERE conversation_id = $1 AND message_id = $2', [conversationId, messageId]);
  return rows;
}

const feedbackRows = async (): Promise<number> => Number((await db.query('SELECT count(*) AS n FROM message_feedback')).rows[0].n);

describe('POST /backend-api/conversation/message_feedback', () => {
  it('stores a rating and answers in ChatGPT\'s shape; a detail cached a moment before shows it at once', async () => {
    // Prepare: the detail is cached.
    const userId = newUserId();
    const sent = await sendMessage(userId, 'Rate me');
    await getConversation(sent.conversationId, userId);
    expect((await getConversation(sent.conversationId, userId)).headers['x-cache']).toBe('HIT');

    // Act
    const response = await rateMessage({ conversation_id: sent.conversationId, message_id: sent.assistantMessageId, rating: 'thumbsUp' }, userId);

    // Assess
    expect(response.statusCode).toBe(200);
    expect(response.json).toEqual({
      message_id: sent.assistantMessageId,
      conversation_id: sent.conversationId,
      user_id: userId,
      rating: 'thumbsUp',
      content: JSON.stringify({ tags: [], text: null }),
    });
    const detail = await getConversation(sent.conversationId, userId);
    expect(detail.headers['x-cache']).toBe('MISS');
    const message = detail.json.mapping[sent.assistantMessageId].message;
    expect(message.metadata.feedback).toEqual({ rating: 'thumbsUp', tags: [], text: null });
    // The rest of the metadata is untouched, and the user's message carries no feedback.
    expect(message.metadata).toMatchObject({ model_slug: 'local-offline-model', finish_details: { type: 'stop' } });
    expect(detail.json.mapping[sent.userMessageId].message.metadata).toEqual({});
  });

  it('keeps one rating per user and message: a second replaces the first, tags and text included', async () => {
    const userId = newUserId();
    const sent = await sendMessage(userId, 'Rate me twice');
    await rateMessage({ conversation_id: sent.conversationId, message_id: sent.assistantMessageId, rating: 'thumbsUp', tags: ['helpful'] }, userId);
    await getConversation(sent.conversationId, userId);

    const second = await rateMessage(
      { conversation_id: sent.conversationId, message_id: sent.assistantMessageId, rating: 'thumbsDown', tags: ['not-helpful', 'incorrect'], text: 'It missed the point.' },
      userId,
    );

    expect(second.statusCode).toBe(200);
    expect(JSON.parse(second.json.content)).toEqual({ tags: ['not-helpful', 'incorrect'], text: 'It missed the point.' });
    expect(await storedFeedback(sent.conversationId, sent.assistantMessageId)).toEqual([
      { user_id: userId, rating: 'thumbsDown', tags: ['not-helpful', 'incorrect'], text: 'It missed the point.' },
    ]);
    expect((await getConversation(sent.conversationId, userId)).json.mapping[sent.assistantMessageId].message.metadata.feedback).toEqual({
      rating: 'thumbsDown',
      tags: ['not-helpful', 'incorrect'],
      text: 'It missed the point.',
    });
  });

  it('never serves the old rating after the answer, even with readers filling the cache meanwhile', async () => {
    // Prepare
    const userId = newUserId();
    const sent = await sendMessage(userId, 'Race me');
    const body = (rating: string) => ({ conversation_id: sent.conversationId, message_id: sent.assistantMessageId, rating });

    for (const rating of ['thumbsUp', 'thumbsDown', 'thumbsUp', 'thumbsDown', 'thumbsUp']) {
      // Act: readers miss and fill while the rating is written.
      const readers = Array.from({ length: 6 }, () => getConversation(sent.conversationId, userId));
      const rated = await rateMessage(body(rating), userId);
      await Promise.all(readers);

      // Assess: every read after the answer shows this rating.
      expect(rated.statusCode).toBe(200);
      for (let i = 0; i < 3; i += 1) {
        expect((await getConversation(sent.conversationId, userId)).json.mapping[sent.assistantMessageId].message.metadata.feedback.rating).toBe(rating);
      }
    }
  });

  it('keeps the cached list (a rating changes no list)', async () => {
    const userId = newUserId();
    const sent = await sendMessage(userId, 'List me');
    await listConversations(userId);

    await rateMessage({ conversation_id: sent.conversationId, message_id: sent.assistantMessageId, rating: 'thumbsUp' }, userId);

    expect((await listConversations(userId)).headers['x-cache']).toBe('HIT');
  });

  it('counts one metric per rating', async () => {
    const userId = newUserId();
    const sent = await sendMessage(userId, 'Count me');
    metrics.clearMetrics();

    // The use case itself: the handler's middleware publishes (and clears) what a request counted.
    await rateMessageUseCase({ userId, conversationId: sent.conversationId, messageId: sent.assistantMessageId, rating: 'thumbsDown', content: { tags: [], text: null } });

    const published = metrics.serializeMetrics() as unknown as Record<string, unknown>;
    expect(published).toHaveProperty('FeedbackThumbsDown', 1);
    expect(published).not.toHaveProperty('FeedbackThumbsUp');
    metrics.clearMetrics();
  });

  it('answers 404 for another user\'s, an unknown or a deleted conversation, and for an unknown message, writing nothing', async () => {
    // Prepare
    const owner = newUserId();
    const sent = await sendMessage(owner, 'Mine');
    const deleted = await sendMessage(owner, 'Gone soon');
    await patchConversation(deleted.conversationId, { is_visible: false }, owner);
    const before = await feedbackRows();

    // Act
    const foreign = await rateMessage({ conversation_id: sent.conversationId, message_id: sent.assistantMessageId, rating: 'thumbsUp' }, newUserId());
    const unknown = await rateMessage({ conversation_id: randomUUID(), message_id: sent.assistantMessageId, rating: 'thumbsUp' }, owner);
    const gone = await rateMessage({ conversation_id: deleted.conversationId, message_id: deleted.assistantMessageId, rating: 'thumbsUp' }, owner);
    const noMessage = await rateMessage({ conversation_id: sent.conversationId, message_id: 'no-such-message', rating: 'thumbsUp' }, owner);

    // Assess: another user's conversation looks exactly like one that does not exist.
    for (const response of [foreign, unknown, gone]) {
      expect(response.statusCode).toBe(404);
      expect(response.json.detail).toEqual({ code: 'conversation_not_found', message: 'Conversation not found' });
    }
    expect(noMessage.statusCode).toBe(404);
    expect(noMessage.json.detail.code).toBe('message_not_found');
    expect(await feedbackRows()).toBe(before);
  });

  it('answers 422 for a user message, a bad rating, bad tags or text, writing nothing', async () => {
    // Prepare
    const userId = newUserId();
    const sent = await sendMessage(userId, 'Validate me');
    const base = { conversation_id: sent.conversationId, message_id: sent.assistantMessageId, rating: 'thumbsUp' };
    const before = await feedbackRows();

    // Act + Assess
    const cases: [string, unknown, (string | number)[]][] = [
      ['a user message', { ...base, message_id: sent.userMessageId }, ['body', 'message_id']],
      ['rating missing', { ...base, rating: undefined }, ['body', 'rating']],
      ['rating thumbsup (case)', { ...base, rating: 'thumbsup' }, ['body', 'rating']],
      ['rating a number', { ...base, rating: 1 }, ['body', 'rating']],
      ['tags a string', { ...base, tags: 'helpful' }, ['body', 'tags']],
      ['a tag with a space', { ...base, tags: ['not helpful'] }, ['body', 'tags', 0]],
      ['a tag an object', { ...base, tags: [{}] }, ['body', 'tags', 0]],
      ['a tag twice', { ...base, tags: ['a', 'a'] }, ['body', 'tags', 1]],
      ['eleven tags', { ...base, tags: Array.from({ length: 11 }, (_, i) => `t${i}`) }, ['body', 'tags']],
      ['text over 2,000 characters', { ...base, text: 'x'.repeat(2001) }, ['body', 'text']],
      ['text a number', { ...base, text: 5 }, ['body', 'text']],
      ['text with NUL', { ...base, text: 'a\u0000b' }, ['body', 'text']],
      ['conversation_id not a UUID', { ...base, conversation_id: 'abc' }, ['body', 'conversation_id']],
      ['message_id with a slash', { ...base, message_id: '../x' }, ['body', 'message_id']],
    ];
    for (const [name, body, loc] of cases) {
      const response = await rateMessage(body, userId);
      expect({ name, status: response.statusCode }).toEqual({ name, status: 422 });
      expect({ name, locs: response.json.detail.map((issue: { loc: unknown }) => issue.loc) }).toEqual({ name, locs: [loc] });
    }
    expect(await feedbackRows()).toBe(before);
    // 2,000 characters exactly are fine.
    expect((await rateMessage({ ...base, text: 'y'.repeat(2000) }, userId)).statusCode).toBe(200);
  });
});

describe('the ratings export', () => {
  it('lists ratings since a date with the rated reply and the question it answers, page by page, without user ids', async () => {
    // Prepare
    resetConfig();
    const since = new Date();
    const userId = newUserId();
    const a = await sendMessage(userId, 'First question');
    const b = await sendMessage(userId, 'Second question', { model: 'local-long-answer' });
    await rateMessage({ conversation_id: a.conversationId, message_id: a.assistantMessageId, rating: 'thumbsDown', tags: ['incorrect'], text: 'Wrong' }, userId);
    await rateMessage({ conversation_id: b.conversationId, message_id: b.assistantMessageId, rating: 'thumbsUp' }, userId);

    // Act
    const firstPage = await listMessageFeedbackSince({ since, limit: 1 });
    const secondPage = await listMessageFeedbackSince({ since, limit: 1, after: firstPage[0] });
    const downOnly = await listMessageFeedbackSince({ since, rating: 'thumbsDown', limit: 10 });

    // Assess
    expect(firstPage).toEqual([
      {
        ratedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/),
        rating: 'thumbsDown',
        tags: ['incorrect'],
        text: 'Wrong',
        conversationId: a.conversationId,
        messageId: a.assistantMessageId,
        modelSlug: 'local-offline-model',
        prompt: 'First question',
        reply: expect.stringContaining('You said: "First question"'),
      },
    ]);
    expect(secondPage).toEqual([expect.objectContaining({ rating: 'thumbsUp', modelSlug: 'local-long-answer', prompt: 'Second question', reply: expect.stringMatching(/^## Second question/) })]);
    expect(downOnly.map((row) => row.messageId)).toEqual([a.assistantMessageId]);
    expect(JSON.stringify([...firstPage, ...secondPage])).not.toContain(userId);
  });

  it('is what npm run feedback-export prints, one JSON line per rating', async () => {
    // Prepare
    const since = new Date();
    const userId = newUserId();
    const sent = await sendMessage(userId, 'Export me');
    await rateMessage({ conversation_id: sent.conversationId, message_id: sent.assistantMessageId, rating: 'thumbsDown', tags: ['lazy'] }, userId);

    // Act
    const root = path.resolve(__dirname, '..');
    const { stdout, stderr } = await promisify(execFile)('node', ['local/run.mts', 'scripts/feedback-export.ts', '--since', since.toISOString(), '--rating', 'thumbsDown'], {
      cwd: root,
      env: { ...process.env, POWERTOOLS_LOG_LEVEL: 'SILENT', POWERTOOLS_METRICS_DISABLED: 'true' },
    });

    // Assess
    const lines = stdout.trim().split('\n').map((line) => JSON.parse(line));
    expect(lines).toEqual([expect.objectContaining({ messageId: sent.assistantMessageId, rating: 'thumbsDown', tags: ['lazy'], prompt: 'Export me' })]);
    expect(stderr).toContain('Exported 1 rating(s)');
  }, 30_000);
});
