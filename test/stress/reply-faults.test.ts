/**
 * A reply's record in Redis tells the truth when its producer cannot (docs/api.md#resumable-replies):
 * a producer whose writes fail still marks its reply done; one that goes silent (a container
 * killed, cut off from Redis) stops counting as running within seconds of its last heartbeat;
 * followers end within seconds instead of waiting out the record's TTL; `stop` does not claim
 * to stop what is not running; and a follower asking for frames past the end of a running reply
 * waits for them and ends with `[DONE]` with the reply. Private redis-servers (CLIENT PAUSE).
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { parseSse, sseFrames } from '../support/sse';
import { closeAllLayerInstances, loadLayerInstance, type LayerInstance } from '../reliability/support/layer-instance';
import { freePort, startRedisServer, stopAllRedisServers, type RedisServer } from '../reliability/support/redis-server';
import { TcpProxy } from '../reliability/support/tcp-proxy';

const DONE = 'data: [DONE]\n\n';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const v1Body = (text: string) => ({
  action: 'next',
  messages: [{ id: randomUUID(), author: { role: 'user' }, content: { content_type: 'text', parts: [text] } }],
  parent_message_id: randomUUID(),
  supported_encodings: ['v1'],
});
/** Forty words at 60 ms a token: a reply of about 2.5 s. */
const LONG = Array.from({ length: 40 }, (_, i) => `word${i}`).join(' ');
const env = (redisUrl: string) => ({
  REDIS_URL: redisUrl,
  REDIS_COMMAND_TIMEOUT_MS: '200',
  REDIS_CONNECT_TIMEOUT_MS: '300',
  LOCAL_MODEL_TOKEN_DELAY_MS: '60',
  SSE_HEARTBEAT_INTERVAL_MS: '500',
  USER_TURN_LIMIT: '0',
});

let server: RedisServer;
let raw: Redis;
const proxies: TcpProxy[] = [];

beforeAll(async () => {
  server = await startRedisServer();
  raw = new Redis(server.url);
});
afterAll(async () => {
  raw.disconnect();
  await closeAllLayerInstances();
  await Promise.all(proxies.map((proxy) => proxy.close()));
  await stopAllRedisServers();
});

/** Starts a v1 reply on `layer`; resolves once `frames` frames arrived, with the reply's ids and the pending response. */
async function startReply(layer: LayerInstance, userId: string, frames: number) {
  let text = '';
  let started: () => void = () => undefined;
  const arrived = new Promise<void>((resolve) => (started = resolve));
  const response = layer.api.postRaw(v1Body(LONG), userId, {
    onChunk: (chunk) => {
      text += chunk;
      if (sseFrames(text).length >= frames) started();
    },
  });
  await Promise.race([arrived, response]);
  const token = parseSse(text).find((e) => e.json?.type === 'resume_conversation_token')?.json;
  return { conversationId: token?.conversation_id as string, token: token?.token as string, response, framesSoFar: () => sseFrames(text).length };
}

it('writes refused mid-reply (CLIENT PAUSE WRITE): the reply is stored, the record says done, the follower ends at once, stop stops nothing', async () => {
  const layer = loadLayerInstance(env(server.url));
  const userId = `paused-${randomUUID()}`;
  const reply = await startReply(layer, userId, 4);
  const follower = layer.api.resumeRaw({ conversation_id: reply.conversationId, offset: 0, token: reply.token }, userId);
  await sleep(300);

  await raw.call('CLIENT', 'PAUSE', '1200', 'WRITE');
  const response = await reply.response;
  const postEnded = Date.now();
  const followed = await follower;

  // The reply was not hurt: stored whole.
  expect(sseFrames(response.body).at(-1)).toBe(DONE);
  // The follower lacks the frames the producer could not record: it ends without [DONE], soon after the reply.
  expect(sseFrames(followed.body).at(-1)).not.toBe(DONE);
  expect(Date.now() - postEnded).toBeLessThan(8000);
  // Once Redis takes writes again, nothing claims the reply still runs.
  await sleep(1300);
  expect((await layer.api.replyControl('stream_status', reply.conversationId, userId)).json).toEqual({ status: 'NOT_STREAMING' });
  expect((await layer.api.replyControl('stop', reply.conversationId, userId)).json).toEqual({ success: true, message_id: null });
}, 30_000);

it('a producer cut off from Redis (a killed container, as Redis sees it): another container\'s follower ends within seconds, and the status stops saying IS_STREAMING', async () => {
  const proxy = new TcpProxy(await freePort(), { host: '127.0.0.1', port: server.port });
  proxies.push(proxy);
  await proxy.listen();
  const producer = loadLayerInstance(env(`redis://127.0.0.1:${proxy.port}`));
  const reader = loadLayerInstance(env(server.url));
  const userId = `silent-${randomUUID()}`;
  const reply = await startReply(producer, userId, 4);
  const follower = reader.api.resumeRaw({ conversation_id: reply.conversationId, offset: 0, token: reply.token }, userId);
  await sleep(300);
  expect((await reader.api.replyControl('stream_status', reply.conversationId, userId)).json.status).toBe('IS_STREAMING');

  await proxy.setMode('blackhole');
  const silentAt = Date.now();
  const followed = await follower;
  const followerEnded = Date.now() - silentAt;
  const status = await reader.api.replyControl('stream_status', reply.conversationId, userId);
  await reply.response;

  expect(sseFrames(followed.body).at(-1)).not.toBe(DONE);
  expect(followerEnded).toBeLessThan(9000);
  expect(status.json).toEqual({ status: 'NOT_STREAMING' });
}, 30_000);

it('resume from past the end of a running reply waits for the reply to end and ends with [DONE]', async () => {
  const layer = loadLayerInstance(env(server.url));
  const userId = `past-end-${randomUUID()}`;
  const reply = await startReply(layer, userId, 4);
  // A frame not sent yet: the next but one.
  const offset = reply.framesSoFar() + 1;

  const [beyond, farBeyond] = await Promise.all([
    layer.api.resumeRaw({ conversation_id: reply.conversationId, offset, token: reply.token }, userId),
    layer.api.resumeRaw({ conversation_id: reply.conversationId, offset: 1_000_000_000, token: reply.token }, userId),
  ]);
  const response = await reply.response;

  // The frames from the offset on, then [DONE]: the first `offset` frames and these are the whole stream.
  const all = sseFrames(response.body);
  expect(sseFrames(beyond.body)).toEqual(all.slice(offset));
  expect(sseFrames(farBeyond.body)).toEqual([DONE]);
}, 30_000);
