/**
 * The cached reads — GET conversation and GET conversations — and the invalidation every write
 * runs after Postgres has the change (docs/api.md#cache-contract). A miss, and the single-flight
 * fill behind it, is `redis/cache.ts`'s `readThrough`.
 */
import { ConversationNotFoundError } from '../errors';
import { getCacheService, type CacheStatus } from '../redis/cache';
import { redisKeys } from '../redis/keys';
import { getConversationWithMessagesById, listConversationsByUserId } from './repository';
import { conversationDetailHead, conversationDetailPrefix, serializeConversationDetail, serializeConversationList } from './wire';

/** A JSON body ready to send, and how the cache answered. */
export interface CachedBody {
  readonly body: string;
  readonly cacheStatus: CacheStatus;
}

/** GET conversation: the cached body as stored, or a fresh one; a foreign or unknown id is a 404 either way. */
export async function getConversationDetail(args: { readonly conversationId: string; readonly userId: string }): Promise<CachedBody> {
  const { value, status } = await getCacheService().readThrough({
    key: redisKeys.conversationHistory(args.conversationId),
    load: async () => {
      const found = await getConversationWithMessagesById({ id: args.conversationId });
      return found && serializeConversationDetail(found.conversation, found.messages);
    },
    // Checked on hits too (the key is per conversation, not per user), on the plain head of a
    // compressed body, so another user's request never pays for decompressing it.
    expectPrefix: conversationDetailPrefix(args.conversationId, args.userId),
    plainHead: conversationDetailHead,
  });
  if (value === null) throw new ConversationNotFoundError();
  return { body: value, cacheStatus: status };
}

/**
 * Page shapes (`offset:limit` fields, both views together) cached per user: the sidebar asks
 * for a handful; a client walking arbitrary offsets gets the rest from Postgres instead of
 * growing the key.
 */
export const MAX_CACHED_LIST_PAGES = 32;

/**
 * GET conversations: one page of the default or the archived view; every page of both views
 * lives in one hash so one `DEL` drops them all.
 */
export async function listConversations(args: {
  readonly userId: string;
  readonly offset: number;
  readonly limit: number;
  readonly isArchived?: boolean;
}): Promise<CachedBody> {
  const { value, status } = await getCacheService().readThrough({
    key: redisKeys.conversationList(args.userId),
    field: `${args.isArchived ? 'archived:' : ''}${args.offset}:${args.limit}`,
    maxFields: MAX_CACHED_LIST_PAGES,
    load: async () => serializeConversationList(await listConversationsByUserId(args), args.offset, args.limit),
  });
  return { body: value as string, cacheStatus: status };
}

/**
 * Drops every cached read a change of these conversations alters: their details, their reads
 * through OpenAI's API and the user's list (both views, one key); with `contextWindows`, their
 * context windows too (a deletion); with `list: false`, not the list (a change no list shows,
 * like a rating).
 * Race-free because the change is in Postgres first and each `DEL` also removes a reader's
 * fill lease, so no reader that saw the old rows can fill the cache after it. A failure is
 * logged, counted and retried by the cache service.
 */
export async function invalidateConversationReads(
  userId: string,
  conversationIds: readonly string[],
  options: { readonly contextWindows?: boolean; readonly list?: boolean } = {},
): Promise<void> {
  const keys = options.list === false ? [] : [redisKeys.conversationList(userId)];
  for (const id of conversationIds) {
    keys.push(redisKeys.conversationHistory(id), redisKeys.openaiConversation(id, userId));
    if (options.contextWindows) keys.push(redisKeys.contextWindow(id));
  }
  await getCacheService().delete(...keys);
}
