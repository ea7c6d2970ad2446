/**
 * The conversation lifecycle a ChatGPT-style sidebar calls (docs/api.md#conversation-lifecycle), one function for its
 * three routes: PATCH one conversation (rename, archive, delete), PATCH all of them
 * (archive all, delete all), and POST gen_title; and the rating of a reply (POST
 * message_feedback), a write beside them. Each route: parse → one service call → respond.
 */
import middy from '@middy/core';
import {
  dispatchRoutes,
  generateConversationTitle,
  getConfig,
  getUserId,
  httpMiddlewares,
  jsonResponse,
  rateMessage,
  updateAllConversations,
  updateConversation,
} from '@chatbot/shared';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { parseGenerateTitleRequest, parseRateMessageRequest, parseUpdateAllConversationsRequest, parseUpdateConversationRequest } from './schema';

const SUCCESS = JSON.stringify({ success: true });

const handleRoute = dispatchRoutes<'update-conversation'>({
  updateConversation: async (event) => {
    const { conversationId, changes } = parseUpdateConversationRequest(event, getConfig().http);
    await updateConversation({ userId: getUserId(event), conversationId, changes });
    return jsonResponse(200, SUCCESS);
  },
  updateAllConversations: async (event) => {
    const { changes } = parseUpdateAllConversationsRequest(event, getConfig().http);
    await updateAllConversations({ userId: getUserId(event), changes });
    return jsonResponse(200, SUCCESS);
  },
  generateTitle: async (event) => {
    const { conversationId, messageId } = parseGenerateTitleRequest(event, getConfig().http);
    const title = await generateConversationTitle({ userId: getUserId(event), conversationId, messageId });
    return jsonResponse(200, JSON.stringify({ title }));
  },
  rateMessage: async (event) => {
    const request = parseRateMessageRequest(event, getConfig().http);
    const receipt = await rateMessage({ userId: getUserId(event), ...request });
    return jsonResponse(200, JSON.stringify(receipt));
  },
});

export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>(handleRoute).use(httpMiddlewares());
