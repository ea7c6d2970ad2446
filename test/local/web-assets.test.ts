/**
 * What `npm start` serves besides the API: the web page (one small bundle) and the local-only
 * sign-in, whose tokens the local authorizer accepts.
 */
import { gzipSync } from 'node:zlib';
import type { LocalServer } from '../../local/server';
import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import { createWebAssets } from '../../local/web-assets';
import { buildWebClient } from '../../web/build';

const SECRET = 'web-assets-secret';

describe('the local web page and sign-in', () => {
  let server: LocalServer;
  const signIn = (body: string, contentType = 'application/json') =>
    fetch(`${server.url}/local/sign-in`, { method: 'POST', headers: { 'Content-Type': contentType }, body });

  beforeAll(async () => {
    const { startLocalServer } = await import('../../local/server');
    server = await startLocalServer({ port: 0, jwtSecret: SECRET, log: () => undefined });
  });

  afterAll(async () => {
    await server?.close();
    const shared = await import('@chatbot/shared/testing');
    await Promise.all([shared.closeDatabase(), shared.closeRedis()]);
  });

  it('serves the page, its bundle, its stylesheet and a local config', async () => {
    // Act
    const [page, script, style, config] = await Promise.all(['/', '/app.js', '/style.css', '/config.json'].map((path) => fetch(`${server.url}${path}`)));

    // Assess
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await page.text()).toContain('<script type="module" src="/app.js"></script>');
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await script.text()).toContain('/backend-api');
    expect(style.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(await config.json()).toEqual({ apiUrl: '', auth: 'local' });
  });

  it('sends the headers a hosted page should: a CSP without inline script, no framing, no sniffing', async () => {
    // Act
    const answers = await Promise.all(['/', '/app.js', '/style.css', '/config.json'].map((path) => fetch(`${server.url}${path}`)));

    // Assess
    for (const res of answers) {
      const policy = res.headers.get('content-security-policy') ?? '';
      const directives = new Map(policy.split(';').map((part) => part.trim().split(/\s+/)).map(([name, ...values]) => [name, values]));
      expect(directives.get('script-src')).toEqual(["'self'"]);
      expect(directives.get('style-src')).toEqual(["'self'"]);
      expect(directives.get('connect-src')).toEqual(["'self'"]);
      expect(directives.get('default-src')).toEqual(["'none'"]);
      expect(directives.get('frame-ancestors')).toEqual(["'none'"]);
      expect(policy).not.toMatch(/unsafe-inline|unsafe-eval/);
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    }
  });

  it('serves the page at a share link, its assets addressed from the root; anything else under /share/ is not the page', async () => {
    // Act
    const shareLink = await fetch(`${server.url}/share/6f1d2c3b-0000-4000-8000-000000000001`);
    const html = await shareLink.text();
    const [notAShare, nested] = await Promise.all([fetch(`${server.url}/share/not-a-share`), fetch(`${server.url}/share/6f1d2c3b-0000-4000-8000-000000000001/app.js`)]);

    // Assess
    expect(shareLink.status).toBe(200);
    expect(shareLink.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(html).toContain('<link rel="stylesheet" href="/style.css">');
    expect(html).toContain('<script type="module" src="/app.js"></script>');
    expect([notAShare.status, nested.status]).toEqual([404, 404]);
  });

  it('signs in a user name with a token the API accepts', async () => {
    // Act
    const res = await signIn(JSON.stringify({ user: 'alice.example' }));
    const body = (await res.json()) as { token: string; user: string };
    const list = await fetch(`${server.url}/backend-api/conversations`, { headers: { Authorization: `Bearer ${body.token}` } });

    // Assess
    expect(res.status).toBe(200);
    expect(body.user).toBe('alice.example');
    expect(list.status).toBe(200);
  });

  it.each([
    ['an empty name', JSON.stringify({ user: '' }), 'application/json', 422],
    ['a name with spaces', JSON.stringify({ user: 'a b' }), 'application/json', 422],
    ['no name', JSON.stringify({}), 'application/json', 422],
    ['a body that is not JSON', '{user', 'application/json', 400],
    ['a form body', 'user=alice', 'application/x-www-form-urlencoded', 415],
  ])('refuses %s with a detail and no token', async (_case, body, contentType, status) => {
    // Act
    const res = await signIn(body, contentType);
    const answer = (await res.json()) as Record<string, unknown>;

    // Assess
    expect(res.status).toBe(status);
    expect(answer).toEqual({ detail: expect.any(String) });
  });

  it('answers only POST on the sign-in', async () => {
    const res = await fetch(`${server.url}/local/sign-in`);
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
  });

  it('refuses a sign-in from another machine (HOST=0.0.0.0 must not hand out tokens)', async () => {
    // Prepare
    const handle = createWebAssets({ jwtSecret: SECRET });
    const req = { url: '/local/sign-in', method: 'POST', headers: { 'content-type': 'application/json' }, socket: { remoteAddress: '192.0.2.7' } };
    const answered = new Promise<{ status: number; body: string }>((resolve) => {
      let status = 0;
      const res = { writeHead: (code: number) => (status = code), end: (body: string) => resolve({ status, body }), destroy: () => resolve({ status: -1, body: '' }) };
      handle(req as unknown as IncomingMessage, res as unknown as ServerResponse);
    });

    // Act
    const { status, body } = await answered;

    // Assess
    expect(status).toBe(403);
    expect(JSON.parse(body)).toEqual({ detail: 'Local sign-in only answers requests from this machine' });
  });

  describe('a sign-in whose Host is not this machine (DNS rebinding: a web page resolving its name to 127.0.0.1)', () => {
    /** The sign-in with a chosen Host header (fetch cannot set one). */
    const signInAs = (host: string) =>
      new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
        const req = request(`${server.url}/local/sign-in`, { method: 'POST', headers: { Host: host, 'Content-Type': 'application/json' } }, (res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
        });
        req.on('error', reject);
        req.end(JSON.stringify({ user: 'rebound' }));
      });

    it.each([
      ['another name', (port: number) => `attacker.example:${port}`],
      ['a name that starts like localhost', (port: number) => `localhost.attacker.example:${port}`],
      ['a loopback name on another port', (port: number) => `127.0.0.1:${port + 1}`],
      ['a loopback name without this port', () => 'localhost'],
      ['an IPv6 address that is not loopback', (port: number) => `[::2]:${port}`],
    ])('refuses %s with 403 and a detail, and no token', async (_case, host) => {
      // Act
      const { status, body } = await signInAs(host(server.port));

      // Assess
      expect(status).toBe(403);
      expect(body).toEqual({ detail: expect.stringContaining('127.0.0.1, localhost or [::1]') });
    });

    it.each(['127.0.0.1', 'localhost', '[::1]'])('accepts %s with the server\'s port', async (name) => {
      // Act
      const { status, body } = await signInAs(`${name}:${server.port}`);

      // Assess
      expect(status).toBe(200);
      expect(body.token).toEqual(expect.any(String));
    });
  });

  it('keeps the page\'s JS + CSS under 60 KB gzipped, with no framework in it', async () => {
    // Act
    const files = await buildWebClient();
    const gzip = (path: string) => gzipSync(files.get(path)!.body, { level: 9 }).length;
    const budgeted = gzip('/app.js') + gzip('/style.css');
    const script = files.get('/app.js')!.body.toString('utf8');
    console.log(`web client gzipped: app.js ${gzip('/app.js')} B + style.css ${gzip('/style.css')} B = ${budgeted} B (index.html ${gzip('/index.html')} B)`);

    // Assess
    expect(budgeted).toBeLessThan(60 * 1024);
    expect(script).not.toMatch(/react|preact|vue|lit-html/i);
  });
});
