/**
 * The HTTP contract of the API as data: which functions exist, which routes reach them,
 * the CORS rules and the bodies of the errors the gateway itself answers. The deployed REST
 * API (`lib/api.ts`, `lib/functions.ts`), the local emulator (`local/server.ts`) and the
 * functions' own CORS middleware are all built from this one module, so the edges cannot
 * drift; a function serving several routes keys its handlers by route id. Pure data: no
 * imports, safe to load from CDK code, the emulator and the layer. The contract behind each
 * route: docs/api.md.
 */

/** One Lambda function behind the API, a folder `lambdas/<name>/index.ts`; all load the one layer. */
export interface ApiFunctionSpec {
  /** Answers with Lambda response streaming (the REST integration uses `ResponseTransferMode.STREAM`). */
  readonly streaming: boolean;
  /** Function timeout in seconds; a streamed reply may run as long as this. */
  readonly timeoutSeconds: number;
  /** Calls the model: gets the provider settings, its secret and the model permission. @default false */
  readonly callsModel?: boolean;
  /** Reads the models list (`LLM_MODELS` and friends) without calling a model; every function that calls one reads it too. @default false */
  readonly readsModelList?: boolean;
  readonly description: string;
}

export const API_FUNCTIONS = {
  'get-conversation': { streaming: false, timeoutSeconds: 15, description: 'GET /backend-api/conversation/{conversation_id}' },
  'list-conversations': { streaming: false, timeoutSeconds: 15, description: 'GET /backend-api/conversations' },
  'post-conversation': { streaming: true, timeoutSeconds: 300, callsModel: true, description: 'POST /backend-api/f/conversation (streams the reply)' },
  // gen_title calls the model, hence more time than the plain writes need; under the gateway's 29 s, which would answer 504 first.
  'update-conversation': { streaming: false, timeoutSeconds: 28, callsModel: true, description: 'PATCH a conversation or all of them; gen_title; rate a reply' },
  // As long as the reply it follows may run.
  'resume-conversation': { streaming: true, timeoutSeconds: 300, description: 'POST /backend-api/f/conversation/resume (streams a reply in progress)' },
  'reply-control': { streaming: false, timeoutSeconds: 15, description: 'GET stream_status and POST stop of a conversation\'s reply' },
  // Small reads a client makes at start: the models list from memory, the turn limit from one Redis script.
  'models-and-limits': { streaming: false, timeoutSeconds: 15, readsModelList: true, description: 'GET /backend-api/models and GET /backend-api/limits' },
  'search-conversations': { streaming: false, timeoutSeconds: 15, description: 'GET /backend-api/conversations/search' },
  // The owner's side of share links: create, rename or revoke, list.
  'share-conversation': { streaming: false, timeoutSeconds: 15, description: 'POST share/create, PATCH share/{share_id}, GET shared_conversations' },
  // The public side: anyone with the link, no token (the route is public).
  'get-shared-conversation': { streaming: false, timeoutSeconds: 15, description: 'GET /backend-api/share/{share_id} (public)' },
  // OpenAI's public API (/v1) on the same store: one function per concern, so that only the two
  // that call a model get its settings and permission, and only the two that stream are streaming functions.
  'openai-conversations': { streaming: false, timeoutSeconds: 15, description: 'OpenAI Conversations API: /v1/conversations and their items' },
  // A response may be generated in the background after its request answered: as long as a reply may run.
  'openai-responses': { streaming: true, timeoutSeconds: 300, callsModel: true, description: 'OpenAI Responses API: POST /v1/responses (streams), GET and cancel a response' },
  'openai-chat-completions': { streaming: true, timeoutSeconds: 300, callsModel: true, description: 'OpenAI Chat Completions API: POST /v1/chat/completions (stateless; streams)' },
  'openai-models': { streaming: false, timeoutSeconds: 15, readsModelList: true, description: 'OpenAI Models API: GET /v1/models and /v1/models/{model}' },
} as const satisfies Record<string, ApiFunctionSpec>;

export type ApiFunctionName = keyof typeof API_FUNCTIONS;

/**
 * API Gateway's integration timeout for a buffered (non-streaming) REST integration: past it the
 * gateway answers 504 while the function may still run, so buffered functions time out before it.
 */
