/**
 * The body of a streamed `text/event-stream` response, shared by the reply (POST) and its
 * followers (resume): a Readable that middy pipes into the Lambda response stream.
 */
import { Readable } from 'node:stream';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { logger, publishMetricsIfAny } from './observability';

export const SSE_HEADERS: Readonly<Record<string, string>> = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  // Stops nginx-style proxies from buffering the stream.
  'X-Accel-Buffering': 'no',
};

/** An SSE comment: keeps proxies and clients from timing out an idle stream; clients ignore it, and it is not a frame. */
export const SSE_HEARTBEAT = ': ping\n\n';
/** The last frame of every stream that ended as it should. */
export const SSE_DONE = 'data: [DONE]\n\n';

/** A streamed result: middy pipes `body` into the Lambda response stream. */
export type StreamingResult = Omit<APIGatewayProxyResult, 'body'> & { body: Readable | string };

/**
 * A stream whose bytes `produce` sends. When the client goes away (the runtime destroys the
 * pipeline), `onClientGone` runs, and the stream finishes closing only once `produce` has
 * returned — so the invocation lasts until whatever `produce` still does (storing a reply) is done.
 * Metrics are flushed before the stream ends: once it has, Lambda may freeze the container.
 */
export function sseStream(produce: (send: (text: string) => void) => Promise<void>, options: { readonly onClientGone?: () => void } = {}): Readable {
  let produced: Promise<void> = Promise.resolve();
  // A Readable destroys itself after a normal end too (autoDestroy): only a destroy before the
  // last byte was pushed means the client went away.
  let ended = false;
  const body = new Readable({
    read() {},
    destroy(error, callback) {
      if (!ended) options.onClientGone?.();
      produced.then(
        () => callback(error),
        () => callback(error),
      );
    },
  });
  const send = (text: string) => {
    if (!body.destroyed) body.push(text);
  };
  produced = (async () => {
    try {
      await produce(send);
    } catch (error) {
      logger.error('Event stream failed', { error });
    } finally {
      // The middlewares flushed when the handler returned; this covers what the stream counted since.
      publishMetricsIfAny();
      ended = true;
      if (!body.destroyed) body.push(null);
    }
  })();
  return body;
}
