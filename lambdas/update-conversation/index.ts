/**
 * The conversation lifecycle a ChatGPT-style sidebar calls (SPEC §7), one function for its
 * three routes: PATCH one conversation (rename, archive, delete), PATCH all of them
 * (archive all, delete all), and POST gen_title. Each route: parse → one service call → respond.
 */
import middy from '@middy/core';
import {
  dispatchRoutes,
  generateConversationTitle,
  getConfig,
  getUserId,
  httpMiddlewares,
  jsonResponse,
  routeKey,
  updateAllConversations,
  updateConversation,
  type RouteHandler,
} from '@chatbot/shared';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { parseGenerateTitleRequest, parseUpdateAllConversationsRequest, parseUpdateConversationRequest } from './schema';

const SUCCESS = JSON.stringify({ success: true });

/** Keyed like the route table (`layer/src/route-table.ts`), which sends these three here. */
const routes: Readonly<Record<string, RouteHandler>> = {
  [routeKey('PATCH', '/backend-api/conversation/{conversation_id}')]: async (event) => {
    const { conversationId, changes } = parseUpdateConversationRequest(event, getConfig().http);
    await updateConversation({ userId: getUserId(event), conversationId, changes });
    return jsonResponse(200, SUCCESS);
  },
  [routeKey('PATCH', '/backend-api/conversations')]: async (event) => {
    const { changes } = parseUpdateAllConversationsRequest(event, getConfig().http);
    await updateAllConversations({ userId: getUserId(event), changes });
    return jsonResponse(200, SUCCESS);
  },
  [routeKey('POST', '/backend-api/conversation/gen_title/{conversation_id}')]: async (event) => {
    const { conversationId, messageId } = parseGenerateTitleRequest(event, getConfig().http);
    const title = await generateConversationTitle({ userId: getUserId(event), conversationId, messageId });
    return jsonResponse(200, JSON.stringify({ title }));
  },
};

export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>(dispatchRoutes(routes)).use(httpMiddlewares());
