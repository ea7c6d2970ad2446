/**
 * OpenAI's Models API (docs/api.md#openai-api-v1): the deployment's model list (`LLM_MODELS`,
 * the same as GET /backend-api/models) as OpenAI's model objects, served from memory.
 */
import middy from '@middy/core';
import { dispatchRoutes, getOpenAiModelBody, getOpenAiModelsBody, getUserId, httpMiddlewares, jsonResponse } from '@chatbot/shared';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';

const handleRoute = dispatchRoutes<'openai-models'>({
  listOpenAiModels: async (event) => {
    // The list is the same for everyone, but only a caller with a usable identity gets it, as on every route.
    getUserId(event);
    return jsonResponse(200, getOpenAiModelsBody());
  },
  getOpenAiModel: async (event) => {
    getUserId(event);
    const params = event.pathParameters;
    return jsonResponse(200, getOpenAiModelBody(params && Object.hasOwn(params, 'model') ? params.model : undefined));
  },
});

export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>(handleRoute).use(httpMiddlewares());
