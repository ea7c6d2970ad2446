/**
 * OpenAI's Responses API (docs/api.md#openai-api-v1), one streaming function for its three
 * routes: POST a response (streamed as typed events, answered as one object, or answered at
 * once and generated in the background — the invocation lasts until it is stored), GET one
 * (as stored, or its events again from a sequence number), cancel one. A response is a turn of
 * the `backend-api`'s pipeline. Each route: parse → one use case → respond.
 */
import middy from '@middy/core';
import { executionModeStreamifyResponse } from '@middy/core/StreamifyResponse';
import {
  cancelResponse,
  createResponse,
  dispatchRoutes,
  finishBackgroundWork,
  followResponse,
  getConfig,
  getResponse,
  getUserId,
  httpMiddlewares,
  jsonResponse,
  openAiReplyResponse,
  sseResponse,
  type StreamingResult,
} from '@chatbot/shared';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { parseCreateResponseRequest, parseGetResponseRequest, parseResponsePath } from './schema';

const deadlineOf = (context: Context): number => Date.now() + context.getRemainingTimeInMillis();

const handleRoute = dispatchRoutes<'openai-responses', StreamingResult>({
  createResponse: async (event, context) => {
    const request = parseCreateResponseRequest(event, getConfig().http);
    return openAiReplyResponse(event, await createResponse({ ...request, userId: getUserId(event), deadline: deadlineOf(context) }));
  },
  getResponse: async (event, context) => {
    const { responseId, stream, startingAfter } = parseGetResponseRequest(event);
    const userId = getUserId(event);
    if (stream) return sseResponse(await followResponse({ userId, responseId, startingAfter, deadline: deadlineOf(context) }));
    return jsonResponse(200, await getResponse({ userId, responseId }));
  },
  cancelResponse: async (event) => jsonResponse(200, await cancelResponse({ ...parseResponsePath(event), userId: getUserId(event) })),
});

// requestEnd runs after the response was sent: a background response is generated until then.
export const handler = middy<APIGatewayProxyEvent, StreamingResult>({ executionMode: executionModeStreamifyResponse, requestEnd: finishBackgroundWork })
  .use(httpMiddlewares<StreamingResult>())
  .handler(handleRoute);
