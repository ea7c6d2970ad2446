/**
 * Signing in. Locally: the emulator's `POST /local/sign-in` (no copy-paste) or a token in the
 * URL fragment (`#token=<jwt>`, used only once the API accepted it and the person agreed). Deployed: Cognito managed login, authorization code + PKCE;
 * the API's Cognito authorizer takes the access token (with the API's scope), not the ID token.
 */
import type { ClientConfig } from './api';

const TOKEN_KEY = 'chatbot.token';
const PKCE_KEY = 'chatbot.pkce';
const USER_KEY = 'chatbot.user';

export function storedToken(): string | undefined {
  return localStorage.getItem(TOKEN_KEY) ?? undefined;
}

export function storeToken(token: string): void {
  localStorage.removeItem(USER_KEY);
  localStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken(): void {
  localStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(USER_KEY);
}

/**
 * The name the header shows for `token`, once the API has accepted it: the e-mail Cognito's token
 * endpoint returned with it, else the token's `sub` (the user id the API stores conversations under).
 */
export function accountName(token: string): string {
  return localStorage.getItem(USER_KEY) ?? tokenSubject(token) ?? '';
}

/** A token's `sub`, read without verifying it: only the API can say whether it is genuine. */
export function tokenSubject(token: string): string | undefined {
  try {
    const payload = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))) as Record<string, unknown>;
    return typeof payload.sub === 'string' && payload.sub ? payload.sub : undefined;
  } catch {
    return undefined;
  }
}

/** Cognito's ID token names the person by e-mail (or user name). */
function idTokenName(token: string): string | undefined {
  try {
    const payload = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))) as Record<string, unknown>;
    const name = payload.email ?? payload['cognito:username'] ?? payload.sub;
    return typeof name === 'string' && name ? name : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes `#token=<jwt>` out of the address bar (it must not stay in history) without using it:
 * the page asks first. `malformed`: its escapes cannot be decoded.
 */
export function takeFragmentToken(): { token: string } | { malformed: true } | undefined {
  const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (!match) return undefined;
  history.replaceState(null, '', location.pathname + location.search);
  try {
    return { token: decodeURIComponent(match[1]) };
  } catch {
    return { malformed: true };
  }
}

/** Local sign-in: the emulator mints a token for the chosen user name. */
export async function signInLocally(apiUrl: string, user: string): Promise<void> {
  const res = await fetch(`${apiUrl}/local/sign-in`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ user }),
  });
  const body = (await res.json().catch(() => ({}))) as { token?: string; detail?: unknown };
  if (!res.ok || !body.token) throw new Error(typeof body.detail === 'string' ? body.detail : `Sign-in failed (HTTP ${res.status}).`);
  storeToken(body.token);
}

function randomString(bytes: number): string {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

function base64url(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function redirectUri(): string {
  return `${location.origin}/`;
}

/** Sends the browser to Cognito's managed login with a fresh PKCE verifier and state. */
export async function startCognitoSignIn(config: ClientConfig): Promise<void> {
  const verifier = randomString(32);
  const state = randomString(16);
  sessionStorage.setItem(PKCE_KEY, JSON.stringify({ verifier, state }));
  const challenge = base64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
  const url = new URL(`https://${config.cognitoDomain}/oauth2/authorize`);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: config.clientId ?? '',
    redirect_uri: redirectUri(),
    scope: config.scope ?? 'openid email aws.cognito.signin.user.admin',
    state,
    code_challenge_method: 'S256',
    code_challenge: challenge,
  }).toString();
  location.assign(url.toString());
}

/** Back from managed login (`?code=…&state=…`): exchanges the code for tokens. */
export async function completeCognitoSignIn(config: ClientConfig): Promise<boolean> {
  const params = new URLSearchParams(location.search);
  const code = params.get('code');
  if (!code) return false;
  const saved = JSON.parse(sessionStorage.getItem(PKCE_KEY) ?? '{}') as { verifier?: string; state?: string };
  sessionStorage.removeItem(PKCE_KEY);
  history.replaceState(null, '', location.pathname);
  if (!saved.verifier || saved.state !== params.get('state')) throw new Error('The sign-in answer did not match this browser; sign in again.');
  const res = await fetch(`https://${config.cognitoDomain}/oauth2/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      client_id: config.clientId ?? '',
      code,
      redirect_uri: redirectUri(),
      code_verifier: saved.verifier,
    }),
  });
  if (!res.ok) throw new Error(`Sign-in failed (HTTP ${res.status}); sign in again.`);
  const tokens = (await res.json()) as { access_token?: string; id_token?: string };
  if (!tokens.access_token) throw new Error('Sign-in returned no access token.');
  storeToken(tokens.access_token);
  // The access token names the user only by id; the ID token, straight from the token endpoint, has the e-mail the header shows.
  const name = tokens.id_token ? idTokenName(tokens.id_token) : undefined;
  if (name) localStorage.setItem(USER_KEY, name);
  return true;
}

/** Cognito's logout endpoint, which returns to this page. */
export function cognitoLogoutUrl(config: ClientConfig): string {
  return `https://${config.cognitoDomain}/logout?client_id=${encodeURIComponent(config.clientId ?? '')}&logout_uri=${encodeURIComponent(redirectUri())}`;
}
