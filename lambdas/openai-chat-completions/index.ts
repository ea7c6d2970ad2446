/**
 * POST /v1/chat/completions (docs/api.md#openai-api-v1): the model gateway most chat frontends
 * call — a stateless reply to the request's messages with the same providers, turn limit and
 * live-stream cap as a conversation's, streamed as `chat.completion.chunk`s or answered as one
 * `chat.completion`.
 */
import middy from '@middy/core';
import { executionModeStreamifyResponse } from '@middy/core/StreamifyResponse';
import { createChatCompletion, getConfig, getUserId, httpMiddlewares, openAiReplyResponse, type StreamingResult } from '@chatbot/shared';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { parseChatCompletionRequest } from './schema';

const chatCompletion = async (event: APIGatewayProxyEvent, context: Context): Promise<StreamingResult> => {
  const request = parseChatCompletionRequest(event, getConfig().http);
  const result = await createChatCompletion({ ...request, userId: getUserId(event), deadline: Date.now() + context.getRemainingTimeInMillis() });
  return openAiReplyResponse(event, result);
};

export const handler = middy<APIGatewayProxyEvent, StreamingResult>({ executionMode: executionModeStreamifyResponse })
  .use(httpMiddlewares<StreamingResult>())
  .handler(chatCompletion);
