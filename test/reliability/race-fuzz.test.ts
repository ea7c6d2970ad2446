/**
 * docs/api.md#cache-contract rule 3 under concurrency: once a POST has returned (stream read to the end), no GET
 * issued afterwards — on any Lambda container — serves a body without that message, and no
 * list read afterwards shows the conversation's old `update_time`. Several isolated copies
 * of the layer stand in for containers; one reaches Postgres through a slow link, so its
 * cache fills often land after a writer's DEL (the stale-fill race the fill leases close).
 * Then the thundering herd: 40 concurrent GETs right after a POST's invalidation cause at
 * most one Postgres load per wave, and none of them is stale. The last case reads through
 * OpenAI's API (`/v1` item pages and conversation objects, their own cached hash) while
 * backend-api turns, `/v1` item appends and metadata updates are acknowledged.
 */
import { newUserId } from '../support/handlers';
import { AssertionDatabase } from './support/database';
import { closeAllLayerInstances, loadLayerInstance, type LayerInstance } from './support/layer-instance';
import { AckLedger } from './support/ledger';
import { freePort } from './support/redis-server';
import { TcpProxy } from './support/tcp-proxy';
import { parseSse } from '../support/sse';
import { countBy, missingFrom, seedConversations, type TrackedConversation } from './support/traffic';

const MIN_CHECKED_GETS = 1000;
const TARGET_CHECKED_GETS = 1500;
const MAX_DURATION_MS = 45_000;

const db = new AssertionDatabase();
let slowLink: TcpProxy | undefined;

afterAll(async () => {
  await closeAllLayerInstances();
  await slowLink?.close();
  await db.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)];

interface Violation {
  readonly kind: 'get' | 'list';
  readonly conversationId: string;
  readonly instance: number;
  readonly cache?: string;
  readonly detail: string;
}

let containers: LayerInstance[] = [];
beforeAll(async () => {
  const target = new URL(process.env.DATABASE_URL as string);
  slowLink = new TcpProxy(await freePort(), { host: target.hostname, port: Number(target.port || 5432) });
  slowLink.latencyMs = 15;
  await slowLink.listen();
  const slowUrl = new URL(target);
  slowUrl.host = `127.0.0.1:${slowLink.port}`;
  // Hundreds of turns per user per run: the per-user turn limit is not what this measures.
  const unlimited = { USER_TURN_LIMIT: '0' };
  containers = [
    loadLayerInstance(unlimited),
    loadLayerInstance(unlimited),
    loadLayerInstance(unlimited),
    loadLayerInstance({ ...unlimited, DATABASE_URL: slowUrl.toString(), DATABASE_POOL_MAX: '4' }),
  ];
});

