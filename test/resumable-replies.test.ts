/**
 * Resumable replies (docs/api.md#resumable-replies) through the real handlers, against the real Redis and Postgres:
 * a client that drops mid-reply picks it up with `resume`, and what it ends up with equals
 * the uninterrupted stream and the stored message; followers, stop, stream_status, the
 * function deadline, bad input and strangers.
 */
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { closeDatabase, closeRedis, LOCAL_MODEL_MARKERS, resetConfig, setChatModel } from '@chatbot/shared/testing';
import { buildRestApiEvent, createLambdaContext, LambdaResponseStream } from '../local/lambda-runtime';
import { getConversation, listConversations, newUserId, patchConversation, postRaw, replyControl, resumeRaw, sendMessage, type PostResult } from './support/handlers';
import { rawRedis, runPrefix } from './support/redis';
import { applyV1Deltas, parseSse, sseFrames } from './support/sse';

const redis = rawRedis();
const DONE = 'data: [DONE]\n\n';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const message = (text: string) => ({ id: randomUUID(), author: { role: 'user' }, content: { content_type: 'text', parts: [text] } });
const v1Body = (text: string, turn?: { conversationId: string; parentMessageId: string }) => ({
  action: 'next',
  messages: [message(text)],
  conversation_id: turn?.conversationId ?? null,
  parent_message_id: turn?.parentMessageId ?? randomUUID(),
  supported_encodings: ['v1'],
});

/** Posts, and goes away once `cut` returns how many of the frames so far the client keeps. */
async function postUntil(
  userId: string,
  body: unknown,
  cut: (frames: string[]) => number | undefined,
  options: { timeoutMs?: number } = {},
): Promise<{ kept: string[]; response: Promise<PostResult> }> {
  const controller = new AbortController();
  let text = '';
  let resolveKept: (frames: string[]) => void = () => undefined;
  const kept = new Promise<string[]>((resolve) => (resolveKept = resolve));
  let done = false;
  const response = postRaw(body, userId, {
    ...options,
    signal: controller.signal,
    onChunk: (chunk) => {
      if (done) return;
      text += chunk;
      const frames = sseFrames(text);
      const n = cut(frames);
      if (n === undefined) return;
      done = true;
      resolveKept(frames.slice(0, n));
      controller.abort();
    },
  });
  response.then(() => resolveKept(sseFrames(text)), () => resolveKept(sseFrames(text)));
  return { kept: await kept, response };
}

const tokenOf = (frames: readonly string[]): string | undefined =>
  parseSse(frames.join('')).find((e) => e.json?.type === 'resume_conversation_token')?.json.token;
const conversationOf = (frames: readonly string[]): string | undefined =>
  parseSse(frames.join('')).find((e) => e.json?.type === 'resume_conversation_token')?.json.conversation_id;

/** Waits until `check` holds (polling), or fails after `ms`. */
async function eventually(check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(25);
  }
}

beforeAll(() => {
  // A reply takes a few hundred ms: long enough to drop mid-way; followers check on a quiet producer every 200 ms.
  Object.assign(process.env, { LOCAL_MODEL_TOKEN_DELAY_MS: '10', SSE_HEARTBEAT_INTERVAL_MS: '200' });
  resetConfig();
  setChatModel(undefined);
});
afterAll(async () => {
  delete process.env.LOCAL_MODEL_TOKEN_DELAY_MS;
  delete process.env.SSE_HEARTBEAT_INTERVAL_MS;
  resetConfig();
  setChatModel(undefined);
  await closeRedis();
  await closeDatabase();
  redis.disconnect();
});

