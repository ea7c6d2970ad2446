/**
 * "What a user of the API sees": requests over HTTP through the local edge (local/server.ts,
 * what `npm start` runs: routing, the authorizer, the proxy event, the handler, the response
 * written to a socket), on the bench's database and key prefix. Cache on and cache off side by
 * side in one run, interleaved per request: one server, `CACHE_ENABLED` switched between two
 * requests and re-read as a fresh container would (the layer's config is per process, so two
 * in-process servers could not differ). A miss is a cache-on request right after its key was
 * deleted, as a writer's invalidation does.
 */
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { closeDatabase, closeRedis, databaseStats, getCacheService, redisKeys, redisStats, resetCacheService, resetConfig } from '@chatbot/shared/testing';
import { signLocalToken } from '../local/auth';
import { startLocalServer } from '../local/server';
import { CURVE_PERCENTILES, NINES_TICKS, lineChart, ninesAxis } from './charts';
import { LAMBDA_MEMORY_MB, costPerThousand, dollars, type RequestUse } from './cost';
import { RUN_ID } from './env';
import { seedConversation } from './fixtures';
import { markdownTable, ms, ratio, type TargetResult } from './report';
import { percentile, summarize, type Summary } from './stats';

const JWT_SECRET = `bench-user-view-${RUN_ID}`;
const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/** One timed HTTP exchange. */
interface Exchange {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  /** Request sent → first byte of the body. */
  readonly firstByteMs: number;
  /** Request sent → body complete. */
  readonly totalMs: number;
  /** Request sent → the first SSE frame that carries the assistant's text (POST only). */
  readonly firstTokenMs?: number;
  readonly bytes: number;
}

/** One keep-alive connection, as a browser keeps to the API. */
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function exchange(url: string, options: { method: string; token: string; body?: string; sse?: boolean }): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const start = nowMs();
    const request = http.request(
      url,
      {
        method: options.method,
        agent,
        headers: {
          Authorization: `Bearer ${options.token}`,
          ...(options.body ? { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(options.body)) } : {}),
        },
      },
      (response) => {
        let firstByteMs: number | undefined;
        let firstTokenMs: number | undefined;
        let text = '';
        let bytes = 0;
        response.on('data', (chunk: Buffer) => {
          firstByteMs ??= nowMs() - start;
          bytes += chunk.length;
          if (options.sse && firstTokenMs === undefined) {
            text += chunk.toString('utf8');
            // A legacy-encoding frame whose message is the assistant's, with text in it.
            if (/"role":\s*"assistant"[\s\S]*"parts":\s*\["[^"]/.test(text)) firstTokenMs = nowMs() - start;
          }
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, firstByteMs: firstByteMs ?? nowMs() - start, totalMs: nowMs() - start, firstTokenMs, bytes }));
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}

let cacheOn = true;
/** CACHE_ENABLED for the next requests, re-read as on a fresh container. */
function setCache(on: boolean): void {
  if (on === cacheOn) return;
  process.env.CACHE_ENABLED = on ? 'true' : 'false';
  resetConfig();
  resetCacheService();
  getCacheService();
  cacheOn = on;
}

/** A measured request kind: samples (ms) and what one request used on average. */
export interface UserViewSeries {
  readonly samples: readonly number[];
  readonly summary: Summary;
  readonly redisCommands: number;
  readonly postgresQueries: number;
  readonly bytes: number;
}

export interface UserViewResult {
  readonly messages: number;
  readonly detail: Record<'hit' | 'miss' | 'off', UserViewSeries>;
  readonly list: Record<'hit' | 'miss' | 'off', UserViewSeries>;
  /** POST, new conversation: first byte of the SSE body and first assistant text frame, cache on and off. */
  readonly post: Record<'on' | 'off', { firstByte: UserViewSeries; firstToken: Summary; total: Summary }>;
  /** The first GET after the layer's Redis and Postgres connections were closed (a new container's first request, less its init). */
  readonly firstRequest: Summary;
  readonly unexpected: Record<string, number>;
  readonly seconds: number;
}

interface Variant {
  readonly name: string;
  readonly before: () => Promise<void> | void;
  readonly run: () => Promise<Exchange>;
  readonly expectCache?: string;
}