it(`no GET after an acknowledged POST misses its message: ${MIN_CHECKED_GETS}+ checked reads across 4 containers`, async () => {

  const ledger = new AckLedger();
  const users = [newUserId(), newUserId()];
  const conversations: TrackedConversation[] = [];
  for (const userId of users) conversations.push(...(await seedConversations(containers[0], ledger, userId, 2)));
  /** Per conversation: the newest acknowledged assistant message's create_time (epoch s). */
  const ackedUpdate = new Map<string, number>();

  let stop = false;
  let checkedGets = 0;
  let checkedLists = 0;
  let posts = 0;
  const violations: Violation[] = [];
  const cacheStatuses: string[] = [];
  const failures: string[] = [];

  const reader = async () => {
    while (!stop) {
      const index = Math.floor(Math.random() * containers.length);
      const container = containers[index];
      const conversation = pick(conversations);
      if (Math.random() < 0.2) {
        const expected = new Map(conversations.filter((c) => c.userId === conversation.userId).map((c) => [c.id, ackedUpdate.get(c.id) ?? 0]));
        const response = await container.api.listConversations(conversation.userId, { limit: '10' });
        if (response.statusCode !== 200) {
          failures.push(`list ${response.statusCode}`);
          continue;
        }
        checkedLists += 1;
        for (const [id, updatedAt] of expected) {
          const item = response.json.items.find((i: { id: string }) => i.id === id);
          // update_time is set after the reply is inserted; ISO strings carry milliseconds.
          if (!item || Date.parse(item.update_time) / 1000 < updatedAt - 0.001) {
            violations.push({ kind: 'list', conversationId: id, instance: index, cache: response.headers['x-cache'], detail: item ? `update_time ${item.update_time} < ${updatedAt}` : 'missing' });
          }
        }
      } else {
        const expected = [...conversation.acked];
        const response = await container.api.getConversation(conversation.id, conversation.userId);
        if (response.statusCode !== 200) {
          failures.push(`get ${response.statusCode}`);
          continue;
        }
        checkedGets += 1;
        cacheStatuses.push(response.headers['x-cache']);
        const missing = missingFrom(response.body, expected);
        if (missing.length > 0) {
          violations.push({ kind: 'get', conversationId: conversation.id, instance: index, cache: response.headers['x-cache'], detail: `missing ${missing.join(', ')}` });
        }
      }
    }
  };

  const writer = async (conversation: TrackedConversation) => {
    let n = 0;
    while (!stop) {
      const container = pick(containers);
      // Parents are the last acknowledged reply; two writers on one conversation make sibling branches.
      const outcome = await ledger.post(container, conversation.userId, `fuzz ${n++}`, { conversationId: conversation.id, parentMessageId: conversation.lastAssistantId });
      if (outcome.statusCode !== 200 || !outcome.turn?.assistantMessageId) {
        failures.push(`post ${outcome.statusCode}`);
        continue;
      }
      posts += 1;
      const reply = parseSse(outcome.body).filter((e) => e.json?.message?.id === outcome.turn?.assistantMessageId).at(-1);
      const createTime = reply?.json.message.create_time as number | undefined;
      conversation.acked.push(outcome.turn.userMessageId, outcome.turn.assistantMessageId);
      conversation.lastAssistantId = outcome.turn.assistantMessageId;
      if (createTime) ackedUpdate.set(conversation.id, Math.max(ackedUpdate.get(conversation.id) ?? 0, createTime));
      await sleep(Math.random() * 20);
    }
  };

  const started = performance.now();
  const loops = [
    ...Array.from({ length: 8 }, reader),
    ...conversations.map((conversation) => writer(conversation)),
    writer(conversations[0]),
    writer(conversations[2]),
  ];
  while (!stop) {
    await sleep(100);
    const elapsed = performance.now() - started;
    stop = (checkedGets >= TARGET_CHECKED_GETS && posts >= 100) || elapsed > MAX_DURATION_MS;
  }
  await Promise.all(loops);
  const seconds = (performance.now() - started) / 1000;

  console.log(
    `[reliability] race fuzz: ${checkedGets} GETs checked (${JSON.stringify(countBy(cacheStatuses, (s) => s))}), ${checkedLists} lists checked, ` +
      `${posts} posts acknowledged, 4 containers, ${conversations.length} conversations, ${seconds.toFixed(1)} s; violations: ${violations.length}, failures: ${failures.length}`,
  );
  expect(failures).toEqual([]);
  expect(violations.slice(0, 10)).toEqual([]);
  expect(checkedGets).toBeGreaterThanOrEqual(MIN_CHECKED_GETS);
  expect(cacheStatuses).toContain('HIT');
  // The list check compared against real reply times for every conversation.
  expect(ackedUpdate.size).toBe(conversations.length);
  expect(await ledger.lost(db)).toEqual([]);
}, 90_000);

const RENAME_TARGET_READS = 800;
const RENAME_MAX_DURATION_MS = 20_000;

it(`no GET or list after an acknowledged rename serves an older title: ${RENAME_TARGET_READS}+ checked reads across 4 containers`, async () => {
  const ledger = new AckLedger();
  const userId = newUserId();
  const conversations = await seedConversations(containers[0], ledger, userId, 3);
  /** Per conversation: the highest rename number acknowledged so far; one renamer each, so titles only grow. */
  const acked = new Map<string, number>(conversations.map((c) => [c.id, -1]));
  const titleNumber = (title: unknown): number => (typeof title === 'string' && /^rename (\d+)$/.test(title) ? Number(title.slice(7)) : -1);

  let stop = false;
  let checkedGets = 0;
  let checkedLists = 0;
  let renames = 0;
  const violations: Violation[] = [];
  const cacheStatuses: string[] = [];
  const failures: string[] = [];

  const reader = async () => {
    while (!stop) {
      const index = Math.floor(Math.random() * containers.length);
      const container = containers[index];
      const conversation = pick(conversations);
      if (Math.random() < 0.3) {
        const expected = new Map(acked);
        const response = await container.api.listConversations(userId, { limit: '10' });
        if (response.statusCode !== 200) {
          failures.push(`list ${response.statusCode}`);
          continue;
        }
        checkedLists += 1;
        for (const [id, floor] of expected) {
          const item = response.json.items.find((i: { id: string }) => i.id === id);
          if (!item || titleNumber(item.title) < floor) {
            violations.push({ kind: 'list', conversationId: id, instance: index, cache: response.headers['x-cache'], detail: `title ${item?.title} < rename ${floor}` });
          }
        }
      } else {
        const floor = acked.get(conversation.id)!;
        const response = await container.api.getConversation(conversation.id, userId);
        if (response.statusCode !== 200) {
          failures.push(`get ${response.statusCode}`);
          continue;
        }
        checkedGets += 1;
        cacheStatuses.push(response.headers['x-cache']);
        if (titleNumber(response.json.title) < floor) {
          violations.push({ kind: 'get', conversationId: conversation.id, instance: index, cache: response.headers['x-cache'], detail: `title ${response.json.title} < rename ${floor}` });
        }
      }
    }
  };

  const renamer = async (conversation: TrackedConversation) => {
    for (let n = 0; !stop; n += 1) {
      const response = await pick(containers).api.patchConversation(conversation.id, { title: `rename ${n}` }, userId);
      if (response.statusCode !== 200) {
        failures.push(`patch ${response.statusCode}`);
        continue;
      }
      renames += 1;
      acked.set(conversation.id, n);
      await sleep(Math.random() * 15);
    }
  };

  const started = performance.now();
  const loops = [...Array.from({ length: 8 }, reader), ...conversations.map((conversation) => renamer(conversation))];
  while (!stop) {
    await sleep(100);
    stop = (checkedGets + checkedLists >= RENAME_TARGET_READS && renames >= 100) || performance.now() - started > RENAME_MAX_DURATION_MS;
  }
  await Promise.all(loops);

  console.log(
    `[reliability] rename fuzz: ${checkedGets} GETs (${JSON.stringify(countBy(cacheStatuses, (s) => s))}) and ${checkedLists} lists checked, ` +
      `${renames} renames acknowledged, 4 containers; violations: ${violations.length}, failures: ${failures.length}`,
  );
  expect(failures).toEqual([]);
  expect(violations.slice(0, 10)).toEqual([]);
  expect(checkedGets + checkedLists).toBeGreaterThanOrEqual(RENAME_TARGET_READS / 2);
  expect(renames).toBeGreaterThanOrEqual(30);
  expect(cacheStatuses).toContain('HIT');
}, 60_000);

