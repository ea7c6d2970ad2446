/**
 * The public share read under concurrency, across 4 copies of the layer standing in for Lambda
 * containers (docs/api.md#share-links): a burst of 200 anonymous reads of a fresh or just-renamed
 * share costs one Postgres load; and once a rename or a revocation has answered, no read issued
 * afterwards, on any container, serves the old share.
 */
import { randomUUID } from 'node:crypto';
import { newUserId } from '../support/handlers';
import { closeAllLayerInstances, loadLayerInstance, type LayerInstance } from './support/layer-instance';
import { countBy } from './support/traffic';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let containers: LayerInstance[] = [];
beforeAll(async () => {
  // 200 requests on one event loop (4 containers in one process) can hold the filler past the 250 ms a
  // Lambda container's waiters need, and a container's pipelined GETs past the 200 ms command timeout
  // (a CI run saw one container's 48 reads time out and bypass to Postgres, fail-open as designed):
  // give both room, so the test measures single flight, not the scheduler.
  containers = Array.from({ length: 4 }, () => loadLayerInstance({ USER_TURN_LIMIT: '0', CACHE_FILL_WAIT_MS: '2000', REDIS_COMMAND_TIMEOUT_MS: '2000' }));
  // Connected before the herd: the first wave measures the share's fill, not each container's connect.
  await Promise.all(containers.map((container) => container.api.getSharedConversation(randomUUID())));
});
afterAll(() => closeAllLayerInstances());

async function sharedConversation(): Promise<{ owner: string; shareId: string }> {
  const owner = newUserId();
  const sent = await containers[0].api.sendMessage(owner, 'a link about to go viral');
  const created = await containers[0].api.createShare({ conversation_id: sent.conversationId, current_node_id: sent.assistantMessageId }, owner);
  expect(created.statusCode).toBe(200);
  return { owner, shareId: created.json.share_id };
}

const HERD_SIZE = 200;
const HERD_WAVES = 5;

it(`a wave of ${HERD_SIZE} anonymous reads of a fresh or just-renamed share, across 4 containers, loads Postgres once and serves the current title`, async () => {
  const { owner, shareId } = await sharedConversation();
  const queries = () => containers.reduce((sum, c) => sum + c.shared.databaseStats.queries, 0);

  const loadsPerWave: number[] = [];
  const statuses: string[] = [];
  const stale: string[] = [];
  for (let wave = 0; wave < HERD_WAVES; wave += 1) {
    // Wave 0 reads the share as created (never read); every later one right after a rename dropped it.
    const title = `viral ${wave}`;
    if (wave > 0) expect((await containers[wave % 4].api.patchShare(shareId, { title }, owner)).statusCode).toBe(200);
    const before = queries();
    const responses = await Promise.all(Array.from({ length: HERD_SIZE }, (_, i) => containers[i % 4].api.getSharedConversation(shareId)));
    loadsPerWave.push(queries() - before);
    for (const response of responses) {
      statuses.push(`${response.statusCode} ${response.headers['x-cache']}`);
      if (wave > 0 && response.json?.title !== title) stale.push(`wave ${wave}: ${response.headers['x-cache']} ${response.json?.title}`);
    }
  }

  console.log(`[reliability] share herd: ${HERD_WAVES} waves of ${HERD_SIZE} anonymous reads over 4 containers; Postgres loads per wave ${JSON.stringify(loadsPerWave)}; ${JSON.stringify(countBy(statuses, (s) => s))}; stale: ${stale.length}`);
  expect(stale).toEqual([]);
  expect(statuses.every((s) => s.startsWith('200 '))).toBe(true);
  expect(loadsPerWave).toEqual(Array.from({ length: HERD_WAVES }, () => 1));
}, 60_000);

const TARGET_READS = 600;
const MAX_DURATION_MS = 10_000;

it(`no read after an acknowledged rename serves an older title, and none after the revocation serves the share: ${TARGET_READS}+ reads across 4 containers`, async () => {
  const { owner, shareId } = await sharedConversation();
  const titleNumber = (title: unknown): number => (typeof title === 'string' && /^rename (\d+)$/.test(title) ? Number(title.slice(7)) : -1);
  let acked = -1;
  let revoked = false;
  // Set when the revocation is sent: a read overlapping it may see the share or its 404.
  let revoking = false;
  let stop = false;
  let reads = 0;
  let renames = 0;
  const violations: string[] = [];
  const failures: string[] = [];
  const cacheStatuses: string[] = [];

  const reader = async () => {
    while (!stop) {
      const index = Math.floor(Math.random() * containers.length);
      const [floor, mustBeGone] = [acked, revoked];
      const response = await containers[index].api.getSharedConversation(shareId);
      reads += 1;
      if (mustBeGone) {
        if (response.statusCode !== 404) violations.push(`container ${index}: ${response.statusCode} ${response.headers['x-cache']} after the revocation`);
      } else if (response.statusCode === 200) {
        cacheStatuses.push(response.headers['x-cache']);
        if (titleNumber(response.json.title) < floor) violations.push(`container ${index}: ${response.headers['x-cache']} "${response.json.title}" < rename ${floor}`);
      } else if (!(revoking && response.statusCode === 404)) failures.push(`read ${response.statusCode}`);
    }
  };
  const renamer = async () => {
    for (let n = 0; !stop && !revoked; n += 1) {
      const response = await containers[n % containers.length].api.patchShare(shareId, { title: `rename ${n}` }, owner);
      if (response.statusCode !== 200) failures.push(`patch ${response.statusCode}`);
      else {
        acked = n;
        renames += 1;
      }
      await sleep(Math.random() * 10);
      if (reads >= TARGET_READS && renames >= 50) {
        revoking = true;
        expect((await containers[(n + 1) % containers.length].api.patchShare(shareId, { is_visible: false }, owner)).statusCode).toBe(200);
        revoked = true;
      }
    }
  };

  const started = performance.now();
  const loops = [...Array.from({ length: 8 }, reader), renamer()];
  while (!stop) {
    await sleep(50);
    const revokedLongEnough = revoked && reads >= TARGET_READS + 200;
    stop = revokedLongEnough || performance.now() - started > MAX_DURATION_MS;
  }
  await Promise.all(loops);

  console.log(`[reliability] share rename/revoke fuzz: ${reads} reads (${JSON.stringify(countBy(cacheStatuses, (s) => s))}), ${renames} renames acknowledged, revoked: ${revoked}; violations: ${violations.length}`);
  expect(failures).toEqual([]);
  expect(violations.slice(0, 10)).toEqual([]);
  expect(revoked).toBe(true);
  expect(renames).toBeGreaterThanOrEqual(50);
  expect(cacheStatuses).toContain('HIT');
}, 30_000);
