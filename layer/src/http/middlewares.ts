/**
 * The HTTP edge every API function shares: cross-cutting concerns as middy middlewares (the
 * error shape ChatGPT clients parse, `{"detail": ...}`; CORS; logging context; metrics), the
 * caller's identity from the authorizer, JSON responses, and route dispatch by route id for a
 * function that serves several routes.
 */
import { Readable } from 'node:stream';
import type { MiddlewareObj } from '@middy/core';
import httpCors from '@middy/http-cors';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { CORS, errorFormatOf, gatewayError, gatewayErrorBody, routeIdOf, type ApiFunctionName, type RouteIdOf } from '../contracts/route-table';
import { AppError, UnauthorizedError } from '../errors';
import { getConfig } from '../platform/config';
import { logger, publishMetricsIfAny } from '../platform/observability';
import { beginTracedRequest, reportTimings } from '../platform/tracing';
import { OPENAI_INTERNAL_ERROR, toOpenAiError } from './openai-errors';
import { isStorableText } from './validation';

type HttpMiddleware = MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult>;

export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/** A JSON response with the headers every endpoint sends. */
export function jsonResponse(statusCode: number, body: string, headers: Record<string, string> = {}): APIGatewayProxyResult {
  return { statusCode, headers: { 'Content-Type': JSON_CONTENT_TYPE, 'Cache-Control': 'no-store', ...headers }, body };
}

/**
 * Renders errors in the shape of the route the request reached (the route table's
 * `errorFormat`): `{"detail": ...}` for the `backend-api`, `{"error": {...}}` for OpenAI's API.
 * Known application errors keep their message; anything else is logged with its cause and
 * answered with a generic 500.
 */
export function httpErrorResponse(): HttpMiddleware {
  return {
    onError: async (request) => {
      const error = request.error;
      const openai = errorFormatOf(request.event?.httpMethod, request.event?.resource) === 'openai';
      if (error instanceof AppError) {
        const log = error.status >= 500 ? logger.error.bind(logger) : logger.info.bind(logger);
        log('Request failed', { status: error.status, code: error.code, error: error.message, cause: error.cause });
        if (openai) {
          const rendered = toOpenAiError(error);
          request.response = jsonResponse(rendered.status, rendered.body, { ...rendered.headers });
        } else request.response = jsonResponse(error.status, JSON.stringify({ detail: error.detail }), { ...error.headers });
        return;
      }
      logger.error('Unhandled error', { error });
      request.response = openai
        ? jsonResponse(OPENAI_INTERNAL_ERROR.status, OPENAI_INTERNAL_ERROR.body)
        : jsonResponse(500, JSON.stringify({ detail: { message: 'Internal server error', code: 'internal_error' } }));
    },
  };
}

/** CORS for the configured origins (`ALLOWED_ORIGINS`), on successes and errors alike. */
export function corsHeaders(): HttpMiddleware {
  return httpCors({
    origins: [...getConfig().http.allowedOrigins],
    exposeHeaders: CORS.exposeHeaders.join(', '),
  }) as HttpMiddleware;
}

/**
 * The caller's user id: the authorizer's `sub`, never anything the client sent — the Cognito
 * authorizer's `claims.sub` (`authMode=cognito`) or the Lambda authorizer's context `sub`
 * (`authMode=oidc`, `http/authorizer.ts`). A `sub` that cannot be stored as itself (NUL, a lone
 * surrogate: `eve\ud800` would become `eve\ufffd` in Postgres and Redis, another user's id) is a
 * 401, whatever authorizer let it through.
 */
export function getUserId(event: Pick<APIGatewayProxyEvent, 'requestContext'>): string {
  const authorizer = event.requestContext?.authorizer as Record<string, unknown> | null | undefined;
  const claims = authorizer && Object.hasOwn(authorizer, 'claims') ? (authorizer.claims as Record<string, unknown> | null) : undefined;
  const source = claims && typeof claims === 'object' ? claims : authorizer;
  const sub = source && Object.hasOwn(source, 'sub') ? source.sub : undefined;
  if (typeof sub !== 'string' || sub === '' || !isStorableText(sub)) throw new UnauthorizedError();
  return sub;
}

/**
 * Times the request (Redis, Postgres, model: X-Ray subsegments when sampled, and the summary)
 * and reports the summary when the response is ready — for a streamed one, when its stream ends
 * (`http/sse.ts`).
 */
export function traceRequest(): HttpMiddleware {
  const report = (response: { statusCode?: number; body?: unknown } | null | undefined) => {
    if (response && !(response.body instanceof Readable)) reportTimings(response.statusCode ?? 200);
  };
  return {
    before: async (request) => beginTracedRequest({ method: request.event.httpMethod, resource: request.event.resource }),
    after: async (request) => report(request.response),
    onError: async (request) => report(request.response),
  };
}

/**
 * Publishes the invocation's metrics as EMF, like Powertools' `logMetrics`, but only when
 * there are some: a request that counted nothing (a 422, a warm POST) logs no warning.
 */
export function flushMetrics(): HttpMiddleware {
  const flush = async () => publishMetricsIfAny();
  return { after: flush, onError: flush };
}

/**
 * The middlewares every HTTP handler uses, in order: request timings, Lambda context in every
 * log line (its X-Ray trace id included), metrics flushed per invocation, CORS, and the error
 * renderer — last, so its `onError` runs first and CORS then decorates the error response too.
 */
export function httpMiddlewares<TResult = APIGatewayProxyResult>(): MiddlewareObj<APIGatewayProxyEvent, TResult>[] {
  const middlewares: HttpMiddleware[] = [
    // First, so its after/onError run last: the response (an error's too) is final by then.
    traceRequest(),
    // resetKeys: a warm container must not carry one request's log keys into the next.
    injectLambdaContext(logger, { resetKeys: true }) as HttpMiddleware,
    flushMetrics(),
    corsHeaders(),
    httpErrorResponse(),
  ];
  // A streamed result only differs in its body, which none of these touch.
  return middlewares as unknown as MiddlewareObj<APIGatewayProxyEvent, TResult>[];
}

/**
 * One route of a function that serves several: parse → one service call → respond. A
 * streaming function's routes answer a `StreamingResult` (`TResult`), which a JSON answer is too.
 */
export type RouteHandler<TResult = APIGatewayProxyResult> = (event: APIGatewayProxyEvent, context: Context) => Promise<TResult>;

/**
 * The handler of function `F`, which serves several routes of the route table: one handler per
 * route id of `F` (the type requires every one). API Gateway sends only the table's routes
 * here; anything else (a misconfigured integration) is the gateway's own 404.
 */
export function dispatchRoutes<F extends ApiFunctionName, TResult = APIGatewayProxyResult>(
  routes: Readonly<Record<RouteIdOf<F>, RouteHandler<TResult | APIGatewayProxyResult>>>,
): RouteHandler<TResult | APIGatewayProxyResult> {
  const byId: Readonly<Record<string, RouteHandler<TResult | APIGatewayProxyResult>>> = routes;
  return async (event, context) => {
    const id = routeIdOf(event.httpMethod, event.resource);
    const route = id === undefined ? undefined : byId[id];
    if (!route) return jsonResponse(404, gatewayErrorBody(gatewayError('MISSING_AUTHENTICATION_TOKEN')));
    return route(event, context);
  };
}
