/**
 * The reply in progress, seen from any device (docs/api.md#resumable-replies), one function for two routes:
 * GET stream_status (`IS_STREAMING` with the message id, or `NOT_STREAMING`) and POST stop
 * (ends the running reply early; the partial reply is stored). A conversation that is not the
 * caller's is a 404 on both. Each route: parse → one service call → respond.
 */
import middy from '@middy/core';
import { dispatchRoutes, getConversationStreamStatus, getUserId, httpMiddlewares, jsonResponse, stopConversationReply } from '@chatbot/shared';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { parseConversationPath } from './schema';

const handleRoute = dispatchRoutes<'reply-control'>({
  getStreamStatus: async (event) => {
    const { conversationId } = parseConversationPath(event);
    const status = await getConversationStreamStatus({ userId: getUserId(event), conversationId });
    return jsonResponse(200, JSON.stringify(status));
  },
  stopReply: async (event) => {
    const { conversationId } = parseConversationPath(event);
    const { messageId } = await stopConversationReply({ userId: getUserId(event), conversationId });
    return jsonResponse(200, JSON.stringify({ success: true, message_id: messageId }));
  },
});

export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>(handleRoute).use(httpMiddlewares());
