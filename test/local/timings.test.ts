/**
 * `LOG_REQUEST_TIMINGS=true npm start`: one more line per request saying where its time went,
 * as the functions measured it (Redis / Postgres / model / total). Real handlers and services.
 */
import { randomUUID } from 'node:crypto';
import { closeDatabase, closeRedis } from '@chatbot/shared/testing';
import { signLocalToken } from '../../local/auth';
import { installLambdaRuntimeGlobals } from '../../local/lambda-runtime';

const SECRET = 'timings-secret';
installLambdaRuntimeGlobals();

afterAll(async () => {
  await closeRedis();
  await closeDatabase();
});

it('prints, per request, the time its Redis operations, Postgres statements and model calls took', async () => {
  const { startLocalServer } = await import('../../local/server');
  const lines: string[] = [];
  const server = await startLocalServer({ port: 0, jwtSecret: SECRET, timings: true, webClient: false, log: (line) => lines.push(line) });
  try {
    const token = signLocalToken(`timings-${randomUUID()}`, { secret: SECRET });
    const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
    const post = await fetch(`${server.url}/backend-api/f/conversation`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ action: 'next', messages: [{ id: randomUUID(), author: { role: 'user' }, content: { content_type: 'text', parts: ['time me'] } }], parent_message_id: 'client-created-root' }),
    });
    await post.text();
    await (await fetch(`${server.url}/backend-api/conversations`, { headers })).text();
  } finally {
    await server.close();
  }
  const timing = (resource: string) => lines.find((line) => line.startsWith(`POST ${resource} `) || line.startsWith(`GET ${resource} `));
  expect(timing('/backend-api/f/conversation')).toMatch(/-> 200: total [\d.]+ ms \| redis [\d.]+ ms ×\d+ \| postgres [\d.]+ ms ×[1-9]\d* \| model [\d.]+ ms ×[1-9]/);
  expect(timing('/backend-api/conversations')).toMatch(/-> 200: total [\d.]+ ms \| redis [\d.]+ ms ×[1-9]\d* \| postgres [\d.]+ ms ×\d+ \| model 0\.0 ms ×0/);
});
