/**
 * The context window's Redis list, `chat:{id}:context`: the last messages of the branch being
 * continued, each `{"id","role","content"}`, sent to the model with every turn. Not a cache of
 * a read (nothing serves it to a client): losing it only means a rebuild from Postgres, which
 * `conversations/context-window.ts` decides. One key per operation, fail-open.
 */
import { counted, failOpen } from './fail-open';
import { defineScript, runScript } from './scripts';

/**
 * KEYS[1] = list; ARGV = mode ('replace' | 'if-tail'), tail prefix, max length, ttl s,
 * values... Returns the list after the append, or 0 when the tail did not match.
 */
const APPEND = defineScript(`
local key = KEYS[1]
if ARGV[1] == 'replace' then
  redis.call('DEL', key)
else
  local tail = redis.call('LINDEX', key, -1)
  if not tail or string.sub(tail, 1, string.len(ARGV[2])) ~= ARGV[2] then
    redis.call('DEL', key)
    return 0
  end
end
if #ARGV > 4 then
  redis.call('RPUSH', key, unpack(ARGV, 5))
  redis.call('LTRIM', key, -tonumber(ARGV[3]), -1)
  redis.call('EXPIRE', key, ARGV[4])
end
return redis.call('LRANGE', key, 0, -1)
`);

/** How an append keeps the list bounded, and which list it continues. */
export type AppendToListOptions = {
  /** Keep only the last `maxLength` elements. */
  readonly maxLength: number;
  readonly ttlSeconds: number;
} & (
  | {
      /** Replace the whole list with the values. */
      readonly replace: true;
    }
  | {
      /** Append only when the current last element starts with this string. */
      readonly ifTailStartsWith: string;
    }
);

/** The whole list, or `null` when it is missing or Redis failed. */
export async function readList(key: string): Promise<string[] | null> {
  const values = await failOpen('context', 'readList', null, (redis) => counted(redis.lrange(key, 0, -1)), { key });
  return values && values.length > 0 ? values : null;
}

/**
 * `RPUSH` + `LTRIM -max -1` + `EXPIRE` in one round trip (a Lua script, so atomic), and the
 * list as it is afterwards. With `replace` the list is rebuilt from `values`; with
 * `ifTailStartsWith` the append happens only when the last element starts with that string
 * (the list continues the expected branch) — otherwise the list is dropped so the next reader
 * rebuilds it. Returns `null` on a tail mismatch or a Redis failure.
 */
export async function appendToList(key: string, values: readonly string[], options: AppendToListOptions): Promise<string[] | null> {
  const tail = 'ifTailStartsWith' in options ? options.ifTailStartsWith : undefined;
  return failOpen(
    'context',
    'appendToList',
    null,
    async (redis) => {
      const list = await runScript<string[] | 0>(redis, APPEND, [key], [tail === undefined ? 'replace' : 'if-tail', tail ?? '', options.maxLength, options.ttlSeconds, ...values]);
      return list === 0 ? null : list;
    },
    { key },
  );
}
