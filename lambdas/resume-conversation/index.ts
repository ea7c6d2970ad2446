/**
 * POST /backend-api/f/conversation/resume: picks a reply back up (SPEC §8). Replays the
 * recorded frames from `offset`, follows the live reply, and ends with `[DONE]`. Errors before
 * the first frame are JSON (404 no such stream, 503 Redis unavailable); a follower whose Redis
 * fails mid-way ends without `[DONE]`, so the client knows it did not get everything.
 */
import middy from '@middy/core';
import { executionModeStreamifyResponse } from '@middy/core/StreamifyResponse';
import {
  getConfig,
  getUserId,
  httpMiddlewares,
  isReplyStreamToken,
  ReplyStreamNotFoundError,
  resumeConversationReply,
  SSE_DONE,
  SSE_HEADERS,
  SSE_HEARTBEAT,
  sseStream,
  type StreamingResult,
} from '@chatbot/shared';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { parseResumeRequest } from './schema';

/** A follower ends this long before its function's deadline, so it closes the stream itself. */
const DEADLINE_MARGIN_MS = 1000;

const resumeConversation = async (event: APIGatewayProxyEvent, context: Context): Promise<StreamingResult> => {
  const request = parseResumeRequest(event, getConfig().http);
  // A token we never issued names no stream.
  if (request.token !== undefined && !isReplyStreamToken(request.token)) throw new ReplyStreamNotFoundError();
  const clientGone = new AbortController();
  const events = await resumeConversationReply({
    userId: getUserId(event),
    conversationId: request.conversationId,
    offset: request.offset,
    token: request.token,
    deadline: Date.now() + context.getRemainingTimeInMillis() - DEADLINE_MARGIN_MS,
    signal: clientGone.signal,
  });
  const body = sseStream(
    async (send) => {
      for await (const item of events) {
        if (item.type === 'frame') send(item.frame);
        else if (item.type === 'heartbeat') send(SSE_HEARTBEAT);
        else send(SSE_DONE);
      }
    },
    { onClientGone: () => clientGone.abort() },
  );
  return { statusCode: 200, headers: SSE_HEADERS, body };
};

export const handler = middy<APIGatewayProxyEvent, StreamingResult>({ executionMode: executionModeStreamifyResponse })
  .use(httpMiddlewares<StreamingResult>())
  .handler(resumeConversation);
