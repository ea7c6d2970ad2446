/**
 * POST /backend-api/f/conversation (and the older /backend-api/conversation): store the
 * user's message, then stream the model's reply as Server-Sent Events through Lambda response
 * streaming (docs/api.md#posting-a-turn). Errors before the stream starts are JSON; after,
 * SSE error events. The layer encodes and records every frame; this only sends them.
 */
import middy from '@middy/core';
import { executionModeStreamifyResponse } from '@middy/core/StreamifyResponse';
import { getConfig, getUserId, httpMiddlewares, sseResponse, startConversationReply, type StreamingResult } from '@chatbot/shared';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { parsePostConversationRequest } from './schema';

const postConversation = async (event: APIGatewayProxyEvent, context: Context): Promise<StreamingResult> => {
  const request = parsePostConversationRequest(event, getConfig().http);
  const reply = await startConversationReply({
    ...request,
    userId: getUserId(event),
    deadline: Date.now() + context.getRemainingTimeInMillis(),
  });
  return sseResponse(reply);
};

export const handler = middy<APIGatewayProxyEvent, StreamingResult>({ executionMode: executionModeStreamifyResponse })
  .use(httpMiddlewares<StreamingResult>())
  .handler(postConversation);
