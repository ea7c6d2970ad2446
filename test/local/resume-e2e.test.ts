/**
 * Resumable replies over HTTP through the local API Gateway emulator, as a browser uses them:
 * the connection really drops mid-reply, and stream_status, resume and stop are served from
 * the route table's new routes on the real handlers, Postgres and Redis.
 */
import { randomUUID } from 'node:crypto';
import { signLocalToken } from '../../local/auth';
import type { LocalServer } from '../../local/server';
import { applyV1Deltas, parseSse, sseFrames } from '../support/sse';

// Read by the layer's config on first use, which happens after these lines.
process.env.SSE_HEARTBEAT_INTERVAL_MS = '200';
// A reply of about a second: long enough to drop the connection in the middle of it.
process.env.LOCAL_MODEL_TOKEN_DELAY_MS = '40';
const SECRET = 'resume-e2e-secret';
const DONE = 'data: [DONE]\n\n';

describe('resumable replies through the local emulator', () => {
  let server: LocalServer;
  const alice = signLocalToken(`alice-${randomUUID()}`, { secret: SECRET });
  const bob = signLocalToken(`bob-${randomUUID()}`, { secret: SECRET });
  const headers = (token: string) => ({ Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' });

  beforeAll(async () => {
    const { startLocalServer } = await import('../../local/server');
    server = await startLocalServer({ port: 0, jwtSecret: SECRET, log: () => undefined });
  });
  afterAll(async () => {
    await server?.close();
    delete process.env.SSE_HEARTBEAT_INTERVAL_MS;
    delete process.env.LOCAL_MODEL_TOKEN_DELAY_MS;
    const shared = await import('@chatbot/shared/testing');
    await Promise.all([shared.closeDatabase(), shared.closeRedis()]);
  });

  /** Reads a streamed response to its end, or until `enough` says to hang up; returns the frames kept. */
  async function read(response: Response, controller: AbortController, enough?: (frames: string[]) => boolean): Promise<string[]> {
    const reader = response.body!.getReader();
    let text = '';
    try {
      for (let next = await reader.read(); !next.done; next = await reader.read()) {
        text += Buffer.from(next.value).toString('utf8');
        if (enough?.(sseFrames(text))) {
          controller.abort();
          return sseFrames(text);
        }
      }
    } catch (error) {
      if (!controller.signal.aborted) throw error;
    }
    return sseFrames(text);
  }

  it('a dropped connection resumes to the whole reply; stream_status and stop answer; a stranger gets 404', async () => {
    const controller = new AbortController();
    const post = await fetch(`${server.url}/backend-api/f/conversation`, {
      method: 'POST',
      headers: headers(alice),
      signal: controller.signal,
      body: JSON.stringify({
        action: 'next',
        messages: [{ id: randomUUID(), author: { role: 'user' }, content: { content_type: 'text', parts: ['one two three four'] } }],
        parent_message_id: randomUUID(),
        supported_encodings: ['v1'],
      }),
    });
    expect(post.status).toBe(200);
    const kept = await read(post, controller, (frames) => frames.length >= 5);
    const announced = parseSse(kept.join('')).find((e) => e.json?.type === 'resume_conversation_token')!.json;
    const conversationId = announced.conversation_id as string;

    const status = await fetch(`${server.url}/backend-api/conversation/${conversationId}/stream_status`, { headers: headers(alice) });
    expect(status.status).toBe(200);
    expect(((await status.json()) as { status: string }).status).toBe('IS_STREAMING');
    for (const [method, path, body] of [
      ['GET', `/backend-api/conversation/${conversationId}/stream_status`, undefined],
      ['POST', `/backend-api/conversation/${conversationId}/stop`, undefined],
      ['POST', '/backend-api/f/conversation/resume', JSON.stringify({ conversation_id: conversationId, offset: 0 })],
    ] as const) {
      const answer = await fetch(`${server.url}${path}`, { method, headers: headers(bob), body });
      expect(answer.status).toBe(404);
      expect(((await answer.json()) as { detail?: unknown }).detail).toBeDefined();
    }

    const resumeController = new AbortController();
    const resume = await fetch(`${server.url}/backend-api/f/conversation/resume`, {
      method: 'POST',
      headers: headers(alice),
      body: JSON.stringify({ conversation_id: conversationId, offset: kept.length, token: announced.token }),
    });
    expect(resume.status).toBe(200);
    expect(resume.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const combined = [...kept, ...(await read(resume, resumeController))];
    expect(combined.at(-1)).toBe(DONE);

    const replay = await fetch(`${server.url}/backend-api/f/conversation/resume`, {
      method: 'POST',
      headers: headers(alice),
      body: JSON.stringify({ conversation_id: conversationId, offset: 0, token: announced.token }),
    });
    expect(await read(replay, new AbortController())).toEqual(combined);

    const doc = applyV1Deltas(parseSse(combined.join('')));
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const detail: any = await (await fetch(`${server.url}/backend-api/conversation/${conversationId}`, { headers: headers(alice) })).json();
    expect(detail.mapping[doc.message.id].message.content).toEqual(doc.message.content);
    expect(detail.mapping[doc.message.id].message.status).toBe('finished_successfully');

    const stop = await fetch(`${server.url}/backend-api/conversation/${conversationId}/stop`, { method: 'POST', headers: headers(alice) });
    expect(stop.status).toBe(200);
    expect(await stop.json()).toEqual({ success: true, message_id: null });
  });
});
