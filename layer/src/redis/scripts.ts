/**
 * Lua scripts: every one is defined with {@link defineScript} and run with {@link runScript}
 * — `EVALSHA`, then `EVAL` once when the node does not know it (a restart, a failover).
 *
 * Not ioredis's `defineCommand`: a command defined on a client whose auto-pipeline already
 * holds commands of the same event-loop turn is left out of that pipeline, which misaligns
 * its replies (callbacks that never run). Plain EVALSHA/EVAL have no such hazard, on a
 * single node or a cluster (ioredis routes them by their first key).
 */
import { createHash } from 'node:crypto';
import type { RedisConnection } from './client';
import { counted } from './fail-open';

export interface RedisScript {
  readonly lua: string;
  readonly sha: string;
}

export const defineScript = (lua: string): RedisScript => ({ lua, sha: createHash('sha1').update(lua).digest('hex') });

type Eval = (shaOrLua: string, numberOfKeys: number, ...args: (string | number | Buffer)[]) => Promise<unknown>;
/** `evalsha`/`eval`, and the `…Buffer` variants ioredis adds to every command at runtime (absent from its typings). */
type EvalCommands = Record<'evalsha' | 'eval' | 'evalshaBuffer' | 'evalBuffer', Eval>;

/**
 * Runs `script` with `keys` (all in one hash slot, for cluster mode) and `args`; one command
 * in the layer's count. `buffers: true` returns bulk replies as Buffers (binary values).
 */
export async function runScript<T>(
  redis: RedisConnection,
  script: RedisScript,
  keys: readonly string[],
  args: readonly (string | number | Buffer)[],
  options: { readonly buffers?: boolean } = {},
): Promise<T> {
  const client = redis as unknown as EvalCommands;
  const suffix = options.buffers ? 'Buffer' : '';
  try {
    return (await counted(client[`evalsha${suffix}`](script.sha, keys.length, ...keys, ...args))) as T;
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
    return (await counted(client[`eval${suffix}`](script.lua, keys.length, ...keys, ...args))) as T;
  }
}
