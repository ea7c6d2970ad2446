/** GET /backend-api/conversation/{conversation_id}: cache-aside read of one conversation. */
import middy from '@middy/core';
import {
  getConversationDetail,
  getUserId,
  httpMiddlewares,
  jsonResponse,
} from '@chatbot/shared';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { parseGetConversationRequest } from './schema';

const getConversation = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  const { conversationId } = parseGetConversationRequest(event);
  const userId = getUserId(event);
  const { body, cacheStatus } = await getConversationDetail({ conversationId, userId });
  return jsonResponse(200, body, { 'X-Cache': cacheStatus });
};

export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>(getConversation).use(httpMiddlewares());