export const GATEWAY_INTEGRATION_TIMEOUT_SECONDS = 29;

export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';

/** The shape of the errors a route's function answers: `{"detail": ...}` (ChatGPT's backend-api) or `{"error": {message, type, param, code}}` (OpenAI's API). */
export type ErrorFormat = 'detail' | 'openai';

/** One method on one resource. */
export interface ApiRoute {
  /** Names the route in code: a function serving several routes keys its handlers by it. */
  readonly id: string;
  readonly method: HttpMethod;
  /** The API Gateway resource path, as `event.resource` carries it (`{name}` = a path parameter). */
  readonly path: string;
  readonly function: ApiFunctionName;
  /** Query parameters the route reads (declared to the gateway's validator, all optional). @default none */
  readonly query?: readonly string[];
  /** The route takes a JSON body (the gateway requires a Content-Type header). @default false */
  readonly jsonBody?: boolean;
  /**
   * Anyone may call it: no authorizer, no token (the function never reads a caller's identity),
   * and a throttle of its own on the deployed API, so anonymous traffic cannot use up the stage's.
   * @default false
   */
  readonly public?: boolean;
  /** How the function renders its errors. @default 'detail' */
  readonly errorFormat?: ErrorFormat;
}

export const API_ROUTES = [
  { id: 'getConversation', method: 'GET', path: '/backend-api/conversation/{conversation_id}', function: 'get-conversation' },
  { id: 'listConversations', method: 'GET', path: '/backend-api/conversations', function: 'list-conversations', query: ['offset', 'limit', 'order', 'is_archived'] },
  { id: 'postConversation', method: 'POST', path: '/backend-api/f/conversation', function: 'post-conversation', jsonBody: true },
  // The path older ChatGPT clients post to.
  { id: 'postConversationLegacyPath', method: 'POST', path: '/backend-api/conversation', function: 'post-conversation', jsonBody: true },
  { id: 'updateConversation', method: 'PATCH', path: '/backend-api/conversation/{conversation_id}', function: 'update-conversation', jsonBody: true },
  { id: 'updateAllConversations', method: 'PATCH', path: '/backend-api/conversations', function: 'update-conversation', jsonBody: true },
  { id: 'generateTitle', method: 'POST', path: '/backend-api/conversation/gen_title/{conversation_id}', function: 'update-conversation', jsonBody: true },
  { id: 'getStreamStatus', method: 'GET', path: '/backend-api/conversation/{conversation_id}/stream_status', function: 'reply-control' },
  { id: 'stopReply', method: 'POST', path: '/backend-api/conversation/{conversation_id}/stop', function: 'reply-control' },
  { id: 'resumeReply', method: 'POST', path: '/backend-api/f/conversation/resume', function: 'resume-conversation', jsonBody: true },
  { id: 'rateMessage', method: 'POST', path: '/backend-api/conversation/message_feedback', function: 'update-conversation', jsonBody: true },
  { id: 'listModels', method: 'GET', path: '/backend-api/models', function: 'models-and-limits' },
  { id: 'getLimits', method: 'GET', path: '/backend-api/limits', function: 'models-and-limits' },
  { id: 'searchConversations', method: 'GET', path: '/backend-api/conversations/search', function: 'search-conversations', query: ['query', 'cursor', 'limit'] },
  { id: 'createShare', method: 'POST', path: '/backend-api/share/create', function: 'share-conversation', jsonBody: true },
  { id: 'updateShare', method: 'PATCH', path: '/backend-api/share/{share_id}', function: 'share-conversation', jsonBody: true },
  { id: 'listShares', method: 'GET', path: '/backend-api/shared_conversations', function: 'share-conversation', query: ['offset', 'limit', 'order'] },
  { id: 'getSharedConversation', method: 'GET', path: '/backend-api/share/{share_id}', function: 'get-shared-conversation', public: true },
  // OpenAI's API. No `jsonBody`: the function checks the body itself, so a bad one gets OpenAI's error shape, not the gateway's.
  { id: 'createOpenAiConversation', method: 'POST', path: '/v1/conversations', function: 'openai-conversations', errorFormat: 'openai' },
  { id: 'getOpenAiConversation', method: 'GET', path: '/v1/conversations/{conversation_id}', function: 'openai-conversations', errorFormat: 'openai' },
  { id: 'updateOpenAiConversation', method: 'POST', path: '/v1/conversations/{conversation_id}', function: 'openai-conversations', errorFormat: 'openai' },
  { id: 'deleteOpenAiConversation', method: 'DELETE', path: '/v1/conversations/{conversation_id}', function: 'openai-conversations', errorFormat: 'openai' },
  { id: 'listOpenAiConversationItems', method: 'GET', path: '/v1/conversations/{conversation_id}/items', function: 'openai-conversations', query: ['limit', 'order', 'after', 'include'], errorFormat: 'openai' },
  { id: 'createOpenAiConversationItems', method: 'POST', path: '/v1/conversations/{conversation_id}/items', function: 'openai-conversations', query: ['include'], errorFormat: 'openai' },
  { id: 'getOpenAiConversationItem', method: 'GET', path: '/v1/conversations/{conversation_id}/items/{item_id}', function: 'openai-conversations', query: ['include'], errorFormat: 'openai' },
  { id: 'deleteOpenAiConversationItem', method: 'DELETE', path: '/v1/conversations/{conversation_id}/items/{item_id}', function: 'openai-conversations', errorFormat: 'openai' },
  { id: 'createResponse', method: 'POST', path: '/v1/responses', function: 'openai-responses', errorFormat: 'openai' },
  { id: 'getResponse', method: 'GET', path: '/v1/responses/{response_id}', function: 'openai-responses', query: ['stream', 'starting_after', 'include', 'include_obfuscation'], errorFormat: 'openai' },
  { id: 'cancelResponse', method: 'POST', path: '/v1/responses/{response_id}/cancel', function: 'openai-responses', errorFormat: 'openai' },
  { id: 'createChatCompletion', method: 'POST', path: '/v1/chat/completions', function: 'openai-chat-completions', errorFormat: 'openai' },
  { id: 'listOpenAiModels', method: 'GET', path: '/v1/models', function: 'openai-models', errorFormat: 'openai' },
  { id: 'getOpenAiModel', method: 'GET', path: '/v1/models/{model}', function: 'openai-models', errorFormat: 'openai' },
] as const satisfies readonly ApiRoute[];

