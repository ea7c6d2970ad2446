/**
 * What a client asks for when it starts (docs/api.md#models-feedback-and-remaining-turns), one function for two
 * routes: GET models (the configured list, served from memory) and GET limits (what is left of
 * the caller's turn limit, one Redis script, nothing written). Each route: one call → respond.
 */
import middy from '@middy/core';
import { dispatchRoutes, getLimitsProgress, getModelsBody, getUserId, httpMiddlewares, jsonResponse } from '@chatbot/shared';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';

const handleRoute = dispatchRoutes<'models-and-limits'>({
  listModels: async (event) => {
    // The list is the same for everyone, but only a caller with a usable identity gets it, as on every route.
    getUserId(event);
    return jsonResponse(200, getModelsBody());
  },
  getLimits: async (event) => {
    const progress = await getLimitsProgress(getUserId(event));
    return jsonResponse(200, JSON.stringify(progress));
  },
});

export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>(handleRoute).use(httpMiddlewares());
