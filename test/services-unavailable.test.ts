import { randomUUID } from 'node:crypto';
import { appendToList, CacheService, closeDatabase, closeRedis, readList, resetCacheService, resetConfig } from '@chatbot/shared/testing';
import { getConversation, listConversations, newUserId, sendMessage } from './support/handlers';
import { freePort } from './reliability/support/redis-server';
import { UNREACHABLE_REDIS_URL } from './support/redis';

const saved = { ...process.env };
async function useEnvironment(overrides: Record<string, string>) {
  Object.assign(process.env, overrides);
  resetConfig();
  resetCacheService();
  await closeRedis();
  await closeDatabase();
}

afterEach(async () => {
  process.env = { ...saved };
  await useEnvironment({});
});

describe('when Redis is not there', () => {
  it('the cache service answers misses within the connect timeout and never throws', async () => {
    await useEnvironment({ REDIS_URL: UNREACHABLE_REDIS_URL, REDIS_CONNECT_TIMEOUT_MS: '300' });
    const cache = new CacheService({ enabled: true, ttlSeconds: 600 });
    const started = Date.now();
    expect(await readList('x:l')).toBeNull();
    expect(await cache.delete('x:k')).toBe(false);
    expect(await appendToList('x:l', ['a'], { maxLength: 20, ttlSeconds: 60, replace: true })).toBeNull();
    expect(await cache.readThrough({ key: 'x:k', load: async () => 'from db' })).toEqual({ value: 'from db', status: 'BYPASS' });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('the handlers serve from Postgres (X-Cache: BYPASS) and posts still complete', async () => {
    const userId = newUserId();
    const { conversationId } = await sendMessage(userId, 'before the outage');
    await useEnvironment({ REDIS_URL: UNREACHABLE_REDIS_URL, REDIS_CONNECT_TIMEOUT_MS: '300' });
    const started = Date.now();
    const detail = await getConversation(conversationId, userId);
    expect(detail.statusCode).toBe(200);
    expect(detail.headers['x-cache']).toBe('BYPASS');
    const next = await sendMessage(userId, 'during the outage', { conversationId, parentMessageId: detail.json.current_node });
    expect(next.response.statusCode).toBe(200);
    const list = await listConversations(userId, {});
    expect(list.headers['x-cache']).toBe('BYPASS');
    expect(list.json.total).toBe(1);
    const after = await getConversation(conversationId, userId);
    expect(after.json.mapping[next.userMessageId].message.content.parts).toEqual(['during the outage']);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe('when Postgres is not there', () => {
  it('answers 503 with a JSON detail, promptly', async () => {
    await useEnvironment({ DATABASE_URL: `postgres://postgres@127.0.0.1:${await freePort()}/test`, DATABASE_CONNECT_TIMEOUT_MS: '500' });
    const userId = newUserId();
    const started = Date.now();
    const detail = await getConversation(randomUUID(), userId);
    expect(detail.statusCode).toBe(503);
    expect(detail.json.detail).toEqual({ message: 'The database is unavailable, please retry', code: 'database_unavailable' });
    const list = await listConversations(userId, {});
    expect(list.statusCode).toBe(503);
    expect(Date.now() - started).toBeLessThan(3000);
  });
});
