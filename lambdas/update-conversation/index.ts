/**
 * The conversation lifecycle a ChatGPT-style sidebar calls (SPEC §7), one function for its
 * three routes: PATCH one conversation (rename, archive, delete), PATCH all of them
 * (archive all, delete all), and POST gen_title. Each route: parse → one service call → respond.
 */
import middy from '@middy/core';
import {
  generateConversationTitle,
  getConfig,
  getUserId,
  httpMiddlewares,
  jsonResponse,
  routeKey,
  updateAllConversations,
  updateConversation,
} from '@chatbot/shared';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { parseGenerateTitleRequest, parseUpdateAllConversationsRequest, parseUpdateConversationRequest } from './schema';

type Route = (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>;

const SUCCESS = JSON.stringify({ success: true });

/** Keyed like the route table (`layer/src/route-table.ts`), which sends these three here. */
const routes: Readonly<Record<string, Route>> = {
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

const updateConversationHandler: Route = async (event) => {
  const route = routes[routeKey(event.httpMethod, event.resource)];
  if (!route) return jsonResponse(404, JSON.stringify({ detail: { message: 'Not Found', code: 'not_found' } }));
  return route(event);
};

export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>(updateConversationHandler).use(httpMiddlewares());