export type RouteId = (typeof API_ROUTES)[number]['id'];

/**
 * The OpenAPI 3.1 document of these routes (docs/openapi.json, `npm run openapi`): a public route
 * the local emulator answers itself, with no function behind it. The deployed API does not serve
 * it: the document is static, committed, and the same for every deployment.
 */
export const OPENAPI_DOCUMENT_ROUTE = { id: 'getOpenApiDocument', method: 'GET', path: '/backend-api/openapi.json', public: true } as const;


/** The routes a function serves, by id. */
export type RouteIdOf<F extends ApiFunctionName> = Extract<(typeof API_ROUTES)[number], { function: F }>['id'];

const ROUTES: ReadonlyMap<string, ApiRoute & { readonly id: RouteId }> = new Map(API_ROUTES.map((route) => [`${route.method} ${route.path}`, route]));

/** The route an event reached (`event.httpMethod`, `event.resource`), or `undefined`. */
export const routeIdOf = (method: string, resource: string): RouteId | undefined => ROUTES.get(`${String(method).toUpperCase()} ${resource}`)?.id;

/** How the route an event reached renders its errors; `detail` for an event no route matches. */
export const errorFormatOf = (method: string, resource: string): ErrorFormat => ROUTES.get(`${String(method).toUpperCase()} ${resource}`)?.errorFormat ?? 'detail';

/** The path parameter names of a resource path, in order. */
export const pathParameterNames = (path: string): string[] => [...path.matchAll(/\{([^}]+)\}/g)].map((match) => match[1]);

