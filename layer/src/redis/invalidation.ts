/**
 * One batch of invalidating `DEL`s, and whether a replica has them. Redis replicates
 * asynchronously: a `DEL` the primary applied but had not yet sent to its replica is lost when
 * that replica is promoted, and the promoted node serves the old body until its TTL (`npm run
 * chaos` saw stale reads for up to 143 s this way). With `REDIS_INVALIDATION_REPLICAS` ≥ 1 each
 * batch is followed by a `WAIT`; the keys it did not confirm are returned, for the caller to
 * retry or to delete again later (`cache.ts`, `unconfirmed-invalidations.ts`).
 */
import { Cluster, Command } from 'ioredis';
import { getRedis, type RedisConnection } from './client';
import { counted } from './fail-open';

/** How invalidations are confirmed: `REDIS_INVALIDATION_*`. */
export interface InvalidationOptions {
  /** Replicas that must have a `DEL` before it counts as confirmed (0: the primary's answer is enough). */
  readonly replicas: number;
  /** How long one `WAIT` for them may take. */
  readonly waitMs: number;
}

/** Keys a container keeps to delete later, pending or unconfirmed (each set): ~100 bytes a key, a megabyte at most. */
export const MAX_KEPT_INVALIDATIONS = 10_000;

/** A cluster node's answer that the key's slot is served elsewhere (moved, or moving). */
const isRedirect = (error: Error): boolean => /^(MOVED|ASK) /.test(error.message);

/**
 * Deletes `keys` (one command each: they live in different hash slots) and, when replicas are
 * asked for, waits for them — on the container's invalidation client, so that no read queues
 * behind a `WAIT` (client.ts). Rejects when a `DEL` failed (the caller keeps the whole batch: a
 * key not deleted must not be served); otherwise resolves with the keys that every primary
 * deleted but too few replicas confirmed in time.
 */
export async function deleteBatch(commands: RedisConnection, keys: readonly string[], options: InvalidationOptions): Promise<string[]> {
  if (options.replicas <= 0) {
    await Promise.all(keys.map((key) => counted(commands.del(key))));
    return [];
  }
  const redis = await getRedis('invalidations');
  if (redis instanceof Cluster) {
    // WAIT must reach the node that holds the keys: one pipeline of DELs + WAIT per node.
    const unconfirmed = await Promise.all(byNode(redis, keys).map((group) => deleteAndWait(redis, group, options)));
    return unconfirmed.flat();
  }
  // One connection to the primary: a WAIT after the DELs covers all of them.
  await Promise.all(keys.map((key) => counted(redis.del(key))));
  const acknowledged = await counted(redis.wait(options.replicas, options.waitMs)).catch(() => 0);
  return acknowledged >= options.replicas ? [] : [...keys];
}

/** `keys` grouped by the node that serves their slots, as the client knows the slot map now. */
function byNode(cluster: Cluster, keys: readonly string[]): string[][] {
  const groups = new Map<string, string[]>();
  for (const key of keys) {
    const slot = new Command('del', [key]).getSlot() as number;
    const node = cluster.slots[slot]?.join(';') ?? `slot ${slot}`;
    const group = groups.get(node);
    if (group) group.push(key);
    else groups.set(node, [key]);
  }
  return [...groups.values()];
}

/** One node's keys: their DELs and one WAIT, in one pipeline. */
async function deleteAndWait(cluster: Cluster, keys: readonly string[], options: InvalidationOptions): Promise<string[]> {
  const pipeline = cluster.pipeline();
  for (const key of keys) pipeline.del(key);
  const results = (await counted(pipeline.wait(options.replicas, options.waitMs).exec())) ?? [];
  const waited = results[keys.length];
  const confirmed = !!waited && !waited[0] && Number(waited[1]) >= options.replicas;
  const unconfirmed: string[] = [];
  await Promise.all(
    keys.map(async (key, index) => {
      const [error] = results[index] ?? [new Error(`DEL ${key}: no reply`)];
      if (error && isRedirect(error)) {
        // ioredis retries a pipeline on MOVED/ASK only when its other commands failed too or only
        // read, and this WAIT succeeded on the old node: the DEL alone follows the redirect (and,
        // on MOVED, updates the slot map). Its confirmation is left to the re-deletes.
        await counted(cluster.del(key));
        unconfirmed.push(key);
      } else if (error) {
        throw error;
      } else if (!confirmed) {
        unconfirmed.push(key);
      }
    }),
  );
  return unconfirmed;
}
