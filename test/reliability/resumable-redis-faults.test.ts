/**
 * docs/api.md#resumable-replies under real Redis faults: the reply a client is reading never depends on the
 * recording. Each test owns a redis-server it kills or pauses mid-reply; the reply still
 * completes and is stored whole, followers end instead of hanging, and resume answers a JSON
 * 503 promptly while Redis is gone.
 */
import { randomUUID } from 'node:crypto';
import { closeDatabase, closeRedis, createChatModel, resetCacheService, resetConfig, setChatModel } from '@chatbot/shared/testing';
import { getConversation, newUserId, postRaw, replyControl, resumeRaw } from '../support/handlers';
import { applyV1Deltas, parseSse, sseFrames } from '../support/sse';
import { startRedisServer, stopAllRedisServers, type RedisServer } from './support/redis-server';

const DONE = 'data: [DONE]\n\n';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const v1Body = (text: string) => ({
  action: 'next',
  messages: [{ id: randomUUID(), author: { role: 'user' }, content: { content_type: 'text', parts: [text] } }],
  parent_message_id: randomUUID(),
  supported_encodings: ['v1'],
});
const ENV_KEYS = ['REDIS_URL', 'REDIS_COMMAND_TIMEOUT_MS', 'REDIS_CONNECT_TIMEOUT_MS', 'SSE_HEARTBEAT_INTERVAL_MS'] as const;
const saved = Object.fromEntries(ENV_KEYS.map((key) => [key, process.env[key]]));

async function useRedis(server: RedisServer): Promise<void> {
  await closeRedis();
  Object.assign(process.env, { REDIS_URL: server.url, REDIS_COMMAND_TIMEOUT_MS: '100', REDIS_CONNECT_TIMEOUT_MS: '300', SSE_HEARTBEAT_INTERVAL_MS: '200' });
  resetConfig();
  resetCacheService();
  // Tokens 40 ms apart: a reply of about a second, long enough to break Redis in the middle of it.
  setChatModel(createChatModel({ provider: 'local', tokenDelayMs: 40 }));
}

/** Starts a v1 reply and resolves once `frames` frames have arrived, with the reply's ids and the pending response. */
async function startReply(userId: string, frames: number) {
  let text = '';
  let resolveStarted: () => void = () => undefined;
  const started = new Promise<void>((resolve) => (resolveStarted = resolve));
  const response = postRaw(v1Body('one two three four five six seven eight'), userId, {
    onChunk: (chunk) => {
      text += chunk;
      if (sseFrames(text).length >= frames) resolveStarted();
    },
  });
  await Promise.race([started, response]);
  const token = parseSse(text).find((e) => e.json?.type === 'resume_conversation_token')?.json;
  return { conversationId: token?.conversation_id as string, token: token?.token as string, response };
}

afterAll(async () => {
  await closeRedis();
  await stopAllRedisServers();
  for (const key of ENV_KEYS) {
    if (saved[key] === undefined) delete process.env[key];
    else process.env[key] = saved[key];
  }
  resetConfig();
  resetCacheService();
  setChatModel(undefined);
  await closeDatabase();
});

describe('resumable replies under Redis faults', () => {
  it('Redis killed mid-reply: the reply completes and is stored whole, the follower ends, and resume answers 503 promptly', async () => {
    const server = await startRedisServer();
    await useRedis(server);
    const userId = newUserId();
    const reply = await startReply(userId, 4);
    const followerStarted = Date.now();
    const follower = resumeRaw({ conversation_id: reply.conversationId, offset: 0, token: reply.token }, userId);
    await sleep(300);

    await server.kill();
    const killedAt = Date.now();
    const followed = await follower;
    const followerEndedAfterKill = Date.now() - killedAt;
    const response = await reply.response;

    const frames = sseFrames(response.body);
    expect(frames.at(-1)).toBe(DONE);
    const doc = applyV1Deltas(parseSse(response.body));
    expect(doc.message.status).toBe('finished_successfully');
    const stored = (await getConversation(reply.conversationId, userId)).json.mapping[doc.message.id].message;
    expect(stored.content.parts).toEqual(doc.message.content.parts);
    expect(stored.metadata.finish_details).toEqual({ type: 'stop' });

    // The follower got a prefix of the stream and ended without [DONE] (it did not get everything), right after the kill.
    const followedFrames = sseFrames(followed.body);
    expect(followedFrames.length).toBeGreaterThan(3);
    expect(frames.slice(0, followedFrames.length)).toEqual(followedFrames);
    expect(followedFrames.at(-1)).not.toBe(DONE);
    expect(followerEndedAfterKill).toBeLessThan(1000);
    expect(Date.now() - followerStarted).toBeLessThan(10_000);

    const started = Date.now();
    const resumed = await resumeRaw({ conversation_id: reply.conversationId, offset: 0, token: reply.token }, userId);
    expect(resumed.statusCode).toBe(503);
    expect(resumed.json.detail.code).toBe('stream_unavailable');
    const stop = await replyControl('stop', reply.conversationId, userId);
    expect(stop.statusCode).toBe(503);
    // Nothing can be resumed: the status says so, from Postgres, and a stranger still gets 404.
    expect((await replyControl('stream_status', reply.conversationId, userId)).json).toEqual({ status: 'NOT_STREAMING' });
    expect((await replyControl('stream_status', reply.conversationId, newUserId())).statusCode).toBe(404);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('Redis paused (hung) mid-reply: the reply is not slowed and is stored whole; a follower gives up within its bound', async () => {
    const server = await startRedisServer();
    await useRedis(server);
    const userId = newUserId();
    const reply = await startReply(userId, 4);
    const follower = resumeRaw({ conversation_id: reply.conversationId, offset: 0, token: reply.token }, userId);
    await sleep(300);
    server.pause();
    try {
      const pausedAt = Date.now();
      const followed = await follower;
      // The blocking read's bound: its block time plus 2 s.
      expect(Date.now() - pausedAt).toBeLessThan(3500);
      expect(sseFrames(followed.body).at(-1)).not.toBe(DONE);
      const response = await reply.response;
      const doc = applyV1Deltas(parseSse(response.body));
      expect(doc.message.status).toBe('finished_successfully');
      const stored = (await getConversation(reply.conversationId, userId)).json.mapping[doc.message.id].message;
      expect(stored.content.parts).toEqual(doc.message.content.parts);
    } finally {
      server.resume();
    }
  });

  it('Redis down from the start: the v1 reply completes and is stored; resume is a 503, not a hang', async () => {
    const server = await startRedisServer();
    await useRedis(server);
    await server.kill();
    const userId = newUserId();
    const response = await postRaw(v1Body('no redis at all'), userId);
    expect(sseFrames(response.body).at(-1)).toBe(DONE);
    const doc = applyV1Deltas(parseSse(response.body));
    expect(doc.message.status).toBe('finished_successfully');
    const stored = (await getConversation(doc.conversation_id, userId)).json.mapping[doc.message.id].message;
    expect(stored.content.parts).toEqual(doc.message.content.parts);
    const started = Date.now();
    expect((await resumeRaw({ conversation_id: doc.conversation_id, offset: 0 }, userId)).statusCode).toBe(503);
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