/** Interleaved rounds; every sample kept (the chart needs the tail), with per-request Redis / Postgres counts. */
async function measure(variants: readonly Variant[], rounds: { iterations: number; warmup: number }, unexpected: Record<string, number>): Promise<Record<string, UserViewSeries>> {
  const acc = new Map(variants.map((v) => [v.name, { samples: [] as number[], commands: 0, queries: 0, bytes: 0 }]));
  for (let round = 0; round < rounds.warmup + rounds.iterations; round += 1) {
    for (let k = 0; k < variants.length; k += 1) {
      const variant = variants[(round + k) % variants.length];
      await variant.before();
      const commands = redisStats.commands;
      const queries = databaseStats.queries;
      const result = await variant.run();
      if (result.status !== 200) throw new Error(`${variant.name}: HTTP ${result.status}`);
      const cache = String(result.headers['x-cache'] ?? 'none');
      if (variant.expectCache && cache !== variant.expectCache) unexpected[`${variant.name}: ${cache}`] = (unexpected[`${variant.name}: ${cache}`] ?? 0) + 1;
      if (round < rounds.warmup) continue;
      const entry = acc.get(variant.name)!;
      entry.samples.push(result.totalMs);
      entry.commands += redisStats.commands - commands;
      entry.queries += databaseStats.queries - queries;
      entry.bytes += result.bytes;
    }
  }
  return Object.fromEntries(
    [...acc].map(([name, e]) => [
      name,
      { samples: e.samples, summary: summarize(e.samples), redisCommands: e.commands / e.samples.length, postgresQueries: e.queries / e.samples.length, bytes: e.bytes / e.samples.length },
    ]),
  );
}

/** Runs the section: seeds its own users, starts a local edge on a free port, measures, stops it. */
export async function measureUserView(raw: Redis, log: (message: string) => void, options: { messages?: number; iterations?: number } = {}): Promise<UserViewResult> {
  const started = nowMs();
  const messages = options.messages ?? 20;
  const iterations = options.iterations ?? 1000;
  const owner = `bench-user-view-${RUN_ID}`;
  log(`user view: seeding a ${messages}-message conversation and a list of 20`);
  const conversation = await seedConversation(owner, messages);
  for (let i = 0; i < 19; i += 1) await seedConversation(owner, 4);
  const token = signLocalToken(owner, { secret: JWT_SECRET });
  const server = await startLocalServer({ port: 0, host: '127.0.0.1', jwtSecret: JWT_SECRET, log: () => undefined, webClient: false, timings: false });
  const unexpected: Record<string, number> = {};
  try {
    const detailUrl = `${server.url}/backend-api/conversation/${conversation.id}`;
    const listUrl = `${server.url}/backend-api/conversations?offset=0&limit=20`;
    const get = (url: string) => () => exchange(url, { method: 'GET', token });
    const trio = (label: string, url: string, key: string): Variant[] => [
      { name: `${label} hit`, before: () => setCache(true), run: get(url), expectCache: 'HIT' },
      {
        name: `${label} miss`,
        before: async () => {
          setCache(true);
          await raw.del(key);
        },
        run: get(url),
        expectCache: 'MISS',
      },
      { name: `${label} off`, before: () => setCache(false), run: get(url), expectCache: 'BYPASS' },
    ];
    log(`user view: GET detail and list over HTTP, hit / miss / cache off interleaved, ${iterations} rounds`);
    const reads = await measure(
      [...trio('detail', detailUrl, redisKeys.conversationHistory(conversation.id)), ...trio('list', listUrl, redisKeys.conversationList(owner))],
      { iterations, warmup: 50 },
      unexpected,
    );

    log('user view: POST, time to the first SSE byte and to the first assistant text, cache on / off');
    const postUser = `bench-user-view-post-${RUN_ID}`;
    const postToken = signLocalToken(postUser, { secret: JWT_SECRET });
    const firstTokens: Record<'on' | 'off', number[]> = { on: [], off: [] };
    const totals: Record<'on' | 'off', number[]> = { on: [], off: [] };
    const post = (mode: 'on' | 'off'): Variant => ({
      name: `post ${mode}`,
      before: () => setCache(mode === 'on'),
      run: async () => {
        const body = JSON.stringify({
          action: 'next',
          messages: [{ id: randomUUID(), author: { role: 'user' }, content: { content_type: 'text', parts: ['How soon does the reply start?'] } }],
          parent_message_id: randomUUID(),
        });
        const result = await exchange(`${server.url}/backend-api/f/conversation`, { method: 'POST', token: postToken, body, sse: true });
        // The first-byte figure is the one recorded as samples; keep the others beside it.
        firstTokens[mode].push(result.firstTokenMs ?? Number.NaN);
        totals[mode].push(result.totalMs);
        return { ...result, totalMs: result.firstByteMs };
      },
    });
    const postRounds = { iterations: 150, warmup: 15 };
    const posts = await measure([post('on'), post('off')], postRounds, unexpected);
    const tail = (values: number[]) => summarize(values.slice(-postRounds.iterations).filter(Number.isFinite));

    log('user view: first request on fresh Redis and Postgres connections');
    setCache(true);
    const firsts: number[] = [];
    for (let i = 0; i < 10; i += 1) {
      await Promise.all([closeRedis(), closeDatabase()]);
      firsts.push((await exchange(detailUrl, { method: 'GET', token })).totalMs);
    }
    return {
      messages,
      detail: { hit: reads['detail hit'], miss: reads['detail miss'], off: reads['detail off'] },
      list: { hit: reads['list hit'], miss: reads['list miss'], off: reads['list off'] },
      post: {
        on: { firstByte: posts['post on'], firstToken: tail(firstTokens.on), total: tail(totals.on) },
        off: { firstByte: posts['post off'], firstToken: tail(firstTokens.off), total: tail(totals.off) },
      },
      firstRequest: summarize(firsts),
      unexpected,
      seconds: (nowMs() - started) / 1000,
    };
  } finally {
    setCache(true);
    agent.destroy();
    await server.close();
  }
}

