/**
 * docs/api.md#errors: Postgres down → 503 with a JSON `detail`, promptly, and
 * recovery without a restart. The layer reaches Postgres through an in-process TCP proxy the
 * test breaks: `refuse` (server down), `blackhole` (accepts, never answers), frozen live
 * connections (a partition in the middle of a session).
 */
import { newUserId } from '../support/handlers';
import { AssertionDatabase } from './support/database';
import { closeAllLayerInstances, loadLayerInstance, type LayerInstance } from './support/layer-instance';
import { AckLedger } from './support/ledger';
import { freePort } from './support/redis-server';
import { TcpProxy } from './support/tcp-proxy';
import { getChecked, postInto, seedConversations, type TrackedConversation } from './support/traffic';

const CONNECT_TIMEOUT_MS = 500;
const STATEMENT_TIMEOUT_MS = 1000;
/** Scheduling slack on a busy 2-core box. */
const SLACK_MS = 1000;

const db = new AssertionDatabase();
let proxy: TcpProxy;
let layer: LayerInstance;
const ledger = new AckLedger();
const userId = newUserId();
let conversations: TrackedConversation[];

interface Outcome {
  readonly what: string;
  readonly statusCode: number;
  readonly ms: number;
  readonly json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  readonly contentType?: string;
}

/** Every request a client can make that needs Postgres (nothing cached). */
async function requestsNeedingPostgres(): Promise<Outcome[]> {
  const timed = async (what: string, run: () => Promise<{ statusCode: number; json: unknown; headers: Record<string, string> }>): Promise<Outcome> => {
    const started = performance.now();
    const response = await run();
    return { what, statusCode: response.statusCode, ms: performance.now() - started, json: response.json, contentType: response.headers['content-type'] };
  };
  const [, uncached] = conversations;
  // Earlier steps may have cached them; these requests must reach Postgres.
  const { redisKeys, getCacheService } = layer.shared;
  await getCacheService().delete(redisKeys.conversationHistory(uncached.id), redisKeys.conversationList(userId));
  return [
    await timed('get', () => layer.api.getConversation(uncached.id, userId)),
    await timed('list', () => layer.api.listConversations(userId, { offset: '0', limit: '7' })),
    await timed('post-new', () => layer.api.postRaw({ action: 'next', messages: [{ id: `m-${Date.now()}`, author: { role: 'user' }, content: { content_type: 'text', parts: ['hi'] } }] }, userId)),
    await timed('post-existing', () =>
      layer.api.postRaw(
        {
          action: 'next',
          conversation_id: uncached.id,
          parent_message_id: uncached.lastAssistantId,
          messages: [{ id: `m-${Date.now()}`, author: { role: 'user' }, content: { content_type: 'text', parts: ['hi'] } }],
        },
        userId,
      ),
    ),
  ];
}

function expect503(outcomes: readonly Outcome[], boundMs: number): void {
  for (const outcome of outcomes) {
    expect({ what: outcome.what, status: outcome.statusCode }).toEqual({ what: outcome.what, status: 503 });
    expect(outcome.contentType).toMatch(/^application\/json/);
    expect(outcome.json.detail).toEqual({ message: expect.any(String), code: 'database_unavailable' });
    expect({ what: outcome.what, fast: outcome.ms < boundMs }).toEqual({ what: outcome.what, fast: true });
  }
}

const summary = (label: string, outcomes: readonly Outcome[]) =>
  console.log(`[reliability] postgres ${label}: ${outcomes.map((o) => `${o.what} ${o.statusCode} in ${o.ms.toFixed(0)} ms`).join(', ')}`);

beforeAll(async () => {
  const target = new URL(process.env.DATABASE_URL as string);
  proxy = new TcpProxy(await freePort(), { host: target.hostname, port: Number(target.port || 5432) });
  await proxy.listen();
  const proxied = new URL(target);
  proxied.host = `127.0.0.1:${proxy.port}`;
  layer = loadLayerInstance({
    DATABASE_URL: proxied.toString(),
    DATABASE_CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT_MS),
    DATABASE_STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS),
  });
  conversations = await seedConversations(layer, ledger, userId, 2);
});

