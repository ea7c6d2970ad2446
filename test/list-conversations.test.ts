import { closeDatabase, closeRedis, listConversations as listConversationsService, MAX_CACHED_LIST_PAGES } from '@chatbot/shared/testing';
import { listConversations, newUserId, sendMessage } from './support/handlers';
import { rawRedis, runPrefix } from './support/redis';

const redis = rawRedis();
const listKey = (userId: string) => `${runPrefix()}user:${userId}:conversation_list`;

afterAll(async () => {
  await closeRedis();
  await closeDatabase();
  redis.disconnect();
});

describe('GET /backend-api/conversations', () => {
  it('lists newest first with ISO times, the full total, and caches every page under one key', async () => {
    const userId = newUserId();
    const sent = [];
    for (const text of ['first', 'second', 'third']) sent.push(await sendMessage(userId, text));

    const page1 = await listConversations(userId, { offset: '0', limit: '2', order: 'updated' });
    expect(page1.statusCode).toBe(200);
    expect(page1.headers['x-cache']).toBe('MISS');
    expect(page1.json.total).toBe(3);
    expect(page1.json.limit).toBe(2);
    expect(page1.json.offset).toBe(0);
    expect(page1.json.has_missing_conversations).toBe(false);
    expect(page1.json.items.map((i: { id: string }) => i.id)).toEqual([sent[2].conversationId, sent[1].conversationId]);
    const item = page1.json.items[0];
    expect(item.create_time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(Date.parse(item.update_time)).toBeGreaterThanOrEqual(Date.parse(item.create_time));
    expect(item.title).toBe('third');
    expect(item).toMatchObject({ mapping: null, current_node: null, is_archived: false });

    const page2 = await listConversations(userId, { offset: '2', limit: '2' });
    expect(page2.json.items.map((i: { id: string }) => i.id)).toEqual([sent[0].conversationId]);
    expect(page2.json.total).toBe(3);

    expect(await redis.hkeys(listKey(userId))).toEqual(expect.arrayContaining(['0:2', '2:2']));
    const ttl = await redis.ttl(listKey(userId));
    expect(ttl).toBeGreaterThan(590);
    expect(ttl).toBeLessThanOrEqual(600);

    const hit = await listConversations(userId, { offset: '0', limit: '2' });
    expect(hit.headers['x-cache']).toBe('HIT');
    expect(hit.body).toBe(page1.body);
  });

  it('drops every cached page when a conversation is created or changes order', async () => {
    const userId = newUserId();
    const older = await sendMessage(userId, 'older');
    const newer = await sendMessage(userId, 'newer');
    await listConversations(userId, { limit: '1' });
    await listConversations(userId, { offset: '1', limit: '1' });
    expect(await redis.hlen(listKey(userId))).toBe(2);

    await sendMessage(userId, 'bump', { conversationId: older.conversationId, parentMessageId: older.assistantMessageId });
    expect(await redis.exists(listKey(userId))).toBe(0);
    const after = await listConversations(userId, {});
    expect(after.headers['x-cache']).toBe('MISS');
    expect(after.json.items.map((i: { id: string }) => i.id)).toEqual([older.conversationId, newer.conversationId]);

    await sendMessage(userId, 'brand new');
    const withNew = await listConversations(userId, {});
    expect(withNew.json.total).toBe(3);
    expect(withNew.json.items[0].title).toBe('brand new');
  });

  it('never shows one user the conversations of another', async () => {
    const alice = newUserId();
    const bob = newUserId();
    await sendMessage(alice, 'alice only');
    const bobs = await listConversations(bob, {});
    expect(bobs.json).toMatchObject({ items: [], total: 0 });
  });

  it('uses defaults offset 0 and limit 20 and ignores unknown parameters', async () => {
    const response = await listConversations(newUserId(), { order: 'updated', is_archived: 'false', foo: 'bar' });
    expect(response.statusCode).toBe(200);
    expect(response.json).toMatchObject({ offset: 0, limit: 20, total: 0 });
  });

  it.each([
    [{ limit: '0' }, 'limit'],
    [{ limit: '101' }, 'limit'],
    [{ limit: '-1' }, 'limit'],
    [{ limit: '2.5' }, 'limit'],
    [{ limit: 'abc' }, 'limit'],
    [{ limit: '' }, 'limit'],
    [{ limit: '1e3' }, 'limit'],
    [{ offset: '-5' }, 'offset'],
    [{ offset: '99999999999999999999' }, 'offset'],
    [{ offset: '0x10' }, 'offset'],
  ])('rejects %j with 422 naming %s, and writes nothing', async (query, field) => {
    const userId = newUserId();
    const response = await listConversations(userId, query);
    expect(response.statusCode).toBe(422);
    expect(response.json.detail[0].loc).toEqual(['query', field]);
    expect(await redis.exists(listKey(userId))).toBe(0);
  });

  it('answers 401 without an identity', async () => {
    expect((await listConversations(undefined, {})).statusCode).toBe(401);
  });

  it(`caches at most ${MAX_CACHED_LIST_PAGES} page shapes per user; the others come from Postgres, and one DEL still drops them all`, async () => {
    const userId = newUserId();
    const first = await sendMessage(userId, 'only one');
    const shapes = Array.from({ length: MAX_CACHED_LIST_PAGES + 8 }, (_, i) => ({ offset: String(i), limit: '1' }));
    for (const shape of shapes) expect((await listConversations(userId, shape)).headers['x-cache']).toBe('MISS');
    expect(await redis.hlen(listKey(userId))).toBe(MAX_CACHED_LIST_PAGES);

    const beyond = await listConversations(userId, { offset: '0', limit: '7' });
    expect(beyond.headers['x-cache']).toBe('MISS');
    expect(beyond.json.items.map((i: { id: string }) => i.id)).toEqual([first.conversationId]);
    expect((await listConversations(userId, { offset: '0', limit: '7' })).headers['x-cache']).toBe('MISS');
    expect((await listConversations(userId, { offset: '0', limit: '1' })).headers['x-cache']).toBe('HIT');
    expect(await redis.hlen(listKey(userId))).toBe(MAX_CACHED_LIST_PAGES);

    await sendMessage(userId, 'a second conversation');
    expect(await redis.exists(listKey(userId))).toBe(0);
    const fresh = await listConversations(userId, { offset: '0', limit: '7' });
    expect(fresh.headers['x-cache']).toBe('MISS');
    expect(fresh.json.total).toBe(2);
    expect((await listConversations(userId, { offset: '0', limit: '7' })).headers['x-cache']).toBe('HIT');
  });

  it('leaves nothing in Redis when the list read fails (a sub Postgres cannot store)', async () => {
    const userId = `eve\u0000${newUserId()}`;
    await expect(listConversationsService({ userId, offset: 0, limit: 20 })).rejects.toThrow();
    expect(await redis.exists(listKey(userId))).toBe(0);
  });
});
