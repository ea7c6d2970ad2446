/**
 * What a newcomer meets on the command line: `npm start` with a wrong DATABASE_URL, a busy PORT
 * or a bad setting exits non-zero within seconds with one line that says what to do (no stack
 * trace); an unreachable Redis is flagged in the banner; `npm run token` says what was wrong;
 * `npm run seed` adds the demo set a user lacks, and refuses to open an embedded database
 * another process has open. Each runs the npm script's command as a child process.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { signLocalToken } from '../../local/auth';
import type { LocalServer } from '../../local/server';

const ROOT = path.resolve(__dirname, '../..');
const SECRET = 'newcomer-secret';

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** Runs `node local/run.mts <entry> …args` like the npm scripts do; `until` ends it early (SIGTERM) once the output matches. */
function run(entry: string, args: string[], env: NodeJS.ProcessEnv, until?: RegExp): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['local/run.mts', entry, ...args], { cwd: ROOT, env: { ...process.env, POWERTOOLS_LOG_LEVEL: 'SILENT', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 25_000);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (until?.test(stdout)) child.kill('SIGTERM');
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

const start = (env: NodeJS.ProcessEnv, until?: RegExp) => run('local/main.ts', [], { PORT: '0', ...env }, until);
const hasStackTrace = (text: string) => /^\s+at /m.test(text);
const lines = (text: string) => text.trim().split('\n').filter(Boolean);

describe('npm start refuses what it cannot use, in one line', () => {
  it('a database that does not exist: names DATABASE_URL and the createdb command', async () => {
    // Act
    const result = await start({ DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/no_such_database_for_newcomers', CACHE_ENABLED: 'false' });

    // Assess
    expect(result.code).toBe(1);
    expect(lines(result.stderr)).toEqual([
      'npm start: DATABASE_URL postgres://postgres@127.0.0.1:5432/no_such_database_for_newcomers names a database that does not exist: create it (createdb -h 127.0.0.1 -p 5432 -U postgres no_such_database_for_newcomers), or unset DATABASE_URL to use the embedded database.',
    ]);
    expect(result.ms).toBeLessThan(10_000);
  });

  it('an unreachable database: says so and how to use the embedded one', async () => {
    // Act
    const result = await start({ DATABASE_URL: 'postgres://postgres:secret@127.0.0.1:1/chatbot', CACHE_ENABLED: 'false' });

    // Assess
    expect(result.code).toBe(1);
    expect(lines(result.stderr)).toEqual([
      'npm start: DATABASE_URL postgres://postgres:****@127.0.0.1:1/chatbot is unreachable (ECONNREFUSED): start that Postgres, or unset DATABASE_URL to use the embedded database.',
    ]);
    expect(result.stderr).not.toContain('secret');
    expect(result.ms).toBeLessThan(10_000);
  });

  it('a busy PORT: names it and suggests another', async () => {
    // Prepare
    const busy: Server = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as { port: number }).port;

    // Act
    const result = await start({ PORT: String(port), CACHE_ENABLED: 'false' });
    busy.close();

    // Assess
    expect(result.code).toBe(1);
    expect(lines(result.stderr)).toEqual([
      `npm start: PORT ${port} is already in use on 127.0.0.1 (another npm start?): stop it, or pick another port: PORT=${port + 1} npm start (PORT=0 takes any free one).`,
    ]);
    expect(hasStackTrace(result.stdout + result.stderr)).toBe(false);
    expect(result.ms).toBeLessThan(10_000);
  });

  it('HOST beyond loopback with the default LOCAL_JWT_SECRET: says why and what to set, before starting anything', async () => {
    // Act
    const result = await start({ HOST: '0.0.0.0', LOCAL_JWT_SECRET: '', CACHE_ENABLED: 'false' });

    // Assess
    expect(result.code).toBe(1);
    expect(lines(result.stderr)).toEqual([
      'npm start: HOST=0.0.0.0 serves beyond this machine, and LOCAL_JWT_SECRET is the documented default anyone can sign tokens with: ' +
        'set LOCAL_JWT_SECRET to a long random value (e.g. LOCAL_JWT_SECRET=$(openssl rand -hex 32)), or unset HOST to listen on 127.0.0.1.',
    ]);
    expect(result.stdout).not.toContain('listening on');
    expect(hasStackTrace(result.stdout + result.stderr)).toBe(false);
  });

  it('a bad setting: names the variable, the value and what it expects', async () => {
    // Act
    const result = await start({ LOCAL_MODEL_TOKEN_DELAY_MS: 'fast', CACHE_ENABLED: 'false' });

    // Assess
    expect(result.code).toBe(1);
    expect(lines(result.stderr)).toEqual([
      'npm start: Invalid configuration: LOCAL_MODEL_TOKEN_DELAY_MS="fast" (expected an integer from 0 to 10000): fix or unset it (docs/local.md lists every variable).',
    ]);
  });
});

describe('npm start with an unreachable Redis', () => {
  it('says so in the banner, and the API and the web page still answer', async () => {
    // Prepare
    const token = signLocalToken(`newcomer-${Date.now()}`, { secret: SECRET });
    const child = spawn(process.execPath, ['local/run.mts', 'local/main.ts'], {
      cwd: ROOT,
      env: { ...process.env, POWERTOOLS_LOG_LEVEL: 'SILENT', PORT: '0', REDIS_URL: 'redis://127.0.0.1:1', LOCAL_JWT_SECRET: SECRET },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise((resolve) => child.once('exit', resolve));

    try {
      // Act
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no banner:\n${output}`)), 25_000);
        child.stdout.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          if (output.includes('Ctrl+C stops the server')) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      const url = /listening on (http:\/\/\S+)\/backend-api/.exec(output)![1];
      const res = await fetch(`${url}/backend-api/conversations`, { headers: { Authorization: `Bearer ${token}` } });
      const page = await fetch(`${url}/`);
      const script = await fetch(`${url}/app.js`);

      // Assess
      expect(output).toMatch(/cache {4}: redis:\/\/127\.0\.0\.1:1\/? — UNREACHABLE \(ECONNREFUSED\); the API still answers without it/);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ items: [], total: 0 });
      expect(output).toContain(`web page : ${url}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('src="/app.js"');
      expect(script.status).toBe(200);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });
});

describe('npm run token', () => {
  it('says what was wrong with --ttl 0', async () => {
    // Act
    const result = await run('scripts/token.ts', ['demo-user', '--ttl', '0'], {});

    // Assess
    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toEqual([
      'npm run token: --ttl must be a whole number of seconds above 0 (the token\'s lifetime); got "0"',
      'usage: npm run token -- <user> [--ttl <seconds>]',
    ]);
    expect(result.stdout).toBe('');
  });
});

describe('npm run seed', () => {
  let server: LocalServer;

  beforeAll(async () => {
    process.env.LOCAL_MODEL_TOKEN_DELAY_MS = '0';
    const { startLocalServer } = await import('../../local/server');
    server = await startLocalServer({ port: 0, jwtSecret: SECRET, log: () => undefined, webClient: false });
  });

  afterAll(async () => {
    await server?.close();
    const shared = await import('@chatbot/shared/testing');
    await Promise.all([shared.closeDatabase(), shared.closeRedis()]);
  });

  it('adds the three demo conversations to a user who already has others, and only once', async () => {
    // Prepare
    const user = `seeded-${Date.now()}`;
    const token = signLocalToken(user, { secret: SECRET });
    const own = await fetch(`${server.url}/backend-api/f/conversation`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ action: 'next', parent_message_id: 'client-created-root', messages: [{ id: 'own-1', author: { role: 'user' }, content: { content_type: 'text', parts: ['My own first chat'] } }] }),
    });
    await own.text();
    const seedEnv = { LOCAL_JWT_SECRET: SECRET };

    // Act
    const first = await run('scripts/seed.ts', [user, '--url', server.url], seedEnv);
    const second = await run('scripts/seed.ts', [user, '--url', server.url], seedEnv);
    const list = (await (await fetch(`${server.url}/backend-api/conversations`, { headers: { Authorization: `Bearer ${token}` } })).json()) as { total: number };

    // Assess
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`Seeded 3 demo conversation(s) for ${user}.`);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain(`${user} already has the 3 demo conversations; nothing to do (--force adds them again).`);
    expect(list.total).toBe(4);
  });

  it('refuses to open an embedded database another live process has open', async () => {
    // Prepare: this test process plays the running `npm start` holding the data directory.
    const dir = mkdtempSync(path.join(tmpdir(), 'pglite-held-'));
    const dataDir = path.join(dir, 'pglite');
    writeFileSync(`${dataDir}.lock`, JSON.stringify({ pid: process.pid, apiUrl: 'http://127.0.0.1:3999' }));
    const env: NodeJS.ProcessEnv = { PGLITE_DATA_DIR: dataDir, DATABASE_URL: '', REDIS_URL: '', CACHE_ENABLED: 'false' };

    // Act
    const result = await run('scripts/seed.ts', ['--url', 'http://127.0.0.1:1'], env);
    rmSync(dir, { recursive: true, force: true });

    // Assess
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      `Seed failed: The embedded database ${dataDir} is already open in process ${process.pid} (a running npm start?): use that server (npm run seed -- --url http://127.0.0.1:3999), stop it first, or give this one its own PGLITE_DATA_DIR (if process ${process.pid} is something else, delete ${dataDir}.lock).`,
    );
  });
});
