/**
 * The OpenAPI 3.1 document of the API, built from the route table (`API_ROUTES`, which routes
 * exist, which are public, which take a body, how they render errors) and the routes' schemas
 * (`ROUTE_SCHEMAS`). `npm run openapi` writes it to docs/openapi.json; the local emulator
 * serves it at `GET /backend-api/openapi.json`. Pure: no I/O.
 */
import type { TSchema } from '@sinclair/typebox';
import { ROUTE_SCHEMAS } from './route-schemas';
import { API_FUNCTIONS, API_ROUTES, OPENAPI_DOCUMENT_ROUTE, type ApiRoute, type RouteId } from './route-table';
import * as B from './schemas/backend-api';
import { DetailError, DetailObjectError, OpenAiError, ValidationErrorBody } from './schemas/common';
import * as O from './schemas/openai';

type Json = Record<string, unknown>;

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
/** A schema where an operation uses it: a `$ref` when it is a component. */
const use = (schema: TSchema): Json => (typeof schema.$id === 'string' && Object.hasOwn(COMPONENTS, schema.$id) ? ref(schema.$id) : plain(schema));
/** Schemas the document names (`components.schemas`, by their `$id`) and refers to wherever they appear. */
const COMPONENTS: Readonly<Record<string, TSchema>> = Object.fromEntries(
  [
    DetailError,
    DetailObjectError,
    ValidationErrorBody,
    OpenAiError,
    B.PostConversationMessage,
    B.WireNode,
    B.ConversationDetail,
    B.ConversationList,
    B.SharedConversation,
    O.MessageItem,
    O.OutputItem,
    O.OpenAiConversation,
    O.OpenAiResponse,
    O.ChatCompletion,
  ].map((schema) => [schema.$id as string, schema]),
);

/** A TypeBox schema as plain JSON: a named schema inside it becomes a `$ref` to its component; no `$id` is left (it would rebase refs). */
function plain(schema: TSchema): Json {
  return JSON.parse(
    JSON.stringify(schema, function (this: unknown, key: string, value: unknown) {
      if (key === '$id') return undefined;
      const id = typeof value === 'object' && value !== null ? (value as { $id?: unknown }).$id : undefined;
      // Not the schema being serialised itself (the root, key ''), only what it contains.
      if (key !== '' && typeof id === 'string' && Object.hasOwn(COMPONENTS, id)) return ref(id);
      return value;
    }),
  ) as Json;
}

/** What each status means, in one line; the bodies' `code`s are in docs/api.md#errors. */
const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'OpenAI routes: any refused request, naming the parameter. The gateway: a body route without Content-Type or with a body that is not a JSON object (deployed), two Authorization headers (local)',
  403: 'The gateway: an expired or refused token (deployed)',
  401: 'Missing, malformed, expired or wrongly signed token (the gateway), or a token whose `sub` cannot be a user id (the function)',
  404: 'Not found: unknown, deleted or another user\'s object (they look the same), or an unknown path',
  409: 'The message id already exists in the conversation under another parent',
  413: 'The body or the message is too large, or the conversation or the share count would pass its limit',
  415: 'A Content-Type other than application/json',
  422: 'A malformed body, query or path: one issue per offending field (or `model_not_allowed`)',
  429: 'The turn limit or the live-stream cap (`Retry-After`), or the gateway\'s throttle',
  500: 'An unexpected error; the body says nothing about its cause',
  502: 'The model failed before its first token',
  503: 'Postgres (or, for replies, Redis) is unavailable: retry',
  504: 'The gateway timed out waiting for a buffered function',
};

/** The error body of a status on a route. */
function errorSchema(route: ApiRoute, status: number): Json {
  const openai = route.errorFormat === 'openai';
  if (!openai) return status === 422 ? ref('ValidationError') : ref('DetailObjectError');
  // The gateway answers before any function, in the `detail` shape, on every route.
  if (status === 403 || status === 504) return ref('DetailObjectError');
  if ([400, 401, 413, 429].includes(status)) return { anyOf: [ref('OpenAiError'), ref('DetailObjectError')] };
  return ref('OpenAiError');
}

