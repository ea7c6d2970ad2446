/**
 * OpenAI's Conversations API (docs/api.md#openai-api-v1), one function for its eight routes:
 * a conversation (create, read, update its metadata, delete) and its items (list the current
 * branch, append, read, delete) — the same rows the `backend-api` serves. Each route: parse →
 * one use case → respond; errors in OpenAI's shape (the route table's `errorFormat`).
 */
import middy from '@middy/core';
import {
  addOpenAiConversationItems,
  createOpenAiConversation,
  deleteOpenAiConversation,
  deleteOpenAiConversationItem,
  dispatchRoutes,
  getConfig,
  getOpenAiConversation,
  getOpenAiConversationItem,
  getUserId,
  httpMiddlewares,
  jsonResponse,
  listOpenAiConversationItems,
  updateOpenAiConversation,
  type OpenAiBody,
} from '@chatbot/shared';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import {
  parseConversationPath,
  parseCreateConversationRequest,
  parseCreateItemsRequest,
  parseItemPath,
  parseListItemsRequest,
  parseUpdateConversationRequest,
} from './schema';

const answer = ({ body, cacheStatus }: OpenAiBody): APIGatewayProxyResult => jsonResponse(200, body, { 'X-Cache': cacheStatus });

const handleRoute = dispatchRoutes<'openai-conversations'>({
  createOpenAiConversation: async (event) => answer(await createOpenAiConversation({ ...parseCreateConversationRequest(event, getConfig().http), userId: getUserId(event) })),
  getOpenAiConversation: async (event) => answer(await getOpenAiConversation({ ...parseConversationPath(event), userId: getUserId(event) })),
  updateOpenAiConversation: async (event) => answer(await updateOpenAiConversation({ ...parseUpdateConversationRequest(event, getConfig().http), userId: getUserId(event) })),
  deleteOpenAiConversation: async (event) => answer(await deleteOpenAiConversation({ ...parseConversationPath(event), userId: getUserId(event) })),
  listOpenAiConversationItems: async (event) => answer(await listOpenAiConversationItems({ ...parseListItemsRequest(event), userId: getUserId(event) })),
  createOpenAiConversationItems: async (event) => answer(await addOpenAiConversationItems({ ...parseCreateItemsRequest(event, getConfig().http), userId: getUserId(event) })),
  getOpenAiConversationItem: async (event) => answer(await getOpenAiConversationItem({ ...parseItemPath(event), userId: getUserId(event) })),
  deleteOpenAiConversationItem: async (event) => answer(await deleteOpenAiConversationItem({ ...parseItemPath(event), userId: getUserId(event) })),
});

export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>(handleRoute).use(httpMiddlewares());
