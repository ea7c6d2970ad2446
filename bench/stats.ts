/**
 * Timing on a shared, noisy machine: the variants being compared run interleaved (one call
 * of each per round, the order rotating every round), so a burst of load from a neighbour
 * hits all of them alike instead of skewing one.
 */

/** p50 / p99 of a set of samples, in milliseconds. */
export interface Summary {
  readonly n: number;
  readonly p50: number;
  readonly p99: number;
  readonly mean: number;
}

/** Nearest-rank percentile of sorted samples. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = sorted.reduce((sum, value) => sum + value, 0) / Math.max(1, sorted.length);
  return { n: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), mean };
}

/** One of the things compared in an interleaved measurement. */
export interface Variant {
  readonly name: string;
  /** Untimed preparation before each timed call (delete a key, switch the cache off). */
  readonly before?: () => Promise<void> | void;
  /** The timed call; it should throw when the answer is not the expected one. */
  readonly run: () => Promise<unknown>;
}

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/**
 * Runs `warmup` untimed rounds, then `iterations` timed rounds; each round calls every
 * variant once. Returns each variant's summary.
 */
export async function interleaved(variants: readonly Variant[], options: { iterations: number; warmup: number }): Promise<Record<string, Summary>> {
  const samples = new Map<string, number[]>(variants.map((variant) => [variant.name, []]));
  for (let round = 0; round < options.warmup + options.iterations; round += 1) {
    for (let k = 0; k < variants.length; k += 1) {
      const variant = variants[(round + k) % variants.length];
      await variant.before?.();
      const start = nowMs();
      await variant.run();
      const elapsed = nowMs() - start;
      if (round >= options.warmup) samples.get(variant.name)?.push(elapsed);
    }
  }
  return Object.fromEntries([...samples].map(([name, values]) => [name, summarize(values)]));
}

/** Completed calls per second with `concurrency` calls in flight until `total` are done. */
export async function throughput(concurrency: number, total: number, call: () => Promise<unknown>): Promise<number> {
  let started = 0;
  const start = nowMs();
  const worker = async () => {
    while (started < total) {
      started += 1;
      await call();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return total / ((nowMs() - start) / 1000);
}

export const median = (values: readonly number[]): number => summarize(values).p50;

/** A small seeded PRNG (mulberry32), so the cache-on and cache-off mixes are the same sequence. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
