/**
 * A database that takes its time to accept a connection — a paused Aurora Serverless v2 writer
 * resumes on the first one — must not fail requests that wait long enough. The layer reaches
 * the real Postgres through a TCP proxy that holds each new connection's first bytes; the waits
 * are the stack's (lib/database.ts), scaled down together with the resume time to keep the test
 * short: what matters is which side of the hold each wait falls.
 */
import type * as Shared from '@chatbot/shared/testing';
import { envDefault } from '../../layer/src/contracts/environment';
import { AURORA_RESUME_TIME, CONNECT_WAITS } from '../../lib/database';
import { freePort } from './support/redis-server';
import { TcpProxy } from './support/tcp-proxy';

/** 15 s of resume becomes 3 s here; every wait shrinks by the same factor. */
const SCALE = 0.2;
const scaled = (ms: number): number => Math.round(ms * SCALE);
const HOLD_MS = scaled(AURORA_RESUME_TIME.toMilliseconds());

let proxy: TcpProxy;
let proxiedUrl: string;
const layers: Array<typeof Shared> = [];

/** A fresh copy of the layer (its own config and pool), as a new Lambda container has. */
function layerWithConnectTimeout(connectTimeoutMs: number): typeof Shared {
  const saved = { DATABASE_URL: process.env.DATABASE_URL, DATABASE_CONNECT_TIMEOUT_MS: process.env.DATABASE_CONNECT_TIMEOUT_MS };
  Object.assign(process.env, { DATABASE_URL: proxiedUrl, DATABASE_CONNECT_TIMEOUT_MS: String(connectTimeoutMs) });
  try {
    let shared: typeof Shared | undefined;
    jest.isolateModules(() => {
      shared = require('@chatbot/shared/testing') as typeof Shared;
    });
    shared!.getConfig();
    layers.push(shared!);
    return shared!;
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

async function timedQuery(shared: typeof Shared): Promise<{ ms: number; rows?: unknown[]; error?: unknown }> {
  const started = performance.now();
  try {
    const { rows } = await shared.db.query('SELECT 1 AS ok');
    return { ms: performance.now() - started, rows };
  } catch (error) {
    return { ms: performance.now() - started, error };
  }
}

beforeAll(async () => {
  const target = new URL(process.env.DATABASE_URL as string);
  proxy = new TcpProxy(await freePort(), { host: target.hostname, port: Number(target.port || 5432) });
  await proxy.listen();
  proxy.handshakeDelayMs = HOLD_MS;
  const proxied = new URL(target);
  proxied.host = `127.0.0.1:${proxy.port}`;
  proxiedUrl = proxied.toString();
});

afterAll(async () => {
  await Promise.all(layers.map((shared) => shared.closeDatabase()));
  await proxy?.close();
});

describe('a database slow to accept connections (a paused Aurora writer resuming)', () => {
  it('the waits the stack sets in Aurora mode outlast the resume; the layer default does not', () => {
    const aurora = CONNECT_WAITS['aurora-serverless'];
    expect(aurora.request.toMilliseconds()).toBeGreaterThanOrEqual(20_000);
    expect(aurora.job.toMilliseconds()).toBeGreaterThanOrEqual(30_000);
    expect(aurora.request.toMilliseconds()).toBeGreaterThan(AURORA_RESUME_TIME.toMilliseconds());
    expect(envDefault('DATABASE_CONNECT_TIMEOUT_MS')).toBeLessThan(AURORA_RESUME_TIME.toMilliseconds());
  });

  it("with Aurora mode's request wait a query succeeds once the held handshake goes through", async () => {
    const shared = layerWithConnectTimeout(scaled(CONNECT_WAITS['aurora-serverless'].request.toMilliseconds()));

    const outcome = await timedQuery(shared);

    console.log(`[reliability] slow accept held ${HOLD_MS} ms: query with a ${scaled(20_000)} ms wait answered in ${outcome.ms.toFixed(0)} ms`);
    expect(outcome.error).toBeUndefined();
    expect(outcome.rows).toEqual([{ ok: 1 }]);
    // It did wait for the hold: the proxy was in the way.
    expect(outcome.ms).toBeGreaterThanOrEqual(HOLD_MS - 50);
  });

  it("with the layer's default wait the same query fails fast with the 503 database error", async () => {
    const waitMs = scaled(envDefault('DATABASE_CONNECT_TIMEOUT_MS'));
    const shared = layerWithConnectTimeout(waitMs);

    const outcome = await timedQuery(shared);

    console.log(`[reliability] slow accept held ${HOLD_MS} ms: query with a ${waitMs} ms wait failed after ${outcome.ms.toFixed(0)} ms`);
    expect(outcome.error).toBeInstanceOf(shared.DatabaseUnavailableError);
    expect((outcome.error as Shared.DatabaseUnavailableError).status).toBe(503);
    expect(outcome.ms).toBeLessThan(HOLD_MS);
  });
});