/** Every status a route may answer besides 200: its own, then the ones the edge adds. */
export function errorStatusesOf(route: ApiRoute & { readonly id: RouteId }): number[] {
  const statuses = new Set<number>(ROUTE_SCHEMAS[route.id].errors);
  // The authorizer's: no or a bad token (401), an expired or refused one (403, deployed).
  if (route.public !== true) [401, 403].forEach((status) => statuses.add(status));
  if (ROUTE_SCHEMAS[route.id].body) statuses.add(413);
  // The gateway's request validator (deployed): a body route without Content-Type, or a body that is not a JSON object.
  if (route.jsonBody === true) [400, 415].forEach((status) => statuses.add(status));
  statuses.add(429);
  statuses.add(500);
  // A buffered integration times out at the gateway (GATEWAY_INTEGRATION_TIMEOUT_SECONDS); a streaming one runs as long as its function.
  if (!API_FUNCTIONS[route.function].streaming) statuses.add(504);
  return [...statuses].sort((a, b) => a - b);
}

function parameters(location: 'path' | 'query', schema: TSchema | undefined): Json[] {
  if (!schema) return [];
  const object = plain(schema) as { properties: Record<string, Json>; required?: string[] };
  return Object.entries(object.properties).map(([name, property]) => ({
    name,
    in: location,
    required: location === 'path' || (object.required ?? []).includes(name),
    schema: property,
    ...(typeof property.description === 'string' ? { description: property.description } : {}),
  }));
}

function operation(route: (typeof API_ROUTES)[number]): Json {
  const schemas = ROUTE_SCHEMAS[route.id];
  const content: Json = {};
  if (schemas.ok.stream !== 'always') content['application/json'] = { schema: use(schemas.ok.schema) };
  if (schemas.ok.stream) content['text/event-stream'] = { schema: { type: 'string', description: 'Server-sent events: `data: <json>` frames, `: ping` heartbeats, `data: [DONE]` at the end' } };
  const responses: Json = { 200: { description: 'OK', content } };
  for (const status of errorStatusesOf(route)) {
    responses[status] = { description: STATUS_TEXT[status] ?? 'Error', content: { 'application/json': { schema: errorSchema(route, status) } } };
  }
  const openai = (route as ApiRoute).errorFormat === 'openai';
  return {
    operationId: route.id,
    summary: schemas.summary,
    tags: [openai ? 'openai' : 'backend-api'],
    'x-function': route.function,
    ...((route as ApiRoute).public === true ? { security: [] } : {}),
    parameters: [...parameters('path', schemas.pathParams), ...parameters('query', schemas.query)],
    ...(schemas.body ? { requestBody: { required: schemas.bodyOptional !== true, content: { 'application/json': { schema: use(schemas.body) } } } } : {}),
    responses,
  };
}

/** The whole document, deterministic (same input, same bytes once serialised). */
export function buildOpenApiDocument(version: string): Json {
  const paths: Record<string, Json> = {};
  for (const route of API_ROUTES) (paths[route.path] ??= {})[route.method.toLowerCase()] = operation(route);
  paths[OPENAPI_DOCUMENT_ROUTE.path] = {
    get: {
      operationId: OPENAPI_DOCUMENT_ROUTE.id,
      summary: 'This document (served by the local emulator; public, no token)',
      tags: ['backend-api'],
      security: [],
      responses: { 200: { description: 'OK', content: { 'application/json': { schema: { type: 'object', required: ['openapi', 'paths'] } } } } },
    },
  };
  return {
    openapi: '3.1.0',
    info: {
      title: 'chatbot-api',
      version,
      description:
        "ChatGPT's backend-api wire format and OpenAI's public API (/v1) on one store. Generated from layer/src/contracts/route-table.ts and route-schemas.ts by `npm run openapi`; the prose contract is docs/api.md.",
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    jsonSchemaDialect: 'https://spec.openapis.org/oas/3.1/dialect/base',
    servers: [
      { url: 'http://127.0.0.1:3000', description: 'npm start' },
      {
        url: 'https://{apiId}.execute-api.{region}.amazonaws.com/{stage}',
        description: 'Deployed (stack output ApiUrl, without /backend-api)',
        variables: { apiId: { default: 'api-id' }, region: { default: 'us-east-1' }, stage: { default: 'dev' } },
      },
    ],
    security: [{ bearer: [] }],
    tags: [
      { name: 'backend-api', description: "ChatGPT's backend-api wire format; errors are `{\"detail\": ...}`" },
      { name: 'openai', description: "OpenAI's public API; errors are `{\"error\": {message, type, param, code}}` (the gateway's own are `detail`)" },
    ],
    paths,
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'Deployed: a Cognito access token; locally: `npm run token`' },
      },
      schemas: Object.fromEntries(Object.entries(COMPONENTS).map(([name, schema]) => [name, plain(schema)])),
    },
  };
}

/** The document as docs/openapi.json holds it. */
export const serializeOpenApiDocument = (version: string): string => `${JSON.stringify(buildOpenApiDocument(version), null, 2)}\n`;
