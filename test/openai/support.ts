/**
 * The official `openai` SDK, unmodified, against the local server over HTTP: one server per
 * test file, a client per user (the SDK's `apiKey` is a local token, as a deployed one would be
 * a Cognito access token).
 */
import { randomUUID } from 'node:crypto';
import OpenAI from 'openai';
import { signLocalToken } from '../../local/auth';
import type { LocalServer } from '../../local/server';

export interface OpenAiTestServer {
  readonly server: LocalServer;
  /** One line per request the server answered (`METHOD /path -> status`). */
  readonly log: string[];
  /** An SDK client for a new user (or `userId`). */
  client(options?: { readonly userId?: string; readonly maxRetries?: number }): { readonly client: OpenAI; readonly userId: string; readonly token: string };
  /** `fetch` against the server, authenticated as `token`. */
  fetch(path: string, token: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

export async function startOpenAiTestServer(secret: string): Promise<OpenAiTestServer> {
  const { startLocalServer } = await import('../../local/server');
  const log: string[] = [];
  const server = await startLocalServer({ port: 0, jwtSecret: secret, log: (line) => log.push(line) });
  return {
    server,
    log,
    client(options = {}) {
      const userId = options.userId ?? `sdk-${randomUUID()}`;
      const token = signLocalToken(userId, { secret });
      return { client: new OpenAI({ apiKey: token, baseURL: `${server.url}/v1`, maxRetries: options.maxRetries ?? 0 }), userId, token };
    },
    fetch: (path, token, init = {}) =>
      fetch(`${server.url}${path}`, { ...init, headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', ...(init.headers as Record<string, string>) } }),
    async close() {
      await server.close();
      const shared = await import('@chatbot/shared/testing');
      await Promise.all([shared.closeDatabase(), shared.closeRedis()]);
    },
  };
}

/** Waits until `check` holds (polling every 20 ms), or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined | false>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
