/**
 * The owner's side of share links (docs/api.md#share-links), one function for three routes:
 * POST share/create (a snapshot of a branch), PATCH share/{id} (rename or revoke) and GET
 * shared_conversations (the caller's links). Each route: parse → one service call → respond.
 */
import middy from '@middy/core';
import { createShare, dispatchRoutes, getConfig, getUserId, httpMiddlewares, jsonResponse, listShares, updateShare } from '@chatbot/shared';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { parseCreateShareRequest, parseListSharesRequest, parseUpdateShareRequest } from './schema';

/** The caller's web origin, for the link the answer carries (headers arrive in any case). */
const originOf = (event: APIGatewayProxyEvent): string | undefined => {
  const value: unknown = Object.entries(event.headers ?? {}).find(([name]) => name.toLowerCase() === 'origin')?.[1];
  return typeof value === 'string' ? value : undefined;
};

const handleRoute = dispatchRoutes<'share-conversation'>({
  createShare: async (event) => {
    const request = parseCreateShareRequest(event, getConfig().http);
    const body = await createShare({ ...request, userId: getUserId(event), origin: originOf(event) });
    return jsonResponse(200, body);
  },
  updateShare: async (event) => {
    const { shareId, changes } = parseUpdateShareRequest(event, getConfig().http);
    await updateShare({ userId: getUserId(event), shareId, changes });
    return jsonResponse(200, JSON.stringify({ success: true }));
  },
  listShares: async (event) => {
    const page = parseListSharesRequest(event);
    return jsonResponse(200, await listShares({ ...page, userId: getUserId(event) }));
  },
});

export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>(handleRoute).use(httpMiddlewares());