afterAll(async () => {
  await closeAllLayerInstances();
  await proxy?.close();
  await db.close();
});

describe('Postgres faults', () => {
  it('Postgres refusing connections: 503 JSON detail at once; cached conversations are still served', async () => {
    const [cached] = conversations;
    await getChecked(layer, cached);
    expect((await getChecked(layer, cached)).cache).toBe('HIT');

    await proxy.setMode('refuse');
    const outcomes = await requestsNeedingPostgres();
    summary('refusing', outcomes);
    expect503(outcomes, CONNECT_TIMEOUT_MS + SLACK_MS);
    const fromCache = await getChecked(layer, cached);
    expect(fromCache).toMatchObject({ statusCode: 200, cache: 'HIT', missing: [] });
  });

  it('Postgres accepting but never answering new connections: 503 within the connect timeout, also for concurrent requests', async () => {
    await proxy.setMode('blackhole');
    const outcomes = await requestsNeedingPostgres();
    const started = performance.now();
    const concurrent = await Promise.all(
      Array.from({ length: 6 }, async (_, i) => {
        const response = await layer.api.listConversations(userId, { limit: String(i + 1) });
        return { what: `list#${i}`, statusCode: response.statusCode, ms: performance.now() - started, json: response.json, contentType: response.headers['content-type'] };
      }),
    );
    summary('blackholed (new connections)', [...outcomes, ...concurrent]);
    expect503(outcomes, CONNECT_TIMEOUT_MS + SLACK_MS);
    // Six requests on a pool of two: each waits at most one connect timeout for a client, then one for a connection.
    expect503(concurrent, 2 * CONNECT_TIMEOUT_MS + SLACK_MS);
  });

  it('recovers without a restart once Postgres is back, and loses nothing acknowledged', async () => {
    await proxy.setMode('forward');
    const healedAt = performance.now();
    let recoveredMs: number | undefined;
    while (recoveredMs === undefined && performance.now() - healedAt < 5000) {
      const response = await layer.api.listConversations(userId);
      if (response.statusCode === 200) recoveredMs = performance.now() - healedAt;
    }
    console.log(`[reliability] postgres recovered after ${recoveredMs?.toFixed(0)} ms`);
    expect(recoveredMs).toBeDefined();
    const post = await postInto(layer, ledger, conversations[1], 'after recovery');
    expect(post.statusCode).toBe(200);
    expect(await getChecked(layer, conversations[1])).toMatchObject({ statusCode: 200, missing: [] });
    expect(await ledger.lost(db)).toEqual([]);
  });

  it('live pooled connections frozen mid-session: 503 within the query timeout (statement timeout + 1 s), then recovery', async () => {
    // Warm the pool: both connections are open and idle.
    await Promise.all([layer.api.listConversations(userId, { limit: '3' }), layer.api.listConversations(userId, { limit: '4' })]);
    await proxy.setMode('blackhole');
    // A write first, so its transaction gets one of the frozen connections.
    const started = performance.now();
    const write = await postInto(layer, ledger, conversations[0], 'while frozen');
    const firstWrite: Outcome = { what: 'post-on-frozen-connection', statusCode: write.statusCode, ms: performance.now() - started, json: JSON.parse(write.body), contentType: 'application/json' };
    const outcomes = [firstWrite, ...(await requestsNeedingPostgres())];
    summary('blackholed (live connections)', outcomes);
    expect503(outcomes, STATEMENT_TIMEOUT_MS + 1000 + SLACK_MS);

    await proxy.setMode('refuse');
    await proxy.setMode('forward');
    const healedAt = performance.now();
    let recovered = false;
    while (!recovered && performance.now() - healedAt < 5000) recovered = (await layer.api.listConversations(userId)).statusCode === 200;
    expect(recovered).toBe(true);
    const post = await postInto(layer, ledger, conversations[0], 'after the partition');
    expect(post.statusCode).toBe(200);
    expect(await getChecked(layer, conversations[0])).toMatchObject({ statusCode: 200, missing: [] });
    expect(await ledger.lost(db)).toEqual([]);
  });
});
