/**
 * Signing in. Locally: the emulator's `POST /local/sign-in` (no copy-paste) or a token in the
 * URL fragment (`#token=<jwt>`). Deployed: Cognito managed login, authorization code + PKCE;
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

/** Who is signed in, for the header. */
export function signedInUser(): string {
  return localStorage.getItem(USER_KEY) ?? tokenUser(storedToken() ?? '');
}

/** The user a token names (for the header), without verifying it: the API does that. */
export function tokenUser(token: string): string {
  try {
    const payload = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))) as Record<string, unknown>;
    return String(payload.email ?? payload['cognito:username'] ?? payload.username ?? payload.sub ?? '');
  } catch {
    return '';
  }
}

/** Takes `#token=<jwt>` out of the address bar (it must not stay in history) and keeps it. */
export function takeFragmentToken(): boolean {
  const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (!match) return false;
  storeToken(decodeURIComponent(match[1]));
  history.replaceState(null, '', location.pathname + location.search);
  return true;
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
  // The access token names the user only by id; the ID token has the e-mail the header shows.
  if (tokens.id_token) localStorage.setItem(USER_KEY, tokenUser(tokens.id_token));
  return true;
}

/** Cognito's logout endpoint, which returns to this page. */
export function cognitoLogoutUrl(config: ClientConfig): string {
  return `https://${config.cognitoDomain}/logout?client_id=${encodeURIComponent(config.clientId ?? '')}&logout_uri=${encodeURIComponent(redirectUri())}`;
}