const HERD_SIZE = 40;
const HERD_WAVES = 5;

it(`a wave of ${HERD_SIZE} GETs after an invalidation, across 4 containers, loads Postgres at most once and serves no stale body`, async () => {
  const ledger = new AckLedger();
  const userId = newUserId();
  const [conversation] = await seedConversations(containers[0], ledger, userId, 1);
  const queries = () => containers.reduce((sum, c) => sum + c.shared.databaseStats.queries, 0);

  const loadsPerWave: number[] = [];
  const statuses: string[] = [];
  const stale: string[] = [];
  for (let wave = 0; wave < HERD_WAVES; wave += 1) {
    const outcome = await ledger.post(containers[wave % containers.length], userId, `herd ${wave}`, {
      conversationId: conversation.id,
      parentMessageId: conversation.lastAssistantId,
    });
    expect(outcome.statusCode).toBe(200);
    conversation.acked.push(outcome.turn!.userMessageId, outcome.turn!.assistantMessageId!);
    conversation.lastAssistantId = outcome.turn!.assistantMessageId!;
    const expected = [...conversation.acked];
    const before = queries();
    const responses = await Promise.all(
      Array.from({ length: HERD_SIZE }, (_, i) => containers[i % containers.length].api.getConversation(conversation.id, userId)),
    );
    loadsPerWave.push(queries() - before);
    for (const response of responses) {
      statuses.push(`${response.statusCode} ${response.headers['x-cache']}`);
      const missing = missingFrom(response.body, expected);
      if (missing.length > 0) stale.push(`wave ${wave}: ${response.headers['x-cache']} missing ${missing.join(', ')}`);
    }
  }

  console.log(`[reliability] herd: ${HERD_WAVES} waves of ${HERD_SIZE} GETs over 4 containers; Postgres loads per wave ${JSON.stringify(loadsPerWave)}; ${JSON.stringify(countBy(statuses, (s) => s))}; stale: ${stale.length}`);
  expect(stale).toEqual([]);
  expect(statuses.every((s) => s.startsWith('200 '))).toBe(true);
  expect(Math.max(...loadsPerWave)).toBeLessThanOrEqual(1);
  expect(loadsPerWave.reduce((a, b) => a + b, 0)).toBe(HERD_WAVES);
}, 60_000);

const OPENAI_TARGET_READS = 600;
const OPENAI_MAX_DURATION_MS = 15_000;

