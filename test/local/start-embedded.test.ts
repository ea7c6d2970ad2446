/**
 * `npm start` on a fresh machine: no DATABASE_URL and no REDIS_URL, so the embedded Postgres
 * (PGlite, in memory here) and Redis-protocol server are used. Runs the same command as the
 * npm script, as a child process, and talks to it over HTTP.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import OpenAI from 'openai';
import { signLocalToken } from '../../local/auth';

const ROOT = path.resolve(__dirname, '../..');

describe('npm start with embedded services', () => {
  let child: ChildProcess;
  let output = '';
  let url: string;

  beforeAll(async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0', PGLITE_DATA_DIR: 'memory://', LOCAL_MODEL_TOKEN_DELAY_MS: '5' };
    for (const name of ['DATABASE_URL', 'REDIS_URL', 'REDIS_HOST', 'CACHE_KEY_PREFIX', 'LOCAL_JWT_SECRET', 'DATABASE_POOL_MAX']) delete env[name];
    child = spawn(process.execPath, ['local/run.mts', 'local/main.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 90_000);
      const check = () => {
        const match = /listening on (http:\/\/\S+)\/backend-api/.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      };
      child.stdout!.on('data', check);
      child.once('exit', (code) => reject(new Error(`server exited with ${code}:\n${output}`)));
    });
  }, 120_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  });

  it('prints which database, cache and model it uses', () => {
    expect(output).toMatch(/database : embedded PGlite \(in memory\)/);
    expect(output).toMatch(/cache {4}: embedded js-redis-server/);
    expect(output).toMatch(/model {4}: local offline model/);
  });

  it('serves OpenAI\'s API on the embedded services too: items, a streamed response into the conversation, its events again, an item deleted', async () => {
    const client = new OpenAI({ apiKey: signLocalToken('embedded-openai-user'), baseURL: `${url}/v1`, maxRetries: 0 });

    const conversation = await client.conversations.create({ metadata: { via: 'sdk' }, items: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello' } as never] });
    const stream = await client.responses.create({ conversation: conversation.id, input: 'And now?', stream: true });
    const events: { type: string; sequence_number: number; response?: { id: string } }[] = [];
    for await (const event of stream) events.push(event);
    const replay = await client.responses.retrieve(events[0].response!.id, { stream: true, starting_after: 2 });
    const replayed: number[] = [];
    for await (const event of replay) replayed.push(event.sequence_number);
    const items = await client.conversations.items.list(conversation.id, { order: 'asc' });
    await client.conversations.items.delete(items.data[1].id as string, { conversation_id: conversation.id });
    const after = await client.conversations.items.list(conversation.id, { order: 'asc' });

    expect(events.at(-1)?.type).toBe('response.completed');
    expect(replayed).toEqual(events.slice(3).map((event) => event.sequence_number));
    expect(items.data.map((item) => ('role' in item ? item.role : item.type))).toEqual(['user', 'assistant', 'user', 'assistant']);
    expect(after.data.map((item) => item.id)).toEqual([items.data[0].id, items.data[2].id, items.data[3].id]);
  });

  it('serves the list and a complete POST, then shuts down cleanly on SIGTERM', async () => {
    // Prepare
    const token = signLocalToken('embedded-user');
    const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };

    // Act
    const list = await fetch(`${url}/backend-api/conversations`, { headers });
    const post = await fetch(`${url}/backend-api/f/conversation`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        action: 'next',
        messages: [{ id: 'm1', author: { role: 'user' }, content: { content_type: 'text', parts: ['Hi embedded'] } }],
        parent_message_id: 'client-created-root',
      }),
    });
    const stream = await post.text();
    const after = (await (await fetch(`${url}/backend-api/conversations`, { headers })).json()) as { total: number };
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];

    // Assess
    expect(list.status).toBe(200);
    expect(((await list.json()) as { items: unknown[] }).items).toEqual([]);
    expect(post.status).toBe(200);
    expect(stream).toContain('"is_completion":true');
    expect(stream.trimEnd().endsWith('data: [DONE]')).toBe(true);
    expect(after.total).toBe(1);
    expect(code).toBe(0);
  });
});
