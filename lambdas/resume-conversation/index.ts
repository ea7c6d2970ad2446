/**
 * POST /backend-api/f/conversation/resume: picks a reply back up (docs/api.md#resumable-replies).
 * Replays the recorded frames from `offset`, follows the live reply, and ends with `[DONE]`.
 * Errors before the first frame are JSON (404 no such stream, 503 Redis unavailable); a
 * follower cut off mid-way ends without `[DONE]`, so the client knows it did not get everything.
 */
import middy from '@middy/core';
import { executionModeStreamifyResponse } from '@middy/core/StreamifyResponse';
import { followConversationReply, getConfig, getUserId, httpMiddlewares, sseResponse, type StreamingResult } from '@chatbot/shared';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { parseResumeRequest } from './schema';

const resumeConversation = async (event: APIGatewayProxyEvent, context: Context): Promise<StreamingResult> => {
  const request = parseResumeRequest(event, getConfig().http);
  const follower = await followConversationReply({
    ...request,
    userId: getUserId(event),
    deadline: Date.now() + context.getRemainingTimeInMillis(),
  });
  return sseResponse(follower);
};

export const handler = middy<APIGatewayProxyEvent, StreamingResult>({ executionMode: executionModeStreamifyResponse })
  .use(httpMiddlewares<StreamingResult>())
  .handler(resumeConversation);