describe('resume after a dropped connection', () => {
  it('the recording equals the stream an uninterrupted client got, byte for byte, and replays from 0 within the TTL', async () => {
    const userId = newUserId();
    const { conversationId, response } = await sendMessage(userId, 'record me', { v1: true });
    const sent = sseFrames(response.body);
    expect(sent.at(-1)).toBe(DONE);

    const replay = await resumeRaw({ conversation_id: conversationId, offset: 0, token: tokenOf(sent) }, userId);
    expect(replay.statusCode).toBe(200);
    expect(replay.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(sseFrames(replay.body)).toEqual(sent);
    // Without the token: the conversation's latest reply, the same one.
    expect(sseFrames((await resumeRaw({ conversation_id: conversationId, offset: 0 }, userId)).body)).toEqual(sent);

    const keys = await redis.keys(`${runPrefix()}stream:{${conversationId}}:*`);
    expect(keys.sort()).toEqual([`${runPrefix()}stream:{${conversationId}}:${tokenOf(sent)}`, `${runPrefix()}stream:{${conversationId}}:current`].sort());
    for (const key of keys) {
      const ttl = await redis.ttl(key);
      expect(ttl).toBeGreaterThan(250);
      expect(ttl).toBeLessThanOrEqual(300);
    }
  });

  // N frames kept, then resume from N: 0 and 1 (before the token: the client resumes by conversation), 2 (just after it), mid-reply, after the last token.
  const cuts: [string, (frames: string[]) => number | undefined][] = [
    ['0', () => 0],
    ['1', (frames) => (frames.length >= 1 ? 1 : undefined)],
    ['2', (frames) => (frames.length >= 2 ? 2 : undefined)],
    ['mid-reply (6)', (frames) => (frames.length >= 6 ? 6 : undefined)],
    ['after the last token', (frames) => {
      const patch = frames.findIndex((frame) => frame.includes('"o":"patch"'));
      return patch === -1 ? undefined : patch;
    }],
  ];
  it.each(cuts)('dropped after %s frames: kept + resumed frames = the whole stream, and the stored message equals it', async (_name, cut) => {
    const userId = newUserId();
    const first = await sendMessage(userId, 'an earlier turn', { v1: true });
    const { kept, response } = await postUntil(
      userId,
      v1Body('please resume me, this is a longer question with several words in it', { conversationId: first.conversationId, parentMessageId: first.assistantMessageId }),
      cut,
    );
    await response;
    const token = tokenOf(kept);
    const resumed = await resumeRaw({ conversation_id: first.conversationId, offset: kept.length, ...(token ? { token } : {}) }, userId);
    expect(resumed.statusCode).toBe(200);
    const combined = [...kept, ...sseFrames(resumed.body)];
    const whole = sseFrames((await resumeRaw({ conversation_id: first.conversationId, offset: 0 }, userId)).body);
    expect(combined).toEqual(whole);
    expect(combined.at(-1)).toBe(DONE);
    expect(combined.filter((frame) => frame === DONE)).toHaveLength(1);

    // A v1 client's reply outlives its connection: stored whole, and equal to what the frames build.
    const doc = applyV1Deltas(parseSse(combined.join('')));
    const stored = (await getConversation(first.conversationId, userId)).json.mapping[doc.message.id].message;
    expect(stored.status).toBe('finished_successfully');
    expect(stored.metadata.finish_details).toEqual({ type: 'stop' });
    expect(doc.message.content).toEqual(stored.content);
    expect(doc.message.status).toBe(stored.status);
    expect(doc.message.end_turn).toBe(stored.end_turn);
    expect(doc.message.create_time).toBe(stored.create_time);
    expect(conversationOf(combined)).toBe(first.conversationId);
  });

  it('two followers at once, from different offsets, both get the rest of the live reply and [DONE]', async () => {
    const userId = newUserId();
    const { kept, response } = await postUntil(userId, v1Body('follow me with friends'), (frames) => (frames.length >= 4 ? 4 : undefined));
    const conversationId = conversationOf(kept)!;
    const token = tokenOf(kept)!;
    const [a, b] = await Promise.all([
      resumeRaw({ conversation_id: conversationId, offset: 0, token }, userId),
      resumeRaw({ conversation_id: conversationId, offset: 3, token }, userId),
    ]);
    await response;
    const framesA = sseFrames(a.body);
    expect(framesA.slice(0, 4)).toEqual(kept);
    expect(sseFrames(b.body)).toEqual(framesA.slice(3));
    expect(framesA.at(-1)).toBe(DONE);
    expect(applyV1Deltas(parseSse(a.body)).message.status).toBe('finished_successfully');
  });

  it('a legacy reply is seen by stream_status and can be stopped, but its frames are not recorded: resume is a 404', async () => {
    const userId = newUserId();
    const first = await sendMessage(userId, 'legacy first');
    const pending = sendMessage(userId, 'legacy second', { conversationId: first.conversationId, parentMessageId: first.assistantMessageId });
    await eventually(async () => (await replyControl('stream_status', first.conversationId, userId)).json.status === 'IS_STREAMING');
    const status = (await replyControl('stream_status', first.conversationId, userId)).json;
    const { response, assistantMessageId } = await pending;
    expect(status).toEqual({ status: 'IS_STREAMING', message_id: assistantMessageId });
    expect((await replyControl('stream_status', first.conversationId, userId)).json).toEqual({ status: 'NOT_STREAMING' });
    expect(sseFrames(response.body).at(-1)).toBe(DONE);
    const replay = await resumeRaw({ conversation_id: first.conversationId, offset: 0 }, userId);
    expect(replay.statusCode).toBe(404);
    expect(replay.json.detail.code).toBe('stream_not_found');
    expect(await redis.keys(`${runPrefix()}stream:{${first.conversationId}}:*`)).toEqual([`${runPrefix()}stream:{${first.conversationId}}:current`]);
  });
});

describe('the invocation outlives the client', () => {
  it('a v1 invocation whose client went away ends only once the whole reply is stored', async () => {
    // The handler as the Lambda runtime calls it (support/handlers installed the runtime globals).
    const { handler } = require('../lambdas/post-conversation') as { handler: (event: unknown, stream: unknown, context: unknown) => Promise<void> };
    const userId = newUserId();
    let text = '';
    let gone = false;
    const stream = new LambdaResponseStream((chunk, _contentType, done) => {
      text += chunk.toString('utf8');
      done();
    });
    const event = buildRestApiEvent({
      method: 'POST',
      resource: '/backend-api/f/conversation',
      path: '/backend-api/f/conversation',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(v1Body('outlive the connection, please, with a few more words')),
      userId,
    });
    const invocation = handler(event, stream, createLambdaContext());
    while (!text.includes('"o":"add"')) await sleep(5);
    // The Runtime API connection drops, as when the client goes away.
    stream.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
    gone = true;
    await invocation.catch(() => undefined);
    expect(gone).toBe(true);
    const conversationId = /"conversation_id": ?"([0-9a-f-]{36})"/.exec(text)![1];
    const detail = (await getConversation(conversationId, userId)).json;
    const stored = detail.mapping[detail.current_node].message;
    expect(stored.author.role).toBe('assistant');
    expect(stored.status).toBe('finished_successfully');
    expect(text).not.toContain('"o":"patch"');
  });
});

describe('stop, stream_status and the deadline', () => {
  it('stop from a second connection ends the reply, stores the partial as interrupted, and ends every stream with [DONE]', async () => {
    const userId = newUserId();
    const { kept, response } = await postUntil(userId, v1Body(`${LOCAL_MODEL_MARKERS.slow} a b c d e f g h i j k l m n o p q r s t`), (frames) => (frames.length >= 5 ? 5 : undefined));
    const conversationId = conversationOf(kept)!;
    const follower = resumeRaw({ conversation_id: conversationId, offset: 0, token: tokenOf(kept) }, userId);
    await sleep(300);
    const messageId = applyV1Deltas(parseSse(kept.join(''))).message.id;
    expect((await replyControl('stream_status', conversationId, userId)).json).toEqual({ status: 'IS_STREAMING', message_id: messageId });

    const started = Date.now();
    const stop = await replyControl('stop', conversationId, userId);
    expect(stop.statusCode).toBe(200);
    expect(stop.json).toEqual({ success: true, message_id: messageId });
    expect(Date.now() - started).toBeLessThan(2000);
    // Stop answers once the reply has ended and is stored.
    expect((await replyControl('stream_status', conversationId, userId)).json).toEqual({ status: 'NOT_STREAMING' });
    const stored = (await getConversation(conversationId, userId)).json.mapping[messageId].message;
    expect(stored.status).toBe('finished_partial_completion');
    expect(stored.metadata.finish_details).toEqual({ type: 'interrupted', reason: 'stopped' });
    expect(stored.content.parts[0].length).toBeGreaterThan(0);

    const frames = sseFrames((await follower).body);
    expect(frames.at(-1)).toBe(DONE);
    const doc = applyV1Deltas(parseSse(frames.join('')));
    expect(doc.message.content.parts).toEqual(stored.content.parts);
    expect(doc.message.status).toBe('finished_partial_completion');
    await response;
    // Idempotent: nothing is running any more.
    expect((await replyControl('stop', conversationId, userId)).json).toEqual({ success: true, message_id: null });
  });

  it('a reply near the function deadline stops in time, is stored as interrupted, and its streams end with [DONE]', async () => {
    const userId = newUserId();
    const started = Date.now();
    const response = await postRaw(v1Body(`${LOCAL_MODEL_MARKERS.slow} a b c d e f g h i j k l m n o p q r s t u v w x y z`), userId, { timeoutMs: 1500 });
    expect(Date.now() - started).toBeLessThan(1500);
    const frames = sseFrames(response.body);
    expect(frames.at(-1)).toBe(DONE);
    const doc = applyV1Deltas(parseSse(response.body));
    expect(doc.message.status).toBe('finished_partial_completion');
    const stored = (await getConversation(doc.conversation_id, userId)).json.mapping[doc.message.id].message;
    expect(stored.metadata.finish_details).toEqual({ type: 'interrupted', reason: 'deadline' });
    expect(stored.content.parts).toEqual(doc.message.content.parts);
  });

  it('stream_status is NOT_STREAMING for an idle conversation of the caller, even with nothing in Redis', async () => {
    const userId = newUserId();
    const { conversationId } = await sendMessage(userId, 'idle');
    for (const key of await redis.keys(`${runPrefix()}stream:{${conversationId}}:*`)) await redis.del(key);
    expect((await replyControl('stream_status', conversationId, userId)).json).toEqual({ status: 'NOT_STREAMING' });
    expect((await replyControl('stop', conversationId, userId)).json).toEqual({ success: true, message_id: null });
    // Expired: no stream to resume.
    const resumed = await resumeRaw({ conversation_id: conversationId, offset: 0 }, userId);
    expect(resumed.statusCode).toBe(404);
    expect(resumed.json.detail.code).toBe('stream_not_found');
  });
});

/** One stream entry: its id, field and value (`d` a frame, `end` the end marker). */
type RecordEntry = readonly [id: string, field: 'd' | 'end', value: string];

/** Writes a finished reply's record by hand, as a producer (or a failover) left it: its status hash and its frames. */
async function writeRecord(conversationId: string, userId: string, token: string, entries: readonly RecordEntry[]): Promise<void> {
  const current = `${runPrefix()}stream:{${conversationId}}:current`;
  const frames = `${runPrefix()}stream:{${conversationId}}:${token}`;
  await redis.del(current);
  await redis.hset(current, 'token', token, 'user', userId, 'message_id', 'm', 'status', 'done', 'stop', '0', 'frames', '1');
  for (const [id, field, value] of entries) await redis.xadd(frames, id, field, value);
  await redis.expire(current, 60);
  await redis.expire(frames, 60);
}

describe('a recording cut short', () => {
  it('a reply whose producer stopped recording without an end marker is replayed without [DONE], so the client knows it is incomplete', async () => {
    // Prepare: a finished conversation, then its record as a producer that died after two frames leaves it.
    const userId = newUserId();
    const { conversationId } = await sendMessage(userId, 'cut short', { v1: true });
    const token = 'A'.repeat(22);
    await writeRecord(conversationId, userId, token, [
      ['0-1', 'd', 'data: "v1"\n\n'],
      ['0-2', 'd', 'data: {"p": "x"}\n\n'],
    ]);

    // Act
    const resumed = await resumeRaw({ conversation_id: conversationId, offset: 0, token }, userId);

    // Assess
    expect(resumed.statusCode).toBe(200);
    expect(sseFrames(resumed.body)).toEqual(['data: "v1"\n\n', 'data: {"p": "x"}\n\n']);
  });

  it('a recording with a missing frame (lost with a failed primary) is followed up to the hole and ends there without [DONE], never with the frames after it as the next ones', async () => {
    // Prepare: frames 0–4 and the end marker, but frame 2 (id 0-3) never reached the replica that took over.
    const userId = newUserId();
    const { conversationId } = await sendMessage(userId, 'hole in the record', { v1: true });
    const token = 'B'.repeat(22);
    const frame = (n: number) => `data: {"v": "word${n} "}\n\n`;
    await writeRecord(conversationId, userId, token, [...[0, 1, 3, 4].map((n): RecordEntry => [`0-${n + 1}`, 'd', frame(n)]), ['0-6', 'end', 'done']]);

    // Act
    const fromStart = await resumeRaw({ conversation_id: conversationId, offset: 0, token }, userId);
    const fromHole = await resumeRaw({ conversation_id: conversationId, offset: 2, token }, userId);
    const pastHole = await resumeRaw({ conversation_id: conversationId, offset: 3, token }, userId);

    // Assess
    expect(fromStart.statusCode).toBe(200);
    expect(sseFrames(fromStart.body)).toEqual([frame(0), frame(1)]);
    expect(fromHole.statusCode).toBe(200);
    expect(sseFrames(fromHole.body)).toEqual([]);
    // After the hole the frames are the reply's own again, through the end.
    expect(sseFrames(pastHole.body)).toEqual([frame(3), frame(4), DONE]);
  });
});

describe('a conversation deleted while its reply runs', () => {
  it('answers 404 on stream_status, resume and stop at once, stops the reply, and stores nothing into it', async () => {
    // Prepare
    const userId = newUserId();
    const { kept, response } = await postUntil(userId, v1Body(`${LOCAL_MODEL_MARKERS.slow} a b c d e f g h i j k l m n o p q r s t`), (frames) => (frames.length >= 4 ? 4 : undefined));
    const conversationId = conversationOf(kept)!;
    const token = tokenOf(kept)!;
    expect((await replyControl('stream_status', conversationId, userId)).json.status).toBe('IS_STREAMING');

    // Act
    const started = Date.now();
    expect((await patchConversation(conversationId, { is_visible: false }, userId)).statusCode).toBe(200);

    // Assess
    const status = await replyControl('stream_status', conversationId, userId);
    const resume = await resumeRaw({ conversation_id: conversationId, offset: 0, token }, userId);
    const stop = await replyControl('stop', conversationId, userId);
    for (const answer of [status, resume, stop]) expect(answer.statusCode).toBe(404);
    // The producer sees the stop flag and ends long before the slow reply would have.
    await response;
    expect(Date.now() - started).toBeLessThan(3000);
    const db = new Client({ connectionString: process.env.DATABASE_URL });
    await db.connect();
    const { rows } = await db.query('SELECT count(*)::int AS n FROM messages WHERE conversation_id = $1 AND role = $2', [conversationId, 'assistant']);
    await db.end();
    expect(rows[0].n).toBe(0);
    expect((await getConversation(conversationId, userId)).statusCode).toBe(404);
  });

  it('a rename made while the first reply streams is kept, not replaced by the generated title', async () => {
    // Prepare
    const userId = newUserId();
    const { kept, response } = await postUntil(userId, v1Body(`${LOCAL_MODEL_MARKERS.slow} name me`), (frames) => (frames.length >= 3 ? 3 : undefined));
    const conversationId = conversationOf(kept)!;

    // Act
    expect((await patchConversation(conversationId, { title: 'Chosen by the user' }, userId)).statusCode).toBe(200);
    // Stopped to keep the test short: the reply is stored (with the generated title offered) either way.
    expect((await replyControl('stop', conversationId, userId)).json.success).toBe(true);
    await response;

    // Assess
    expect((await getConversation(conversationId, userId)).json.title).toBe('Chosen by the user');
    expect((await listConversations(userId)).json.items[0].title).toBe('Chosen by the user');
  });
});

describe('strangers and bad input', () => {
  it('a stranger gets 404 on stream_status, resume and stop, during and after the reply, and cannot stop it', async () => {
    const owner = newUserId();
    const stranger = newUserId();
    const { kept, response } = await postUntil(owner, v1Body(`${LOCAL_MODEL_MARKERS.slow} private reply`), (frames) => (frames.length >= 3 ? 3 : undefined));
    const conversationId = conversationOf(kept)!;
    const token = tokenOf(kept)!;
    for (let round = 0; round < 2; round += 1) {
      const status = await replyControl('stream_status', conversationId, stranger);
      const stop = await replyControl('stop', conversationId, stranger);
      const resume = await resumeRaw({ conversation_id: conversationId, offset: 0, token }, stranger);
      for (const answer of [status, stop, resume]) {
        expect(answer.statusCode).toBe(404);
        expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
        expect(answer.json.detail).toBeDefined();
      }
      if (round === 0) {
        // The stranger's stop changed nothing: the reply still runs, until its owner stops it.
        expect((await replyControl('stream_status', conversationId, owner)).json.status).toBe('IS_STREAMING');
        expect((await replyControl('stop', conversationId, owner)).json.success).toBe(true);
        await response;
      }
    }
    // An unknown conversation looks the same.
    expect((await replyControl('stream_status', randomUUID(), owner)).statusCode).toBe(404);
    expect((await replyControl('stop', randomUUID(), owner)).statusCode).toBe(404);
    expect((await resumeRaw({ conversation_id: randomUUID(), offset: 0 }, owner)).statusCode).toBe(404);
  });

  it('answers 422 for a bad offset or id, 404 for a token it never issued, and just [DONE] past the end of a finished reply', async () => {
    const userId = newUserId();
    const { conversationId, response } = await sendMessage(userId, 'bad input', { v1: true });
    const sent = sseFrames(response.body);
    const token = tokenOf(sent);
    for (const offset of [-1, 1.5, '3', true, 1e12]) {
      const answer = await resumeRaw({ conversation_id: conversationId, offset, token }, userId);
      expect(answer.statusCode).toBe(422);
      expect(answer.json.detail[0].loc).toEqual(['body', 'offset']);
    }
    expect((await resumeRaw({ conversation_id: 'nope', offset: 0 }, userId)).statusCode).toBe(422);
    expect((await resumeRaw('{"conversation_id":', userId)).statusCode).toBe(422);
    expect((await resumeRaw({ conversation_id: conversationId, offset: 0, token: 42 }, userId)).statusCode).toBe(422);
    expect((await replyControl('stream_status', 'not-a-uuid', userId)).statusCode).toBe(422);
    expect((await resumeRaw({ conversation_id: conversationId, offset: 0, token: 'A'.repeat(22) }, userId)).statusCode).toBe(404);
    expect((await resumeRaw({ conversation_id: conversationId, offset: 0, token: 'eyJhbGciOi.not.ours' }, userId)).statusCode).toBe(404);

    const started = Date.now();
    for (const offset of [sent.length - 1, sent.length, sent.length + 50]) {
      const past = await resumeRaw({ conversation_id: conversationId, offset, token }, userId);
      expect(past.statusCode).toBe(200);
      expect(past.body).toBe(DONE);
    }
    // Promptly: a finished reply is not followed.
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
