/**
 * Work a request leaves running after its response was sent (a background response of
 * OpenAI's API). On Lambda the work goes on only while the handler has not returned, and a
 * streaming function's response ends when its body does: the handler registers the work
 * here, and `finishBackgroundWork` — middy's `requestEnd` hook, which runs after the body was
 * sent — waits for it before the invocation ends.
 */
import { logger } from '../platform/observability';
import type { OpenAiReplyResult } from '../replies/openai-responses';
import { jsonResponse } from './middlewares';
import { sseResponse, type StreamingResult } from './sse';

const pending = new WeakMap<object, Promise<unknown>[]>();

/** Keeps the invocation of `event` alive until `work` settles, after its response was sent. */
export function continueAfterResponse(event: object, work: Promise<unknown>): void {
  const list = pending.get(event) ?? [];
  list.push(work.catch((error: unknown) => logger.error('Background work failed', { error })));
  pending.set(event, list);
}

/** Middy's `requestEnd` hook: waits for the work the request's event left running. */
export async function finishBackgroundWork(request: { readonly event: unknown }): Promise<void> {
  const event = request.event;
  if (typeof event !== 'object' || event === null) return;
  const list = pending.get(event);
  if (!list) return;
  pending.delete(event);
  await Promise.all(list);
}

/**
 * The answer of an OpenAI API reply: its stream, or its JSON body — and, for a background
 * response, the work that goes on after it, kept alive until it ends (see above).
 */
export function openAiReplyResponse(event: object, result: OpenAiReplyResult): StreamingResult {
  if (result.kind === 'stream') return sseResponse(result.stream);
  if (result.background) continueAfterResponse(event, result.background);
  return jsonResponse(200, result.body);
}
