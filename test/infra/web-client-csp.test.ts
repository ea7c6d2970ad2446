/**
 * The hosted page's Content-Security-Policy (lib/web-client.ts) must let the page work and
 * nothing else: the policy the stack sends is put on the page in a real browser, which signs in
 * through (faked) Cognito managed login, lists and streams a reply from the real local API on
 * another origin, with no CSP violation. A policy that leaves the API out must show violations,
 * or the first check would prove nothing.
 */
import { randomUUID } from 'node:crypto';
import type { Route } from 'playwright-core';
import { signLocalToken } from '../../local/auth';
import { contentSecurityPolicy } from '../../web/security-headers';
import { sendMessage, transcript, useWebHarness, waitForIdle } from '../web/support/browser';

process.env.LOCAL_MODEL_TOKEN_DELAY_MS = '5';
const SECRET = 'web-csp-secret';
const DOMAIN = 'chatbot-csp.auth.eu-west-1.amazoncognito.com';
const SCOPE = 'openid email chatbot-api/conversations';

declare const document: any;
declare const window: any;
declare const localStorage: any;

describe('the hosted page under its Content-Security-Policy', () => {
  const web = useWebHarness({ jwtSecret: SECRET });
  let csp = '';
  let apiOrigin = '';

  beforeAll(async () => {
    const { page, relay, server } = web;
    // The API on an origin of its own, as execute-api is to CloudFront.
    apiOrigin = server.url.replace('localhost', '127.0.0.1');
    const user = `csp-${randomUUID()}`;
    const accessToken = signLocalToken(user, { secret: SECRET, claims: { scope: SCOPE, username: user } });
    const idToken = signLocalToken(user, { secret: 'not-the-api-secret', claims: { email: `${user}@example.com` } });
    const serveWithPolicy = async (route: Route) => {
      const response = await route.fetch();
      await route.fulfill({ response, headers: { ...response.headers(), 'content-security-policy': csp } });
    };
    await page.route((url) => url.origin === relay.url && (url.pathname === '/' || url.pathname === '/index.html'), serveWithPolicy);
    await page.route('**/config.json', (route) =>
      route.fulfill({ contentType: 'application/json', body: JSON.stringify({ apiUrl: apiOrigin, auth: 'cognito', cognitoDomain: DOMAIN, clientId: 'csp-client', scope: SCOPE }) }),
    );
    await page.route(`https://${DOMAIN}/oauth2/authorize**`, (route) => {
      const authorize = new URL(route.request().url());
      const back = new URL(authorize.searchParams.get('redirect_uri')!);
      back.search = new URLSearchParams({ code: 'the-code', state: authorize.searchParams.get('state')! }).toString();
      // Back to the page by a new navigation (a fulfilled redirect's target would bypass the policy route above).
      return route.fulfill({ contentType: 'text/html', body: `<meta http-equiv="refresh" content="0;url=${back.toString().replace(/&/g, '&amp;')}">` });
    });
    await page.route(`https://${DOMAIN}/oauth2/token`, (route) =>
      route.fulfill({
        contentType: 'application/json',
        headers: { 'Access-Control-Allow-Origin': '*' },
        body: JSON.stringify({ id_token: idToken, access_token: accessToken, token_type: 'Bearer', expires_in: 3600 }),
      }),
    );
    // Every violation the browser reports, from the first script on.
    await page.addInitScript(() => {
      window.__violations = [];
      document.addEventListener('securitypolicyviolation', (event: any) => window.__violations.push(`${event.effectiveDirective} ${event.blockedURI}`));
    });
  });

  const violations = (): Promise<string[]> => web.page.evaluate(() => window.__violations);

  it('signs in, lists and streams a reply with no violation', async () => {
    // Prepare
    const { page, relay } = web;
    csp = contentSecurityPolicy({ apiOrigin, cognitoDomain: DOMAIN });
    const apiRequests: string[] = [];
    page.on('request', (request) => request.url().startsWith(`${apiOrigin}/backend-api/`) && apiRequests.push(request.url()));

    // Act
    await page.goto(`${relay.url}/`);
    await page.evaluate(() => localStorage.clear());
    await page.goto(`${relay.url}/`);
    await page.click('#signin button');
    await page.waitForSelector('#app:not([hidden])');
    await page.waitForSelector('#empty-list:not([hidden])');
    await sendMessage(page, 'Hello under a strict policy');
    await waitForIdle(page);

    // Assess
    expect(await violations()).toEqual([]);
    expect(apiRequests.length).toBeGreaterThan(1);
    expect(await transcript(page)).toEqual(['user: Hello under a strict policy', expect.stringMatching(/^assistant: You said: "Hello under a strict policy"/)]);
  });

  it('a policy without the API origin blocks the page from it (the check above can fail)', async () => {
    // Prepare
    const { page, relay } = web;
    csp = contentSecurityPolicy({ apiOrigin: 'https://api.elsewhere.example', cognitoDomain: DOMAIN });

    // Act
    await page.goto(`${relay.url}/`);
    await page.waitForFunction(() => window.__violations.length > 0);

    // Assess
    expect(await violations()).toContainEqual(expect.stringMatching(new RegExp(`^connect-src ${apiOrigin.replace(/[.]/g, '\\.')}`)));
  });
});
