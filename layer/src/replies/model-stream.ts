/**
 * A model's stream as a reply reads it: started, its first event waited for (at most
 * `LLM_FIRST_TOKEN_WAIT_MS`, so a provider failing up front is an error the caller can still
 * answer as JSON), then read step by step with a bound on each wait, so the caller can send a
 * heartbeat while the model is quiet. Shared by stored replies and stateless ones.
 */
import type { ChatModel, ModelStreamEvent, ModelStreamRequest } from '../ai/types';
import { ModelProviderError } from '../errors';
import { getConfig } from '../platform/config';
import { countMetric, logger } from '../platform/observability';
import { within } from '../platform/timers';

export type ModelStep = IteratorResult<ModelStreamEvent>;

/** A started model stream; see {@link openModelStream}. */
export interface ModelStreamReader {
  /** The next step of the stream, or `undefined` when the model said nothing for `quietMs` (ask again). */
  read(quietMs: number): Promise<ModelStep | undefined>;
  /** Stops the provider's stream (a reply cut short); the next read ends it. */
  close(): void;
}

/**
 * Starts `model` on `request` and waits for its first event. A provider failing before it
 * (or within the wait) aborts `controller` and throws `ModelProviderError` (502), naming
 * `conversationId` when the user side of the turn is already stored.
 */
export async function openModelStream(
  model: ChatModel,
  request: Omit<ModelStreamRequest, 'signal'>,
  controller: AbortController,
  conversationId?: string,
): Promise<ModelStreamReader> {
  const iterator = model.stream({ ...request, signal: controller.signal })[Symbol.asyncIterator]();
  let pending: Promise<ModelStep> | undefined = iterator.next();
  let buffered: ModelStep | undefined;
  try {
    buffered = await within(pending, getConfig().llm.firstTokenWaitMs);
    if (buffered) pending = undefined;
  } catch (error) {
    countMetric('ModelError');
    logger.error('Model failed before its first token', { error, conversationId });
    controller.abort();
    throw new ModelProviderError(error instanceof ModelProviderError ? error.message : undefined, error, conversationId);
  }
  return {
    async read(quietMs) {
      if (buffered) {
        const step = buffered;
        buffered = undefined;
        return step;
      }
      const step = await within((pending ??= iterator.next()), quietMs);
      if (step) pending = undefined;
      return step;
    },
    close() {
      void iterator.return?.(undefined);
    },
  };
}
