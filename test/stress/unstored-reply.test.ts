/**
 * A v1 reply whose assistant message cannot be stored (Postgres went away before the reply
 * ended) ends without `[DONE]`: the client knows it is incomplete and reloads. Its resume
 * followers must say the same — the recording's end marker is written only for a reply that
 * ended as it should. (Found by `npm run chaos`: followers ended with `[DONE]` at every
 * Postgres restart.)
 */
import { randomUUID } from 'node:crypto';
import { newUserId } from '../support/handlers';
import { sseFrames } from '../support/sse';
import { closeAllLayerInstances, loadLayerInstance, type LayerInstance } from '../reliability/support/layer-instance';
import { freePort } from '../reliability/support/redis-server';
import { TcpProxy } from '../reliability/support/tcp-proxy';

const DONE = 'data: [DONE]\n\n';
let proxy: TcpProxy;
let layer: LayerInstance;

beforeAll(async () => {
  const target = new URL(process.env.DATABASE_URL as string);
  proxy = new TcpProxy(await freePort(), { host: target.hostname, port: Number(target.port || 5432) });
  await proxy.listen();
  const proxied = new URL(target);
  proxied.host = `127.0.0.1:${proxy.port}`;
  layer = loadLayerInstance({ DATABASE_URL: proxied.toString(), DATABASE_CONNECT_TIMEOUT_MS: '500', DATABASE_STATEMENT_TIMEOUT_MS: '1000' });
});

afterAll(async () => {
  await closeAllLayerInstances();
  await proxy?.close();
});

it('a follower of a reply that could not be stored ends without [DONE], like the reply itself', async () => {
  const userId = newUserId();
  let text = '';
  let announced: (token: { conversation_id: string; token: string }) => void = () => undefined;
  const tokenFrame = new Promise<{ conversation_id: string; token: string }>((resolve) => (announced = resolve));
  // The local model's slow marker: 200 ms per token, so Postgres can go away mid-reply.
  const reply = layer.api.postRaw(
    {
      action: 'next',
      messages: [{ id: randomUUID(), author: { role: 'user' }, content: { content_type: 'text', parts: ['[[local-model:slow]] one two three four five six'] } }],
      parent_message_id: randomUUID(),
      supported_encodings: ['v1'],
    },
    userId,
    {
      onChunk: (piece) => {
        text += piece;
        const token = sseFrames(text).map((frame) => /^data: (\{"type":"resume_conversation_token".*\})\n\n$/.exec(frame)?.[1]).find(Boolean);
        if (token) announced(JSON.parse(token));
      },
    },
  );
  const { conversation_id: conversationId, token } = await tokenFrame;
  const follower = layer.api.resumeRaw({ conversation_id: conversationId, offset: 0, token }, userId);

  // Postgres goes away before the reply ends: its assistant message cannot be stored.
  await proxy.setMode('refuse');
  let produced;
  let followed;
  try {
    [produced, followed] = await Promise.all([reply, follower]);
  } finally {
    await proxy.setMode('forward');
  }

  const replyFrames = sseFrames(produced.body);
  const followerFrames = sseFrames(followed.body);
  expect(produced.statusCode).toBe(200);
  expect(replyFrames.at(-1)).not.toBe(DONE);
  expect(followed.statusCode).toBe(200);
  expect(followerFrames).toEqual(replyFrames);
});
