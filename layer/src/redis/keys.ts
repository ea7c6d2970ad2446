/**
 * Every Redis key the layer uses, named for what it holds, with the configured prefix
 * (`CACHE_KEY_PREFIX`, default none) applied here and nowhere else. The key table and the
 * rules behind it: docs/api.md#cache-contract.
 */
import { getConfig } from '../platform/config';

const prefixed = (name: string): string => getConfig().cache.keyPrefix + name;

export const redisKeys = {
  /** String: the GET conversation body (cache-aside). */
  conversationHistory: (conversationId: string) => prefixed(`conv:${conversationId}:history`),
  /** Hash of list pages, one field per view and page shape (cache-aside; one DEL drops them all). */
  conversationList: (userId: string) => prefixed(`user:${userId}:conversation_list`),
  /** String: the public GET share body (cache-aside; public, so no owner check on hits). */
  sharedConversation: (shareId: string) => prefixed(`share:${shareId}`),
  /**
   * Hash of a conversation's reads through OpenAI's API — the conversation object, item pages,
   * single items — for its owner (cache-aside; one DEL drops them all). Per owner, so a hit
   * needs no ownership check: another user's read never fills it.
   */
  openaiConversation: (conversationId: string, userId: string) => prefixed(`conv:${conversationId}:openai:${userId}`),
  /** List: the last messages of the branch being continued, sent to the model (not a cache of a read). */
  contextWindow: (conversationId: string) => prefixed(`chat:${conversationId}:context`),
  /** Sorted set: the user's live streams (replies and followers), each scored by when its lease runs out. */
  liveStreams: (userId: string) => prefixed(`user:${userId}:live_streams`),
  /** Sorted set: the user's turn start times in the rolling window. */
  turnLog: (userId: string) => prefixed(`user:${userId}:turns`),
  /**
   * Hash: the conversation's latest reply (token, owner, message id, status, stop flag). The
   * braces are literal, a Redis Cluster hash tag: both reply keys of a conversation share one slot.
   */
  replyCurrent: (conversationId: string) => prefixed(`stream:{${conversationId}}:current`),
  /** Stream: one reply's SSE frames, frame n under the explicit id `0-(n+1)`. */
  replyFrames: (conversationId: string, token: string) => prefixed(`stream:{${conversationId}}:${token}`),
};
