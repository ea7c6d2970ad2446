/**
 * `@chatbot/shared`: the one Lambda layer every function loads, and what its handlers use —
 * each handler parses its request, makes one use-case call from here, and responds. The
 * stack publishes it as one LayerVersion at /opt/nodejs/node_modules/@chatbot/shared.
 *
 * The parts (folders of `src/`): `contracts/` (routes, environment, metrics: plain data the
 * stack and the emulator share), `http/` (the edge), `conversations/` (use cases, repository,
 * wire shapes, limits), `replies/` (generating, streaming, resuming and stopping a reply),
 * `redis/` (the cache, the context window, reply streams, the turn log — all fail-open),
 * `ai/` (model providers), `platform/` (config, database, secrets, migrations, observability).
 * Test hooks are in `@chatbot/shared/testing`, which no handler imports.
 */
export * from './errors';

// The HTTP edge
export { dispatchRoutes, getUserId, httpMiddlewares, jsonResponse, type RouteHandler } from './http/middlewares';
export { sseResponse, type StreamingResult } from './http/sse';
export { IssueCollector, isStorableText, isUuid, MAX_TITLE_CHARS, readIntegerParam, readJsonObjectBody, readTitle } from './http/validation';
export { finishBackgroundWork, openAiReplyResponse } from './http/background';
export { authorizeToken } from './http/authorizer';
export {
  assertListedModel,
  isJsonObject,
  MAX_REQUEST_ITEMS,
  readConversationIdParam,
  readMessageItem,
  readMessageItems,
  readMetadata,
  readModel,
  readOptionalBoolean,
  readOptionalInteger,
  toChatMessages,
  type RequestMessage,
} from './http/openai-validation';

// Conversations
export { getConversationDetail, listConversations, type CachedBody } from './conversations/reads';
export { updateAllConversations, updateConversation } from './conversations/lifecycle';
export { generateConversationTitle } from './conversations/titles';
export { rateMessage, type FeedbackContent, type FeedbackRating, type FeedbackReceipt } from './conversations/feedback';
export { purgeDeletedConversations } from './conversations/purge';
export { assertMessageLength, getLimitsProgress, type LimitProgress } from './conversations/limits';
export { MAX_SEARCH_QUERY_CHARS, searchConversations } from './conversations/search';
export { createShare, getSharedConversation, listShares, SHARED_CONVERSATION_MAX_AGE_SECONDS, updateShare, type ShareChanges } from './conversations/shares';
export type { ConversationChanges } from './conversations/repository';
export type { IncomingUserMessage, TurnAction } from './conversations/turns';
export {
  addOpenAiConversationItems,
  createOpenAiConversation,
  deleteOpenAiConversation,
  deleteOpenAiConversationItem,
  getOpenAiConversation,
  getOpenAiConversationItem,
  listOpenAiConversationItems,
  updateOpenAiConversation,
  type NewItem,
  type OpenAiBody,
} from './conversations/openai-conversations';
export { parseItemId, parseResponseId } from './conversations/openai-wire';

// Replies
export { startConversationReply, type ConversationReply } from './replies/start-reply';
export { followConversationReply } from './replies/follow-reply';
export { getConversationStreamStatus, stopConversationReply, type StreamStatus } from './replies/reply-control';
export type { FrameStream, ReplyEncoding } from './replies/frames';
export { cancelResponse, createResponse, followResponse, getResponse, type CreateResponseRequest, type OpenAiReplyResult } from './replies/openai-responses';
export { createChatCompletion, type ChatCompletionRequest } from './replies/chat-completions';

// Models
export { findListedModel, getChatModel, getModelsBody, getOpenAiModelBody, getOpenAiModelsBody } from './ai/models';

// Platform
export { getConfig, ConfigError, type AppConfig } from './platform/config';
export { closeDatabase } from './platform/database';
export { closeRedis } from './redis/client';
export { migrateDatabase, runMigrations } from './platform/migrations';
export { logger } from './platform/observability';
export { formatTimings, setTimingSink, type TimingSummary } from './platform/tracing';
