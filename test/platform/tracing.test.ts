/**
 * Where a request spent its time (docs/api.md#errors has none of this; docs/deploy.md "Tracing"):
 * every Redis operation, Postgres statement and model call is an X-Ray subsegment of the
 * function's segment when the invocation is sampled — sent to the daemon Lambda runs, faked here
 * at its boundary by a UDP listener speaking its protocol — and adds to a per-request summary
 * (`LOG_REQUEST_TIMINGS`). Real handlers, Postgres and Redis.
 */
import { createSocket, type Socket } from 'node:dgram';
import { closeDatabase, closeRedis, logger, resetCacheService, resetConfig, setTimingSink, type TimingSummary } from '@chatbot/shared/testing';
import { getConversation, newUserId, sendMessage } from '../support/handlers';

const TRACE = { root: '1-6751a2b3-0123456789abcdef01234567', parent: '53995c3f42cd8ad8' };
const saved = { ...process.env };
let daemon: Socket;
let documents: Array<Record<string, unknown>>;

beforeAll(async () => {
  daemon = createSocket('udp4');
  documents = [];
  daemon.on('message', (message) => {
    const [header, body] = message.toString('utf8').split('\n');
    expect(JSON.parse(header)).toEqual({ format: 'json', version: 1 });
    documents.push(JSON.parse(body));
  });
  await new Promise<void>((resolve) => daemon.bind(0, '127.0.0.1', () => resolve()));
});

afterEach(() => {
  process.env = { ...saved };
  resetConfig();
  resetCacheService();
  setTimingSink(undefined);
});

afterAll(async () => {
  daemon.close();
  await closeRedis();
  await closeDatabase();
});

function sampled(sampled: boolean, root = TRACE.root): void {
  process.env.AWS_XRAY_DAEMON_ADDRESS = `127.0.0.1:${daemon.address().port}`;
  process.env._X_AMZN_TRACE_ID = `Root=${root};Parent=${TRACE.parent};Sampled=${sampled ? 1 : 0}`;
}

const arrived = async (count: number) => {
  for (let i = 0; i < 100 && documents.length < count; i += 1) await new Promise((resolve) => setTimeout(resolve, 10));
};

describe('X-Ray subsegments', () => {
  it('a sampled GET miss sends its Redis operations and its Postgres statement as subsegments of the function segment', async () => {
    const userId = newUserId();
    const sent = await sendMessage(userId, 'trace me');
    sampled(true);
    documents.length = 0;

    const read = await getConversation(sent.conversationId, userId);
    await arrived(4);

    expect(read.headers['x-cache']).toBe('MISS');
    const names = documents.map((document) => document.name);
    expect(names).toEqual(expect.arrayContaining(['redis cache.get', 'redis cache.acquireFillLease', 'postgres SELECT conversations', 'redis cache.fillIfLeased']));
    for (const document of documents) {
      expect(document).toMatchObject({ type: 'subsegment', trace_id: TRACE.root, parent_id: TRACE.parent, id: expect.stringMatching(/^[0-9a-f]{16}$/) });
      expect(document.end_time as number).toBeGreaterThanOrEqual(document.start_time as number);
    }
  });

  it('a sampled POST sends the model call too; an unsampled request sends nothing', async () => {
    sampled(true);
    documents.length = 0;
    await sendMessage(newUserId(), 'a reply, traced');
    await arrived(5);
    expect(documents.map((document) => document.name)).toContain('model local local-offline-model');

    const unsampledRoot = '1-6751a2b3-fedcba9876543210fedcba98';
    sampled(false, unsampledRoot);
    await sendMessage(newUserId(), 'not sampled');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(documents.filter((document) => document.trace_id === unsampledRoot)).toEqual([]);
  });
});

describe('trace id in the logs', () => {
  it('every log line of the layer\'s logger carries the invocation\'s X-Ray trace id (from the header Lambda sets)', () => {
    sampled(false);
    const lines: string[] = [];
    // Powertools writes JSON lines to stdout through a console of its own.
    const capture = (chunk: unknown) => {
      lines.push(String(chunk));
      return true;
    };
    // Warnings and errors go to stderr.
    const spies = [process.stdout, process.stderr].map((stream) => jest.spyOn(stream, 'write').mockImplementation(capture as typeof stream.write));
    logger.setLogLevel('INFO');
    try {
      logger.info('Request failed', { status: 404 });
      logger.warn('Redis operation failed; continuing without it');
    } finally {
      logger.setLogLevel('SILENT');
      for (const spy of spies) spy.mockRestore();
    }
    const logged = lines.map((line) => JSON.parse(line));
    expect(logged).toHaveLength(2);
    for (const line of logged) expect(line).toMatchObject({ service: 'chatbot-api', xray_trace_id: TRACE.root });
  });
});

describe('LOG_REQUEST_TIMINGS', () => {
  it('reports one summary per request: a hit is one Redis operation and no statement; a POST\'s comes when its stream ends, with the model', async () => {
    const summaries: Array<TimingSummary & { resource: string; status: number }> = [];
    setTimingSink((summary, request) => summaries.push({ ...summary, ...request }));
    const userId = newUserId();

    const sent = await sendMessage(userId, 'count my time');
    await getConversation(sent.conversationId, userId);
    await getConversation(sent.conversationId, userId);

    expect(summaries.map((summary) => `${summary.resource} ${summary.status}`)).toEqual([
      '/backend-api/f/conversation 200',
      '/backend-api/conversation/{conversation_id} 200',
      '/backend-api/conversation/{conversation_id} 200',
    ]);
    const [post, miss, hit] = summaries;
    expect(post.model.count).toBe(2); // the reply and the title
    expect(post.postgres.count).toBeGreaterThanOrEqual(2);
    expect(miss.postgres.count).toBe(1);
    expect(hit).toMatchObject({ redis: { count: 1 }, redisCommands: 1, postgres: { count: 0, ms: 0 }, model: { count: 0 } });
    // A miss reads, then sets under its lease: more commands than operations would say of it alone.
    expect(miss.redisCommands).toBeGreaterThan(1);
    // The POST's invalidations, reply-state scripts and context reads, each counted.
    expect(post.redisCommands).toBeGreaterThan(post.redis.count);
    expect(hit.totalMs).toBeGreaterThanOrEqual(hit.redis.ms);
  });

  it('is off by default: no summary line in the log', async () => {
    const info = jest.spyOn(logger, 'info');
    try {
      await sendMessage(newUserId(), 'quiet');
      expect(info.mock.calls.filter(([message]) => message === 'Request timings')).toEqual([]);
      process.env.LOG_REQUEST_TIMINGS = 'true';
      resetConfig();
      await sendMessage(newUserId(), 'counted');
      expect(info.mock.calls.filter(([message]) => message === 'Request timings')).toHaveLength(1);
    } finally {
      info.mockRestore();
    }
  });
});
