/**
 * The deployed page's sign-in (config.json `auth: "cognito"`), in a real browser: the redirect to
 * Cognito managed login carries an S256 PKCE challenge and a state; the return with a code is
 * exchanged at the token endpoint with the matching verifier; the page then calls the API with
 * the access token (the deployed authorizer refuses ID tokens). Cognito is faked at its boundary
 * (its two endpoints, intercepted in the browser); the API is the real local server, which
 * accepts the access token the fake returns.
 */
import { createHash, randomUUID } from 'node:crypto';
import { signLocalToken } from '../../local/auth';
import { securityHeaders } from '../../web/build';
import { useWebHarness } from './support/browser';

const SECRET = 'web-cognito-secret';
const DOMAIN = 'chatbot-test.auth.eu-west-1.amazoncognito.com';
const CLIENT_ID = 'test-client-id';

describe('web client: Cognito managed login (authorization code + PKCE)', () => {
  const web = useWebHarness({ jwtSecret: SECRET });

  it('redirects with an S256 challenge and the API scope, exchanges the code with its verifier, and calls the API with the access token', async () => {
    // Prepare
    const { page, relay } = web;
    const user = `cognito-${randomUUID()}`;
    const accessToken = signLocalToken(user, { secret: SECRET, claims: { scope: 'openid email chatbot-api/conversations', username: user } });
    // Signed with another secret: were the page to send it, the API would answer 401.
    const idToken = signLocalToken(user, { secret: 'not-the-api-secret', claims: { email: `${user}@example.com` } });
    let authorize: URL | undefined;
    let tokenRequest: URLSearchParams | undefined;
    const apiAuthorization: string[] = [];
    await page.route('**/config.json', (route) =>
      route.fulfill({ contentType: 'application/json', body: JSON.stringify({ apiUrl: '', auth: 'cognito', cognitoDomain: DOMAIN, clientId: CLIENT_ID, scope: 'openid email chatbot-api/conversations' }) }),
    );
    // The page as the deployed stack serves it: its CSP lets it call the Cognito token endpoint (the local one does not).
    await page.route(
      (url) => url.origin === relay.url && url.pathname === '/',
      async (route) => {
        const response = await route.fetch();
        await route.fulfill({ response, headers: { ...response.headers(), ...lowerCaseKeys(securityHeaders({ cognitoDomain: DOMAIN })) } });
      },
    );
    await page.route(`https://${DOMAIN}/oauth2/authorize**`, (route) => {
      authorize = new URL(route.request().url());
      const back = new URL(authorize.searchParams.get('redirect_uri')!);
      back.search = new URLSearchParams({ code: 'the-code', state: authorize.searchParams.get('state')! }).toString();
      // Back to the page by a new navigation (a fulfilled redirect's target would bypass the route above).
      return route.fulfill({ contentType: 'text/html', body: `<meta http-equiv="refresh" content="0;url=${back.toString().replace(/&/g, '&amp;')}">` });
    });
    await page.route(`https://${DOMAIN}/oauth2/token`, (route) => {
      tokenRequest = new URLSearchParams(route.request().postData() ?? '');
      return route.fulfill({
        contentType: 'application/json',
        headers: { 'Access-Control-Allow-Origin': '*' },
        body: JSON.stringify({ id_token: idToken, access_token: accessToken, token_type: 'Bearer', expires_in: 3600 }),
      });
    });
    page.on('request', (request) => {
      if (request.url().includes('/backend-api/')) apiAuthorization.push(request.headers().authorization ?? '');
    });

    // Act
    await page.goto(`${relay.url}/`);
    await page.evaluate(() => (globalThis as unknown as { localStorage: { clear(): void } }).localStorage.clear());
    await page.goto(`${relay.url}/`);
    await page.click('#signin button');
    await page.waitForSelector('#app:not([hidden])');
    await page.waitForSelector('#empty-list:not([hidden])');

    // Assess
    expect(authorize?.searchParams.get('response_type')).toBe('code');
    expect(authorize?.searchParams.get('client_id')).toBe(CLIENT_ID);
    expect(authorize?.searchParams.get('redirect_uri')).toBe(`${relay.url}/`);
    expect(authorize?.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorize?.searchParams.get('scope')).toBe('openid email chatbot-api/conversations');
    expect(tokenRequest?.get('grant_type')).toBe('authorization_code');
    expect(tokenRequest?.get('code')).toBe('the-code');
    expect(tokenRequest?.get('client_id')).toBe(CLIENT_ID);
    const verifier = tokenRequest!.get('code_verifier')!;
    expect(verifier.length).toBeGreaterThanOrEqual(43);
    expect(createHash('sha256').update(verifier).digest('base64url')).toBe(authorize!.searchParams.get('code_challenge'));
    expect(apiAuthorization.length).toBeGreaterThan(0);
    expect(new Set(apiAuthorization)).toEqual(new Set([`Bearer ${accessToken}`]));
    expect(await page.textContent('#user')).toBe(`${user}@example.com`);
    expect(page.url()).toBe(`${relay.url}/`);
  });
});

function lowerCaseKeys(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
}