/** Percentile curves of the GET detail: hit, miss, cache off. */
export function latencyChart(result: UserViewResult): string {
  const curve = (samples: readonly number[]) => {
    const sorted = [...samples].sort((a, b) => a - b);
    return CURVE_PERCENTILES.map((p) => [ninesAxis(p), percentile(sorted, p)] as const);
  };
  return lineChart({
    title: `GET a ${result.messages}-message conversation over HTTP (local edge): latency percentiles`,
    xLabel: 'percentile',
    yLabel: 'ms, request sent to body complete',
    xTicks: NINES_TICKS,
    series: [
      { name: 'cache hit', points: curve(result.detail.hit.samples) },
      { name: 'cache miss (after an invalidation)', points: curve(result.detail.miss.samples) },
      { name: 'cache off (Postgres every time)', points: curve(result.detail.off.samples) },
    ],
  });
}

/** The cost of a kind of request, per 1,000, from its measured use. */
function costRow(name: string, use: RequestUse): string[] {
  const c = costPerThousand(use);
  return [name, ms(use.lambdaMs), `${use.redisCommands.toFixed(1)} / ${use.postgresStatements.toFixed(2)}`, dollars(c.lambdaCompute + c.lambdaRequests), dollars(c.apiGateway), dollars(c.cache + c.database), dollars(c.infrastructure), c.model > 0 ? dollars(c.model) : '—', dollars(c.total)];
}

/** Assumed reply, as in docs/deploy.md's Capacity section: 400 output tokens streamed over 5.5 s, 2,000 input tokens. */
const REPLY = { streamingMs: 5500, inputTokens: 2000, outputTokens: 400 };

