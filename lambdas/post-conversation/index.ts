/**
 * POST /backend-api/f/conversation (and the older /backend-api/conversation): store the
 * user's message, then stream the model's reply as Server-Sent Events through Lambda
 * response streaming. Errors before the stream starts are JSON; after, SSE error events.
 */
import { Readable } from 'node:stream';
import middy from '@middy/core';
import { executionModeStreamifyResponse } from '@middy/core/StreamifyResponse';
import {
  enforceTurnLimit,
  getConfig,
  getUserId,
  httpMiddlewares,
  logger,
  openReply,
  publishMetricsIfAny,
  startTurn,
  toWireMessage,
  type OpenedReply,
} from '@chatbot/shared';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { parsePostConversationRequest } from './schema';
import { createDeltaEncoder, createLegacyEncoder, type SseEncoder } from './sse-encoder';

/** A streamed result: middy pipes `body` into the Lambda response stream. */
type StreamingResult = Omit<APIGatewayProxyResult, 'body'> & { body: Readable | string };

const SSE_HEADERS = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  // Stops nginx-style proxies from buffering the stream.
  'X-Accel-Buffering': 'no',
};

/**
 * The reply as a byte stream. Destroying it (the client went away, so the runtime tears the
 * pipeline down) aborts the model; it finishes only once the partial reply is stored.
 */
function sseBody(reply: OpenedReply, encoder: SseEncoder, controller: AbortController): Readable {
  let pumped: Promise<void> = Promise.resolve();
  const body = new Readable({
    read() {},
    destroy(error, callback) {
      controller.abort();
      pumped.then(() => callback(error), () => callback(error));
    },
  });
  pumped = (async () => {
    try {
      for await (const event of reply.events(controller.signal)) {
        const frame = encoder.encode(event);
        if (frame !== '' && !body.destroyed) body.push(frame);
      }
      if (!body.destroyed) body.push(encoder.done());
    } catch (error) {
      logger.error('Reply stream failed', { error, conversationId: reply.turn.conversationId });
    } finally {
      // The middlewares flushed when the handler returned; this covers what the stream counted since.
      // It runs before the stream ends: on Node 24 Lambda stops waiting for pending work once it has.
      publishMetricsIfAny();
      if (!body.destroyed) body.push(null);
    }
  })();
  return body;
}

const postConversation = async (event: APIGatewayProxyEvent): Promise<StreamingResult> => {
  const { http } = getConfig();
  const request = parsePostConversationRequest(event, http);
  const userId = getUserId(event);
  // Per-user turn limit (SPEC §9): after validation, before anything is written or the model is called.
  await enforceTurnLimit(userId);
  const turn = await startTurn({
    userId,
    action: request.action,
    conversationId: request.conversationId,
    parentMessageId: request.parentMessageId,
    message: request.message,
  });
  const controller = new AbortController();
  const reply = await openReply(turn, controller);
  const encoder = request.deltaEncoding
    ? createDeltaEncoder(turn.conversationId)
    : createLegacyEncoder(turn.conversationId, turn.userMessage && toWireMessage(turn.userMessage));
  return { statusCode: 200, headers: SSE_HEADERS, body: sseBody(reply, encoder, controller) };
};

export const handler = middy<APIGatewayProxyEvent, StreamingResult>({ executionMode: executionModeStreamifyResponse })
  .use(httpMiddlewares<StreamingResult>())
  .handler(postConversation);
