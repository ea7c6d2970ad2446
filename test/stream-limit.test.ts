/**
 * The per-user cap on live streams (docs/api.md#limits, `USER_MAX_LIVE_STREAMS`): POST replies
 * and resume followers count together; one more is a 429 `too_many_streams` with `Retry-After`,
 * before anything is written or counted as a turn; a slot is released however its stream ends;
 * a crashed container's slot expires; Redis down, the cap fails open. Real Redis and Postgres.
 */
import { randomUUID } from 'node:crypto';
import { closeDatabase, closeRedis, holdLiveStream, LOCAL_MODEL_MARKERS, metrics, redisKeys, resetCacheService, resetConfig } from '@chatbot/shared/testing';
import { newUserId, postRaw, resumeRaw } from './support/handlers';
import { rawRedis, UNREACHABLE_REDIS_URL } from './support/redis';
import { parseSse, sseFrames } from './support/sse';
import { AssertionDatabase } from './reliability/support/database';

const db = new AssertionDatabase();
const redis = rawRedis();
const saved = { ...process.env };

function useEnvironment(overrides: Record<string, string>): void {
  process.env = { ...saved, USER_TURN_LIMIT: '0', ...overrides };
  resetConfig();
  resetCacheService();
}

afterEach(async () => {
  useEnvironment({});
  await closeRedis();
});
afterAll(async () => {
  await closeDatabase();
  await db.close();
  redis.disconnect();
});

/** A v1 turn the local model answers slowly (200 ms a token, a few seconds in all). */
const slowTurn = () => ({
  action: 'next',
  messages: [{ id: randomUUID(), author: { role: 'user' }, content: { content_type: 'text', parts: [`${LOCAL_MODEL_MARKERS.slow} one two three four five six seven eight nine ten eleven twelve`] } }],
  parent_message_id: randomUUID(),
  supported_encodings: ['v1'],
});

/** A POST whose client goes away after `chunks` chunks of the stream (a status other than 200 ends it at once). */
function postAndLeave(body: unknown, userId: string, chunks: number) {
  const leave = new AbortController();
  let seen = 0;
  return postRaw(body, userId, { signal: leave.signal, onChunk: () => (seen += 1) >= chunks && leave.abort() });
}

/** Starts a slow reply and resolves once its token frame arrived: the stream is live. */
async function startSlowReply(userId: string) {
  let text = '';
  let live: () => void = () => undefined;
  const started = new Promise<void>((resolve) => (live = resolve));
  const response = postRaw(slowTurn(), userId, {
    onChunk: (chunk) => {
      text += chunk;
      if (text.includes('resume_conversation_token')) live();
    },
  });
  await Promise.race([started, response]);
  const token = parseSse(text).find((e) => e.json?.type === 'resume_conversation_token')!.json;
  return { conversationId: token.conversation_id as string, token: token.token as string, response };
}

