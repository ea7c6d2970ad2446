/**
 * The reply as a frame pipeline the layer owns: `startConversationReply` encodes each event in
 * the client's format and records it for followers as it passes; the HTTP edge only sends the
 * text. Real Postgres and Redis; the model is a scripted one (the boundary).
 */
import { randomUUID } from 'node:crypto';
import {
  closeDatabase,
  closeRedis,
  redisKeys,
  resetConfig,
  setChatModel,
  SSE_DONE,
  SSE_HEARTBEAT,
  startConversationReply,
  type ChatModel,
  type ModelStreamEvent,
} from '@chatbot/shared/testing';
import { rawRedis } from '../support/redis';
import { applyV1Deltas, parseSse } from '../support/sse';

const redis = rawRedis();

/** A model that says `words`, pausing `pauseMs` before the first one (heartbeats happen meanwhile). */
function scriptedModel(words: readonly string[], pauseMs = 0): ChatModel {
  return {
    slug: 'scripted',
    async *stream({ signal }): AsyncGenerator<ModelStreamEvent> {
      if (pauseMs) await new Promise((resolve) => setTimeout(resolve, pauseMs));
      for (const word of words) {
        if (signal?.aborted) return;
        yield { type: 'text', text: word };
        await new Promise((resolve) => setImmediate(resolve));
      }
      yield { type: 'finish', reason: 'stop' };
    },
  };
}

const newTurn = (text: string) => ({
  userId: `pipeline-${randomUUID()}`,
  action: 'next' as const,
  parentMessageId: 'client-created-root',
  message: { id: randomUUID(), contentType: 'text', parts: [text], text },
});

async function collect(frames: AsyncIterable<string>): Promise<string[]> {
  const sent: string[] = [];
  for await (const text of frames) sent.push(text);
  return sent;
}

const env = { ...process.env };
afterEach(() => {
  process.env = { ...env };
  resetConfig();
  setChatModel(undefined);
});
afterAll(async () => {
  await closeRedis();
  await closeDatabase();
  redis.disconnect();
});

describe('startConversationReply: the frame pipeline', () => {
  it('v1: sends delta frames ending in [DONE], and records exactly the frames it sent (heartbeats are not frames)', async () => {
    // Prepare: a heartbeat every 100 ms while the model is silent for 250 ms.
    process.env.SSE_HEARTBEAT_INTERVAL_MS = '100';
    process.env.LLM_FIRST_TOKEN_WAIT_MS = '0';
    resetConfig();
    setChatModel(scriptedModel(['Hello', ' there', ', friend'], 250));

    // Act
    const reply = await startConversationReply({ ...newTurn('hi'), encoding: 'v1' });
    const sent = await collect(reply.frames);

    // Assess: what the client saw
    expect(sent.at(-1)).toBe(SSE_DONE);
    expect(sent).toContain(SSE_HEARTBEAT);
    const frames = sent.filter((text) => text !== SSE_HEARTBEAT && text !== SSE_DONE);
    expect(frames[0]).toBe('event: delta_encoding\ndata: "v1"\n\n');
    const events = parseSse(frames.join(''));
    expect(events[1].json).toMatchObject({ type: 'resume_conversation_token', conversation_id: reply.conversationId });
    expect(applyV1Deltas(events).message.content.parts[0]).toBe('Hello there, friend');
    // What followers get: the same frames, in order, then the end marker.
    const token = events[1].json.token as string;
    const recorded = (await redis.xrange(redisKeys.replyFrames(reply.conversationId, token), '-', '+')) as [string, string[]][];
    expect(recorded.slice(0, -1).map(([, fields]) => fields[1])).toEqual(frames);
    expect(recorded.at(-1)![1]).toEqual(['end', 'done']);
    expect(recorded.map(([id]) => id)).toEqual(recorded.map((_, i) => `0-${i + 1}`));
  });

  it('legacy: sends snapshots and the user message, records only that the reply runs, never its frames', async () => {
    setChatModel(scriptedModel(['One', ' two']));
    const turn = newTurn('count');
    const reply = await startConversationReply({ ...turn, encoding: 'legacy' });
    const sent = await collect(reply.frames);
    const events = parseSse(sent.join(''));
    expect(events[0].json.message).toMatchObject({ id: turn.message.id, author: { role: 'user' } });
    expect(events.filter((e) => e.json?.message?.author?.role === 'assistant').at(-1)!.json.message.content.parts).toEqual(['One two']);
    expect(sent.at(-1)).toBe(SSE_DONE);
    const current = await redis.hgetall(redisKeys.replyCurrent(reply.conversationId));
    expect(current).toMatchObject({ status: 'done', frames: '0' });
    expect(await redis.exists(redisKeys.replyFrames(reply.conversationId, current.token))).toBe(0);
  });

  it('a legacy client that goes away stops the reply; a v1 reply runs on to its end', async () => {
    const words = Array.from({ length: 400 }, (_, i) => ` w${i}`);
    for (const encoding of ['legacy', 'v1'] as const) {
      setChatModel(scriptedModel(words));
      const reply = await startConversationReply({ ...newTurn(`go away (${encoding})`), encoding });
      const iterator = reply.frames[Symbol.asyncIterator]();
      await iterator.next();
      reply.clientGone();
      let rest = 0;
      while (!(await iterator.next()).done) rest += 1;
      if (encoding === 'legacy') expect(rest).toBeLessThan(50);
      else expect(rest).toBeGreaterThan(words.length);
    }
  });
});
