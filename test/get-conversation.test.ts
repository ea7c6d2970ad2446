import { randomUUID } from 'node:crypto';
import { closeDatabase, closeRedis } from '@chatbot/shared/testing';
import { getConversation, newUserId, sendMessage } from './support/handlers';
import { rawRedis, runPrefix } from './support/redis';

const redis = rawRedis();
const historyKey = (id: string) => `${runPrefix()}conv:${id}:history`;

afterAll(async () => {
  await closeRedis();
  await closeDatabase();
  redis.disconnect();
});

describe('GET /backend-api/conversation/{conversation_id}', () => {
  it('misses, fills conv:{id}:history for 600 s, then hits with a byte-identical body', async () => {
    const userId = newUserId();
    const { conversationId, userMessageId, assistantMessageId } = await sendMessage(userId, 'Hello there');

    const miss = await getConversation(conversationId, userId);
    expect(miss.statusCode).toBe(200);
    expect(miss.headers['x-cache']).toBe('MISS');
    expect(miss.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(miss.headers['cache-control']).toBe('no-store');
    expect(await redis.get(historyKey(conversationId))).toBe(miss.body);
    const ttl = await redis.ttl(historyKey(conversationId));
    expect(ttl).toBeGreaterThan(590);
    expect(ttl).toBeLessThanOrEqual(600);

    const hit = await getConversation(conversationId, userId);
    expect(hit.headers['x-cache']).toBe('HIT');
    expect(hit.body).toBe(miss.body);

    // The ChatGPT detail shape.
    const detail = miss.json;
    expect(detail.conversation_id).toBe(conversationId);
    expect(detail.current_node).toBe(assistantMessageId);
    expect(detail.moderation_results).toEqual([]);
    expect(detail.is_archived).toBe(false);
    expect(typeof detail.create_time).toBe('number');
    expect(detail.update_time).toBeGreaterThanOrEqual(detail.create_time);
    const assistant = detail.mapping[assistantMessageId];
    expect(assistant.parent).toBe(userMessageId);
    expect(assistant.children).toEqual([]);
    expect(assistant.message.author.role).toBe('assistant');
    expect(assistant.message.status).toBe('finished_successfully');
    expect(assistant.message.metadata.finish_details).toEqual({ type: 'stop' });
    const user = detail.mapping[userMessageId];
    expect(user.message.content).toEqual({ content_type: 'text', parts: ['Hello there'] });
    expect(user.children).toEqual([assistantMessageId]);
    const system = detail.mapping[user.parent];
    expect(system.message.author.role).toBe('system');
    expect(system.message.metadata.is_visually_hidden_from_conversation).toBe(true);
    const root = detail.mapping[system.parent];
    expect(root.message).toBeUndefined();
    expect(root.parent).toBeUndefined();
    expect(root.children).toEqual([system.id]);
  });

  it('answers 404 to another user, from the cache as from the database, with the same body as an unknown id', async () => {
    const owner = newUserId();
    const { conversationId } = await sendMessage(owner, 'private');
    const stranger = newUserId();

    const uncached = await getConversation(conversationId, stranger);
    expect(uncached.statusCode).toBe(404);
    await getConversation(conversationId, owner); // now cached
    expect(await redis.exists(historyKey(conversationId))).toBe(1);
    const cached = await getConversation(conversationId, stranger);
    expect(cached.statusCode).toBe(404);
    expect(cached.body).not.toContain('private');
    const unknown = await getConversation(randomUUID(), stranger);
    expect(unknown.statusCode).toBe(404);
    expect(cached.json).toEqual(unknown.json);
    expect(unknown.json).toEqual({ detail: { message: 'Conversation not found', code: 'conversation_not_found' } });
    expect(unknown.headers['access-control-allow-origin']).toBeDefined();
  });

  it('serves a new body after a message is posted (the POST invalidated the cache)', async () => {
    const userId = newUserId();
    const first = await sendMessage(userId, 'one');
    expect((await getConversation(first.conversationId, userId)).headers['x-cache']).toBe('MISS');
    expect((await getConversation(first.conversationId, userId)).headers['x-cache']).toBe('HIT');
    const second = await sendMessage(userId, 'two', { conversationId: first.conversationId, parentMessageId: first.assistantMessageId });
    const after = await getConversation(first.conversationId, userId);
    expect(after.headers['x-cache']).toBe('MISS');
    expect(after.json.current_node).toBe(second.assistantMessageId);
    expect(after.json.mapping[second.userMessageId].message.content.parts).toEqual(['two']);
  });

  it.each([
    ['not-a-uuid', 422],
    ['123', 422],
    ['../../etc/passwd', 422],
    ["1' OR '1'='1", 422],
    ['', 422],
  ])('rejects conversation id %j with %i and writes nothing to Redis', async (id, status) => {
    const before = (await redis.keys(`${runPrefix()}*`)).sort();
    const response = await getConversation(id, newUserId());
    expect(response.statusCode).toBe(status);
    expect(response.json.detail[0].loc).toEqual(['path', 'conversation_id']);
    expect((await redis.keys(`${runPrefix()}*`)).sort()).toEqual(before);
  });

  it('answers 401 without an authorizer identity', async () => {
    const response = await getConversation(randomUUID(), undefined);
    expect(response.statusCode).toBe(401);
    expect(response.json.detail.code).toBe('invalid_jwt');
  });
});
