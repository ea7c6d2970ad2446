/**
 * `@chatbot/shared/testing`: the layer's internals and test hooks, for the test suites, the
 * benchmarks and the local tools — never for a handler (the built layer does not ship it).
 * Everything the handlers' entry has, plus what a test needs to reach below it.
 */
export * from './index';

// Contracts
export * from './contracts/environment';
export * from './contracts/metrics';
export * from './contracts/route-table';

// Test hooks: replace or reset per-container state.
export { setChatModel, createChatModel, getTitleModel, maxTokensOf, resolveModelSlug, type ChatModelOptions } from './ai/models';
export { resetCacheService, getCacheService, CacheService, REPLICAS_BEHIND_PAUSE_MS, type CacheStatus, type CacheServiceOptions, type FillLeaseOptions, type ReadThroughOptions, type ReadThroughResult } from './redis/cache';
export { resetConfig, parseConfig, DEFAULT_MAX_CONVERSATION_BYTES } from './platform/config';
export { databaseStats, db, getPool, statementName, type Queryable } from './platform/database';
export { redisStats } from './redis/fail-open';

// Internals tests assert on
export * from './ai/types';
export { LOCAL_LONG_ANSWER_SLUG, LOCAL_MODEL_MARKERS, LOCAL_MODEL_SLUG, LocalChatModel } from './ai/local-model';
export { composeLongAnswer } from './ai/local-long-answer';
export * from './ai/model-catalog';
export { BedrockChatModel, toConverseMessages } from './ai/bedrock-model';
export { OpenAiChatModel } from './ai/openai-model';
export * from './ai/title';
export * from './conversations/records';
export * from './conversations/repository';
export * from './conversations/sql';
export * from './conversations/feedback-repository';
export * from './conversations/openai-repository';
export * from './conversations/openai-wire';
export { MAX_CACHED_OPENAI_READS } from './conversations/openai-conversations';
export { createResponsesEncoder, endedState, responseObject, type ResponseSettings } from './replies/responses-frames';
export { createChatCompletionEncoder } from './replies/chat-completion-frames';
export { streamTokenOf } from './replies/openai-responses';
export { toOpenAiError, openAiParamOf } from './http/openai-errors';
export * from './conversations/wire';
export * from './conversations/limits';
export { MAX_CACHED_LIST_PAGES, invalidateConversationReads } from './conversations/reads';
export * from './conversations/search-repository';
export * from './conversations/share-repository';
export { decodeSearchCursor, encodeSearchCursor, endsInWord } from './conversations/search';
export { invalidateSharedConversations, storeUserSideFromShare } from './conversations/shares';
export { startTurn, type Turn, type TurnRequest } from './conversations/turns';
export { contextEntry, contextTailPrefix, prepareContextWindow } from './conversations/context-window';
export { openReply, type ReplyEvent } from './replies/generate';
export * from './replies/frames';
export { sseStream, SSE_HEADERS } from './http/sse';
export { getRedis, type RedisConnection } from './redis/client';
export { redisKeys } from './redis/keys';
export { appendToList, readList } from './redis/context-list';
export { encodeCacheValue, decodeCacheValue } from './redis/cache-encoding';
export { defineScript, runScript } from './redis/scripts';
export { failOpen } from './redis/fail-open';
export { readTurnLog, recordTurn } from './redis/turn-limiter';
export { startReplyRecording } from './redis/reply-recorder';
export { getReplyStreamState, isReplyStreamToken, readCurrentReply, readFirstReplyFrame, requestReplyStop, discardReplyStreams } from './redis/reply-state';
export { openReplyFollower } from './redis/reply-follower';
export { UnconfirmedInvalidations, RECHECK_FIRST_DELAY_MS, RECHECK_MAX_DELAY_MS } from './redis/unconfirmed-invalidations';
export { NodeBreaker, NODE_COOL_DOWN_MS } from './redis/node-breaker';
export { alignSearchConfiguration, loadMigrations, MIGRATIONS_DIR } from './platform/migrations';
export { getSecretString } from './platform/secrets';
export { metrics } from './platform/observability';