/** The section's text, its targets and the cost table; `coldStart` is §6's figure when the full bench ran it. */
export function userViewSection(result: UserViewResult, coldStart?: { sinceProcessStartMs: number; requireMs: number }): { text: string[]; targets: TargetResult[] } {
  const row = (name: string, s: UserViewSeries, against?: UserViewSeries) => [
    name,
    ms(s.summary.p50),
    ms(s.summary.p99),
    against ? ratio(against.summary.p50 / s.summary.p50) : '',
    `${s.redisCommands.toFixed(1)} / ${s.postgresQueries.toFixed(2)}`,
    String(Math.round(s.bytes)),
  ];
  const { detail, list, post } = result;
  const reads = markdownTable([
    ['request', 'p50 ms', 'p99 ms', 'cache off p50 ÷ this p50', 'Redis commands / Postgres queries per request', 'body bytes'],
    row(`GET conversation (${result.messages} messages), hit`, detail.hit, detail.off),
    row('GET conversation, miss (right after an invalidation)', detail.miss, detail.off),
    row('GET conversation, cache off', detail.off, detail.off),
    row('GET conversations (a page of 20), hit', list.hit, list.off),
    row('GET conversations, miss', list.miss, list.off),
    row('GET conversations, cache off', list.off, list.off),
  ]);
  const postTable = markdownTable([
    ['POST /backend-api/f/conversation (new conversation)', 'first SSE byte p50 / p99 ms', 'first assistant text p50 / p99 ms', 'reply complete p50 ms', 'Redis / Postgres per request'],
    ...(['on', 'off'] as const).map((mode) => [
      `cache ${mode}`,
      `${ms(post[mode].firstByte.summary.p50)} / ${ms(post[mode].firstByte.summary.p99)}`,
      `${ms(post[mode].firstToken.p50)} / ${ms(post[mode].firstToken.p99)}`,
      ms(post[mode].total.p50),
      `${post[mode].firstByte.redisCommands.toFixed(1)} / ${post[mode].firstByte.postgresQueries.toFixed(2)}`,
    ]),
  ]);
  const cold = coldStart
    ? `Cold start: a fresh Node process loads the layer and the get-conversation handler in ${ms(coldStart.requireMs)} ms (${ms(coldStart.sinceProcessStartMs)} ms since the process started; §6). On Lambda the runtime's own init comes before that, and the first request then opens its connections: here the first GET on fresh Redis and Postgres connections took ${ms(result.firstRequest.p50)} ms (p50 of ${result.firstRequest.n}; a warm hit: ${ms(detail.hit.summary.p50)} ms). On AWS add TLS and AUTH to the cache and the RDS Proxy handshake.`
    : `Cold start: §6 of the full run (\`npm run bench\`) times a fresh process loading the layer and each handler. Here, the first GET on fresh Redis and Postgres connections (what a new container's first request adds after its init) took ${ms(result.firstRequest.p50)} ms (p50 of ${result.firstRequest.n}; a warm hit: ${ms(detail.hit.summary.p50)} ms).`;

  // Cost per use, from this run's medians (a Lambda is billed for its handler's duration; the
  // edge here is in the same process, so the HTTP time is an upper bound of it).
  const readUse = (s: UserViewSeries): RequestUse => ({ lambdaMs: s.summary.p50, redisCommands: s.redisCommands, redisBytes: s.bytes, postgresStatements: s.postgresQueries });
  const turnUse = (mode: 'on' | 'off'): RequestUse => ({
    lambdaMs: post[mode].total.p50 + REPLY.streamingMs,
    redisCommands: post[mode].firstByte.redisCommands,
    redisBytes: 0,
    postgresStatements: post[mode].firstByte.postgresQueries,
    modelInputTokens: REPLY.inputTokens,
    modelOutputTokens: REPLY.outputTokens,
  });
  const costs = markdownTable([
    ['per 1,000', 'billed ms each', 'Redis / Postgres each', 'Lambda (GB-s + requests)', 'API Gateway', 'cache + database share', 'infrastructure', 'model tokens', 'total'],
    costRow('reads: GET conversation, hit', readUse(detail.hit)),
    costRow('reads: GET conversation, cache off', readUse(detail.off)),
    costRow('reads: GET conversations, hit', readUse(list.hit)),
    costRow('turns: POST, cache on (+ 5.5 s of streaming)', turnUse('on')),
  ]);

  const targets: TargetResult[] = [
    {
      name: 'user view: GET conversation hit p99 over HTTP',
      target: '< 50 ms',
      measured: `${ms(detail.hit.summary.p99)} ms (p50 ${ms(detail.hit.summary.p50)})`,
      met: detail.hit.summary.p99 < 50,
      meaning: 'opening a conversation no longer feels instant for 1 in 100 opens, before API Gateway and the network add theirs',
    },
    {
      name: 'user view: GET conversation hit vs cache off, p50 over HTTP',
      target: '≥ 1.5× faster',
      measured: `${ratio(detail.off.summary.p50 / detail.hit.summary.p50)} (${ms(detail.hit.summary.p50)} vs ${ms(detail.off.summary.p50)} ms)`,
      met: detail.off.summary.p50 >= 1.5 * detail.hit.summary.p50,
      meaning: 'the cache does not shorten a reader\'s wait noticeably here: its value is then Postgres load (§3), not latency',
    },
    {
      name: 'user view: first SSE byte of a POST, p50 (cache on)',
      target: '< 100 ms',
      measured: `${ms(post.on.firstByte.summary.p50)} ms (p99 ${ms(post.on.firstByte.summary.p99)})`,
      met: post.on.firstByte.summary.p50 < 100,
      meaning: "a user who sends a message waits longer than the ~100 ms that reads as immediate for this API's own work alone, before the model's first token adds its own",
    },
  ];
  const text = [
    '## What a user of the API sees',
    `Requests over HTTP through the local edge (\`local/server.ts\`, what \`npm start\` runs: routing, the authorizer verifying a bearer token, the proxy event, the handler, the response written to the socket), one keep-alive connection, on this run's database and key prefix. Cache on and off interleaved request by request: one server whose \`CACHE_ENABLED\` is switched between two requests and re-read as a fresh container would (the layer's config is per process). "miss" is a cache-on request right after its key was deleted, as a writer's invalidation does. Times are from sending the request to the last byte of the body; the client runs in the same process as the server, so its own parsing is in them. ${result.detail.hit.samples.length} rounds of each read. On AWS, API Gateway and the network add tens of ms to every row alike; the differences between rows stay.`,
    reads,
    '![GET a conversation: latency percentiles for a cache hit, a miss and the cache off](bench-latency.svg)',
    `POSTs start a new conversation each, ${post.on.firstByte.samples.length} per mode, interleaved, with the offline local model, which answers at once. The response starts only once the model's first event is in (layer/src/replies/model-stream.ts waits for it, up to \`LLM_FIRST_TOKEN_WAIT_MS\`, so a provider failing up front is still answered as a JSON 502 rather than a broken stream), so the first SSE byte and the first assistant text arrive together: with a model that answers at once, the "first SSE byte" is this API's own share of the wait before anything shows (live-stream slot, turn limit, the user message stored, the context read, the reply's stream opened). On Bedrock the model's time to its first token comes on top (about 0.5 s for the default model, docs/deploy.md, Capacity). With the cache on a POST does ${post.on.firstByte.redisCommands.toFixed(0)} Redis commands (turn limit, context window, invalidations, the reply's recording) that the cache-off path skips, which is the difference between the two rows.`,
    postTable,
    cold,
    '### Cost per use',
    `Per 1,000 requests of a kind, us-east-1 on-demand, beside the idle costs of docs/deploy.md ("Profiles and what they cost at idle"): Lambda on Arm at ${LAMBDA_MEMORY_MB} MB (the functions' memory, lib/functions.ts) billed for the measured p50 above, rounded up to the ms (an upper bound: the HTTP time includes the edge); $0.20 per million Lambda requests; API Gateway REST $3.50 per million; the cache at ElastiCache Serverless for Valkey's $0.0023 per million ECPU (one per command, one per KB moved); the database as a share of Aurora Serverless v2 ACU-hours ($0.12) at docs/deploy.md's planning figure of 250 statements per ACU-second. On provisioned nodes (the default profiles) the cache and database lines are already in the idle cost and a request adds nothing to them until a larger node is needed. A turn assumes docs/deploy.md's reply: 400 output tokens streamed over 5.5 s, billed to the POST's function, and 2,000 input tokens, at Claude Haiku 4.5's $1 / $5 per million input / output tokens.`,
    costs,
    `The model is most of a turn's cost, and the 5.5 s the function streams it is most of the rest; a read costs mainly its two request fees (API Gateway ${dollars(costPerThousand(readUse(detail.hit)).apiGateway)} of ${dollars(costPerThousand(readUse(detail.hit)).infrastructure)} per 1,000 hits).`,
  ];
  return { text, targets };
}
