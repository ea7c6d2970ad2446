/**
 * A streamed `text/event-stream` response: a Readable that middy pipes into the Lambda
 * response stream, fed by a reply's (or a follower's) frames. The frames themselves — what
 * they contain, what they record — are the reply pipeline's (`replies/`); this only sends them.
 */
import { Readable } from 'node:stream';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { logger, publishMetricsIfAny } from '../platform/observability';
import { reportTimings } from '../platform/tracing';
import type { FrameStream } from '../replies/frames';

export const SSE_HEADERS: Readonly<Record<string, string>> = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  // Stops nginx-style proxies from buffering the stream.
  'X-Accel-Buffering': 'no',
};

/** A streamed result: middy pipes `body` into the Lambda response stream. */
export type StreamingResult = Omit<APIGatewayProxyResult, 'body'> & { body: Readable | string };

/**
 * A stream that sends `source.frames` as they come. When the client goes away (the runtime
 * destroys the pipeline), `source.clientGone` runs, and the stream finishes closing only once
 * the frames have run out — so the invocation lasts until whatever they still do (storing a
 * reply) is done. Metrics are flushed before the stream ends: once it has, Lambda may freeze
 * the container.
 */
export function sseStream(source: FrameStream): Readable {
  let sent: Promise<void> = Promise.resolve();
  // A Readable destroys itself after a normal end too (autoDestroy): only a destroy before the
  // last byte was pushed means the client went away.
  let ended = false;
  const body = new Readable({
    read() {},
    destroy(error, callback) {
      if (!ended) source.clientGone();
      sent.then(
        () => callback(error),
        () => callback(error),
      );
    },
  });
  sent = (async () => {
    try {
      for await (const text of source.frames) {
        if (!body.destroyed) body.push(text);
      }
    } catch (error) {
      logger.error('Event stream failed', { error });
    } finally {
      // The middlewares flushed when the handler returned; this covers what the stream counted since.
      publishMetricsIfAny();
      reportTimings(200);
      ended = true;
      if (!body.destroyed) body.push(null);
    }
  })();
  return body;
}

/** The 200 `text/event-stream` response of a reply or a follower. */
export const sseResponse = (source: FrameStream): StreamingResult => ({ statusCode: 200, headers: { ...SSE_HEADERS }, body: sseStream(source) });
