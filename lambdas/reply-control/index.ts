/**
 * The reply in progress, seen from any device (SPEC §8), one function for two routes:
 * GET stream_status (`IS_STREAMING` with the message id, or `NOT_STREAMING`) and POST stop
 * (ends the running reply early; the partial reply is stored). A conversation that is not the
 * caller's is a 404 on both. Each route: parse → one service call → respond.
 */
import middy from '@middy/core';
import { dispatchRoutes, getConversationStreamStatus, getUserId, httpMiddlewares, jsonResponse, routeKey, stopConversationReply, type RouteHandler } from '@chatbot/shared';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { parseConversationPath } from './schema';

/** Keyed like the route table (`layer/src/route-table.ts`), which sends these two here. */
const routes: Readonly<Record<string, RouteHandler>> = {
  [routeKey('GET', '/backend-api/conversation/{conversation_id}/stream_status')]: async (event) => {
    const { conversationId } = parseConversationPath(event);
    const status = await getConversationStreamStatus({ userId: getUserId(event), conversationId });
    return jsonResponse(200, JSON.stringify(status));
  },
  [routeKey('POST', '/backend-api/conversation/{conversation_id}/stop')]: async (event) => {
    const { conversationId } = parseConversationPath(event);
    const { messageId } = await stopConversationReply({ userId: getUserId(event), conversationId });
    return jsonResponse(200, JSON.stringify({ success: true, message_id: messageId }));
  },
};

export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>(dispatchRoutes(routes)).use(httpMiddlewares());