it(`no read through OpenAI's API after an acknowledged write (either API) serves the old state: ${OPENAI_TARGET_READS}+ checked reads across 4 containers`, async () => {
  const ledger = new AckLedger();
  const userId = newUserId();
  const conversations = await seedConversations(containers[0], ledger, userId, 2);
  const openaiId = (id: string) => `conv_${id.replaceAll('-', '')}`;
  /** Per conversation: the acknowledged message ids (newest last) and the highest metadata revision. */
  const acked = new Map(conversations.map((c) => [c.id, { ids: [...c.acked], revision: -1 }]));

  let stop = false;
  let checkedItems = 0;
  let checkedObjects = 0;
  let writes = 0;
  const violations: Violation[] = [];
  const cacheStatuses: string[] = [];
  const failures: string[] = [];

  const reader = async () => {
    while (!stop) {
      const index = Math.floor(Math.random() * containers.length);
      const conversation = pick(conversations);
      const state = acked.get(conversation.id)!;
      if (Math.random() < 0.3) {
        const floor = state.revision;
        const response = await containers[index].api.openaiRequest('GET', `/v1/conversations/${openaiId(conversation.id)}`, userId);
        if (response.statusCode !== 200) {
          failures.push(`conversation ${response.statusCode}`);
          continue;
        }
        checkedObjects += 1;
        cacheStatuses.push(response.headers['x-cache']);
        if (Number(response.json.metadata.revision ?? -1) < floor) {
          violations.push({ kind: 'get', conversationId: conversation.id, instance: index, cache: response.headers['x-cache'], detail: `revision ${response.json.metadata.revision} < ${floor}` });
        }
      } else {
        // The newest acknowledged messages, on the current branch: the first page, newest first.
        const expected = state.ids.slice(-10).map((id) => `msg_${id}`);
        const response = await containers[index].api.openaiRequest('GET', `/v1/conversations/${openaiId(conversation.id)}/items`, userId, { query: { limit: '100' } });
        if (response.statusCode !== 200) {
          failures.push(`items ${response.statusCode}`);
          continue;
        }
        checkedItems += 1;
        cacheStatuses.push(response.headers['x-cache']);
        const listed = new Set(response.json.data.map((item: { id: string }) => item.id));
        const missing = expected.filter((id) => !listed.has(id));
        if (missing.length > 0) violations.push({ kind: 'get', conversationId: conversation.id, instance: index, cache: response.headers['x-cache'], detail: `items missing ${missing.join(', ')}` });
      }
    }
  };

  // One writer per conversation, so its branch stays linear: backend-api turns, /v1 item appends and metadata updates, in turn.
  const writer = async (conversation: TrackedConversation) => {
    const state = acked.get(conversation.id)!;
    for (let n = 0; !stop; n += 1) {
      const container = pick(containers);
      const kind = n % 3;
      if (kind === 0) {
        const outcome = await ledger.post(container, userId, `fuzz ${n}`, { conversationId: conversation.id, parentMessageId: conversation.lastAssistantId });
        if (outcome.statusCode !== 200 || !outcome.turn?.assistantMessageId) {
          failures.push(`post ${outcome.statusCode}`);
          continue;
        }
        conversation.lastAssistantId = outcome.turn.assistantMessageId;
        state.ids.push(outcome.turn.userMessageId, outcome.turn.assistantMessageId);
      } else if (kind === 1) {
        const response = await container.api.openaiRequest('POST', `/v1/conversations/${openaiId(conversation.id)}/items`, userId, {
          body: { items: [{ role: 'user', content: `item ${n}` }, { role: 'assistant', content: `answer ${n}` }] },
        });
        if (response.statusCode !== 200) {
          failures.push(`items ${response.statusCode}`);
          continue;
        }
        const ids = response.json.data.map((item: { id: string }) => item.id.slice(4));
        conversation.lastAssistantId = ids.at(-1);
        state.ids.push(...ids);
      } else {
        const response = await container.api.openaiRequest('POST', `/v1/conversations/${openaiId(conversation.id)}`, userId, { body: { metadata: { revision: String(n) } } });
        if (response.statusCode !== 200) {
          failures.push(`metadata ${response.statusCode}`);
          continue;
        }
        state.revision = n;
      }
      writes += 1;
      await sleep(Math.random() * 20);
    }
  };

  const started = performance.now();
  const loops = [...Array.from({ length: 8 }, reader), ...conversations.map((conversation) => writer(conversation))];
  while (!stop) {
    await sleep(100);
    stop = (checkedItems + checkedObjects >= OPENAI_TARGET_READS && writes >= 60) || performance.now() - started > OPENAI_MAX_DURATION_MS;
  }
  await Promise.all(loops);

  console.log(
    `[reliability] OpenAI API fuzz: ${checkedItems} item pages and ${checkedObjects} conversation objects checked (${JSON.stringify(countBy(cacheStatuses, (s) => s))}), ` +
      `${writes} writes acknowledged, 4 containers; violations: ${violations.length}, failures: ${failures.length}`,
  );
  expect(failures).toEqual([]);
  expect(violations.slice(0, 10)).toEqual([]);
  expect(checkedItems + checkedObjects).toBeGreaterThanOrEqual(OPENAI_TARGET_READS / 2);
  expect(writes).toBeGreaterThanOrEqual(30);
  expect(cacheStatuses).toContain('HIT');
  expect(await ledger.lost(db)).toEqual([]);
}, 40_000);