/** CORS, on preflights (gateway), on the functions' responses (middleware) and on gateway errors. */
export const CORS = {
  /** Request headers a browser may send: ours, the ChatGPT web client's and the official OpenAI SDKs' (a browser frontend on `/v1`). */
  allowHeaders: [
    'Content-Type',
    'Authorization',
    'Accept',
    'X-Amz-Date',
    'X-Api-Key',
    'X-Amz-Security-Token',
    'OAI-Device-Id',
    'OAI-Language',
    'OAI-Client-Version',
    'OpenAI-Sentinel-Chat-Requirements-Token',
    'OpenAI-Sentinel-Proof-Token',
    'OpenAI-Sentinel-Turnstile-Token',
    'OpenAI-Sentinel-Arkose-Token',
    'OpenAI-Organization',
    'OpenAI-Project',
    'OpenAI-Beta',
    'X-Stainless-Arch',
    'X-Stainless-Helper-Method',
    'X-Stainless-Lang',
    'X-Stainless-OS',
    'X-Stainless-Package-Version',
    'X-Stainless-Retry-Count',
    'X-Stainless-Runtime',
    'X-Stainless-Runtime-Version',
    'X-Stainless-Timeout',
  ],
  /**
   * Response headers a browser script may read; `Retry-After` tells a client when a 429 ends,
   * `X-Should-Retry` tells an OpenAI SDK not to retry a request whose first attempt already stored something.
   */
  exposeHeaders: ['X-Cache', 'X-Request-Id', 'Retry-After', 'X-Should-Retry'],
  /** How long a browser may reuse a preflight answer. */
  maxAgeSeconds: 3600,
} as const;

/** Whether a route answers without a token. */
export const isPublicRoute = (route: ApiRoute): boolean => route.public === true;

/** Every method the API answers, plus OPTIONS for preflights. */
export const CORS_ALLOW_METHODS: readonly string[] = [...new Set(API_ROUTES.map((route) => route.method)), 'OPTIONS'];

/** An error the gateway answers itself, before any function runs. */
export interface GatewayError {
  /** API Gateway's response type (`AWS::ApiGateway::GatewayResponse` ResponseType). */
  readonly type: string;
  /** The HTTP status; API Gateway's own when absent in the template. */
  readonly status: number;
  readonly code: string;
  readonly message: string;
  /** Override API Gateway's status in the template. @default false */
  readonly overrideStatus?: boolean;
}

export const GATEWAY_ERRORS: readonly GatewayError[] = [
  { type: 'UNAUTHORIZED', status: 401, code: 'unauthorized', message: 'Unauthorized' },
  { type: 'ACCESS_DENIED', status: 403, code: 'forbidden', message: 'Forbidden' },
  { type: 'EXPIRED_TOKEN', status: 403, code: 'token_expired', message: 'The token has expired' },
  // REST APIs answer an unknown path, or a method a resource lacks, with "Missing Authentication Token" 403.
  { type: 'MISSING_AUTHENTICATION_TOKEN', status: 404, code: 'not_found', message: 'Not Found', overrideStatus: true },
  { type: 'THROTTLED', status: 429, code: 'rate_limited', message: 'Too many requests' },
  { type: 'BAD_REQUEST_PARAMETERS', status: 400, code: 'invalid_request', message: 'Invalid request parameters' },
  { type: 'BAD_REQUEST_BODY', status: 400, code: 'invalid_request', message: 'Invalid request body' },
  { type: 'REQUEST_TOO_LARGE', status: 413, code: 'request_too_large', message: 'Request too large' },
  { type: 'UNSUPPORTED_MEDIA_TYPE', status: 415, code: 'unsupported_media_type', message: 'Unsupported media type' },
  { type: 'INTEGRATION_TIMEOUT', status: 504, code: 'timeout', message: 'The request timed out' },
  { type: 'DEFAULT_4XX', status: 400, code: 'bad_request', message: 'Bad request' },
  { type: 'DEFAULT_5XX', status: 500, code: 'internal_error', message: 'Internal server error' },
];

/** The gateway error of a response type; throws for a type the table does not have. */
export function gatewayError(type: string): GatewayError {
  const found = GATEWAY_ERRORS.find((error) => error.type === type);
  if (!found) throw new Error(`No gateway error of type ${type}`);
  return found;
}

/** The JSON body the gateway answers with: the app's own `{"detail": {message, code}}` shape. */
export const gatewayErrorBody = (error: GatewayError): string => JSON.stringify({ detail: { message: error.message, code: error.code } });