describe('USER_MAX_LIVE_STREAMS', () => {
  it('counts replies and followers together: the next one is a 429 too_many_streams with Retry-After, writing nothing and taking no turn', async () => {
    useEnvironment({ USER_MAX_LIVE_STREAMS: '2', USER_TURN_LIMIT: '10' });
    const userId = newUserId();
    const reply = await startSlowReply(userId);
    const follower = resumeRaw({ conversation_id: reply.conversationId, offset: 0, token: reply.token }, userId);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const conversationsBefore = await db.conversationCount(userId);
    const turnsBefore = await redis.zcard(redisKeys.turnLog(userId));

    const refusedPost = await postRaw(slowTurn(), userId);
    const refusedFollower = await resumeRaw({ conversation_id: reply.conversationId, offset: 0, token: reply.token }, userId);
    const otherUser = await postAndLeave({ ...slowTurn(), supported_encodings: undefined }, newUserId(), 1);

    for (const refused of [refusedPost, refusedFollower]) {
      expect(refused.statusCode).toBe(429);
      expect(refused.json.detail).toMatchObject({ code: 'too_many_streams', limit: 2 });
      expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    }
    expect(otherUser.statusCode).toBe(200);
    expect(await db.conversationCount(userId)).toBe(conversationsBefore);
    expect(await redis.zcard(redisKeys.turnLog(userId))).toBe(turnsBefore);

    // Both end normally; their slots are released and the user may stream again.
    expect(sseFrames((await reply.response).body).at(-1)).toBe('data: [DONE]\n\n');
    expect(sseFrames((await follower).body).at(-1)).toBe('data: [DONE]\n\n');
    expect(await redis.zcard(redisKeys.liveStreams(userId))).toBe(0);
    expect((await postAndLeave({ ...slowTurn(), supported_encodings: undefined }, userId, 1)).statusCode).toBe(200);
  });

  it('releases the slot when a client goes away, when the model fails before its first token, and when the request is refused later', async () => {
    useEnvironment({ USER_MAX_LIVE_STREAMS: '1', USER_TURN_LIMIT: '1' });
    const userId = newUserId();

    // A legacy client that leaves mid-reply: the reply stops, the slot is freed.
    const left = await postAndLeave({ ...slowTurn(), supported_encodings: undefined }, userId, 2);
    expect(left.statusCode).toBe(200);
    await waitFor(async () => (await redis.zcard(redisKeys.liveStreams(userId))) === 0);

    // Over the turn limit (refused after the slot was taken): 429 rate_limit_exceeded, and the slot is given back.
    const failing = await postRaw({ ...slowTurn(), messages: [{ id: randomUUID(), author: { role: 'user' }, content: { content_type: 'text', parts: ['again'] } }] }, userId);
    expect(failing.statusCode).toBe(429);
    expect(failing.json.detail.code).toBe('rate_limit_exceeded');
    expect(await redis.zcard(redisKeys.liveStreams(userId))).toBe(0);

    // A model failing before its first token (502): the slot is given back too.
    useEnvironment({ USER_MAX_LIVE_STREAMS: '1', USER_TURN_LIMIT: '0' });
    const broken = await postRaw({ ...slowTurn(), messages: [{ id: randomUUID(), author: { role: 'user' }, content: { content_type: 'text', parts: [LOCAL_MODEL_MARKERS.failBeforeFirstToken] } }] }, userId);
    expect(broken.statusCode).toBe(502);
    expect(await redis.zcard(redisKeys.liveStreams(userId))).toBe(0);
  });

  it('a crashed container\'s slot expires: an expired slot does not count', async () => {
    useEnvironment({ USER_MAX_LIVE_STREAMS: '1' });
    const userId = newUserId();
    // A slot its container never released, whose lease ran out a moment ago.
    await redis.zadd(redisKeys.liveStreams(userId), Date.now() - 1, 'crashed-container-slot');
    expect((await postAndLeave({ ...slowTurn(), supported_encodings: undefined }, userId, 1)).statusCode).toBe(200);
    // One that is still leased does count.
    await redis.zadd(redisKeys.liveStreams(userId), Date.now() + 60_000, 'live-elsewhere');
    expect((await postRaw(slowTurn(), userId)).statusCode).toBe(429);
  });

  it('fails open when Redis is down: the stream is served and the bypass counted', async () => {
    useEnvironment({ USER_MAX_LIVE_STREAMS: '1', REDIS_URL: UNREACHABLE_REDIS_URL, REDIS_CONNECT_TIMEOUT_MS: '300' });
    // A reply a previous test left streaming may have built a client on the real Redis meanwhile.
    await closeRedis();
    const response = await postRaw({ ...slowTurn(), messages: [{ id: randomUUID(), author: { role: 'user' }, content: { content_type: 'text', parts: ['hi'] } }] }, newUserId());
    expect(response.statusCode).toBe(200);
    // The handler flushes (and clears) its metrics as it ends, possibly while the rule below runs:
    // watch what the rule adds rather than what is left in the store.
    const added = jest.spyOn(metrics, 'addMetric');
    try {
      const slot = await holdLiveStream(newUserId());
      expect(added.mock.calls.filter(([name]) => name === 'LiveStreamLimitBypassed')).toHaveLength(1);
      await slot.release();
    } finally {
      added.mockRestore();
      metrics.clearMetrics();
    }
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
