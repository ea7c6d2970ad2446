import type { ModelStreamEvent } from '@chatbot/shared/testing';

/** Everything a stream produced: its events, the assembled text, its finish reason and the error that ended it. */
export interface Collected {
  readonly events: ModelStreamEvent[];
  readonly text: string;
  readonly texts: string[];
  readonly finish?: string;
  readonly error?: unknown;
  /** Milliseconds from the start of the iteration to its end. */
  readonly elapsedMs: number;
}

/** Drains `stream`, calling `onEvent` after each event (e.g. to abort after the first one). */
export async function collect(
  stream: AsyncIterable<ModelStreamEvent>,
  onEvent?: (event: ModelStreamEvent, index: number) => void,
): Promise<Collected> {
  const events: ModelStreamEvent[] = [];
  const started = performance.now();
  let error: unknown;
  try {
    for await (const event of stream) {
      events.push(event);
      onEvent?.(event, events.length - 1);
    }
  } catch (caught) {
    error = caught;
  }
  const texts = events.flatMap((e) => (e.type === 'text' ? [e.text] : []));
  const finish = events.find((e) => e.type === 'finish');
  return {
    events,
    texts,
    text: texts.join(''),
    finish: finish?.type === 'finish' ? finish.reason : undefined,
    error,
    elapsedMs: performance.now() - started,
  };
}

/**
 * Drains `stream`, aborting `controller` `delayMs` after event `afterIndex` arrives; reports how
 * long the stream took to stop once aborted.
 */
export async function collectAbortingAfter(
  stream: AsyncIterable<ModelStreamEvent>,
  controller: AbortController,
  afterIndex: number,
  delayMs = 50,
): Promise<Collected & { readonly stoppedAfterMs: number }> {
  let abortedAt = 0;
  const result = await collect(stream, (_, index) => {
    if (index !== afterIndex) return;
    setTimeout(() => {
      abortedAt = performance.now();
      controller.abort();
    }, delayMs);
  });
  return { ...result, stoppedAfterMs: performance.now() - abortedAt };
}
