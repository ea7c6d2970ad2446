/**
 * POST /backend-api/f/conversation (and the older /backend-api/conversation): store the
 * user's message, then stream the model's reply as Server-Sent Events through Lambda
 * response streaming. Errors before the stream starts are JSON; after, SSE error events.
 * Every frame sent is also recorded for followers (`resume`, SPEC §8).
 */
import middy from '@middy/core';
import { executionModeStreamifyResponse } from '@middy/core/StreamifyResponse';
import {
  getConfig,
  getUserId,
  httpMiddlewares,
  SSE_DONE,
  SSE_HEADERS,
  SSE_HEARTBEAT,
  sseStream,
  startConversationReply,
  type ConversationReply,
  type StreamingResult,
} from '@chatbot/shared';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { parsePostConversationRequest } from './schema';
import { createDeltaEncoder, createLegacyEncoder, type SseEncoder } from './sse-encoder';

/** Sends and records every frame of the reply, then `[DONE]` once followers have been told the reply ended. */
async function streamReply(reply: ConversationReply, encoder: SseEncoder, send: (text: string) => void): Promise<void> {
  try {
    for await (const event of reply.events()) {
      if (event.type === 'heartbeat') {
        send(SSE_HEARTBEAT);
        continue;
      }
      for (const frame of encoder.encode(event)) {
        send(frame);
        reply.recordFrame(frame);
      }
    }
  } finally {
    await reply.finishRecording();
  }
  send(SSE_DONE);
}

const postConversation = async (event: APIGatewayProxyEvent, context: Context): Promise<StreamingResult> => {
  const request = parsePostConversationRequest(event, getConfig().http);
  const reply = await startConversationReply({
    userId: getUserId(event),
    action: request.action,
    conversationId: request.conversationId,
    parentMessageId: request.parentMessageId,
    message: request.message,
    // v1 clients can resume, so their reply outlives the connection; legacy clients cannot.
    resumable: request.deltaEncoding,
    deadline: Date.now() + context.getRemainingTimeInMillis(),
  });
  const encoder = request.deltaEncoding
    ? createDeltaEncoder(reply.conversationId, reply.resumeToken)
    : createLegacyEncoder(reply.conversationId, reply.userMessage);
  const body = sseStream((send) => streamReply(reply, encoder, send), { onClientGone: () => reply.clientGone() });
  return { statusCode: 200, headers: SSE_HEADERS, body };
};

export const handler = middy<APIGatewayProxyEvent, StreamingResult>({ executionMode: executionModeStreamifyResponse })
  .use(httpMiddlewares<StreamingResult>())
  .handler(postConversation);
