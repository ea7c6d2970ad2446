import { ModelProviderError } from '../errors';

/** Returned by `untilAborted` instead of a value when the signal won the race. */
export const ABORTED: unique symbol = Symbol('aborted');

/**
 * Settles like `promise`, or with `ABORTED` as soon as `signal` aborts. Providers do not all
 * notice an abort by themselves (a stalled socket, a mocked client), and the caller must not
 * wait for them. A later rejection of the abandoned `promise` is swallowed.
 */
export async function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T | typeof ABORTED> {
  if (!signal) return promise;
  if (signal.aborted) {
    promise.catch(() => undefined);
    return ABORTED;
  }
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<typeof ABORTED>((resolve) => {
    onAbort = () => resolve(ABORTED);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    const result = await Promise.race([promise, aborted]);
    if (result === ABORTED) promise.catch(() => undefined);
    return result;
  } finally {
    signal.removeEventListener('abort', onAbort!);
  }
}

/** Options of `iterateUntilAborted`. */
export interface IterateOptions {
  /** Ends the iteration quietly when it aborts. @default never aborted */
  readonly signal?: AbortSignal;
  /** A provider silent for this long fails with ModelProviderError. @default no limit */
  readonly idleTimeoutMs?: number;
}

/**
 * Iterates `source`, ending quietly as soon as `signal` aborts even if the source does not
 * notice, and failing when no item arrives for `idleTimeoutMs` (a half-open connection
 * would otherwise hold the Lambda until its own timeout). The source is closed (`return()`)
 * whenever the iteration stops early, without waiting for it.
 */
export async function* iterateUntilAborted<T>(source: AsyncIterable<T>, options: IterateOptions = {}): AsyncGenerator<T> {
  const { signal, idleTimeoutMs } = options;
  const iterator = source[Symbol.asyncIterator]();
  let exhausted = false;
  try {
    while (!signal?.aborted) {
      let timer: NodeJS.Timeout | undefined;
      const next = iterator.next();
      const racers: Promise<IteratorResult<T> | typeof ABORTED>[] = [untilAborted(next, signal)];
      if (idleTimeoutMs !== undefined) {
        racers.push(
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new ModelProviderError('The model provider stopped responding')), idleTimeoutMs);
          }),
        );
      }
      let result: IteratorResult<T> | typeof ABORTED;
      try {
        result = await Promise.race(racers);
      } catch (error) {
        next.catch(() => undefined);
        throw error;
      } finally {
        clearTimeout(timer);
      }
      if (result === ABORTED) return;
      if (result.done) {
        exhausted = true;
        return;
      }
      yield result.value;
    }
  } finally {
    if (!exhausted) {
      // Not awaited: a source stuck in next() would queue the return() behind it.
      Promise.resolve()
        .then(() => iterator.return?.())
        .catch(() => undefined);
    }
  }
}

/** Wraps a provider failure; `ModelProviderError`s pass through unchanged. */
export function toModelProviderError(error: unknown, throttled = false): ModelProviderError {
  if (error instanceof ModelProviderError) return error;
  return new ModelProviderError(
    throttled ? 'The model provider is busy, please retry shortly' : 'The model provider failed',
    error,
  );
}

