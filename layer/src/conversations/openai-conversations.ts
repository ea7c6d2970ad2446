/**
 * OpenAI's Conversations API on the `backend-api`'s store (docs/api.md#openai-api-v1): a
 * conversation and its items are the same rows, so one conversation shows through both APIs.
 * Reads are cache-aside in one hash per conversation and owner (`redisKeys.openaiConversation`)
 * with the detail's single-flight fill; every write goes Postgres first, then
 * `invalidateConversationReads`, which drops that hash with the detail and the list.
 */
import { randomUUID } from 'node:crypto';
import { ConversationNotFoundError, InvalidParameterError, OpenAiObjectNotFoundError } from '../errors';
import { getConfig } from '../platform/config';
import { getCacheService, type CacheStatus } from '../redis/cache';
import { redisKeys } from '../redis/keys';
import { updateConversation } from './lifecycle';
import { assertRoomForItems, conversationTooLong } from './limits';
import {
  appendItemsByConversationId,
  chainSize,
  createConversationWithItems,
  deleteMessageByConversationIdAndId,
  getConversationHeaderById,
  getCurrentBranchByConversationId,
  getMessageByConversationIdAndId,
  updateConversationMetadataById,
  type NewItem,
} from './openai-repository';
import { invalidateConversationReads } from './reads';
import { messageContentBytes } from './records';
import { getTurnTargetByConversationId, MessageConflictError } from './repository';
import { pageOfBranch, toItemList, toItemId, toMessageItem, toOpenAiConversation, toOpenAiConversationId } from './openai-wire';

export type { NewItem };

/** A JSON body ready to send, and how the cache answered (`BYPASS` for a write). */
export interface OpenAiBody {
  readonly body: string;
  readonly cacheStatus: CacheStatus;
}

/** Item reads a client walks through (page shapes and single items) cached per conversation and owner; more are served from Postgres. */
export const MAX_CACHED_OPENAI_READS = 32;

/** One cached read of the conversation: `load` runs on a miss; `null` from it is a 404. */
async function cachedRead(args: { readonly conversationId: string; readonly userId: string }, field: string, load: () => Promise<string | null>): Promise<OpenAiBody> {
  const { value, status } = await getCacheService().readThrough({
    key: redisKeys.openaiConversation(args.conversationId, args.userId),
    field,
    maxFields: MAX_CACHED_OPENAI_READS,
    load,
  });
  if (value === null) throw new ConversationNotFoundError();
  return { body: value, cacheStatus: status };
}

const written = (body: unknown): OpenAiBody => ({ body: typeof body === 'string' ? body : JSON.stringify(body), cacheStatus: 'BYPASS' });

/** Two items with one id (a client-chosen id stored twice). */
function rejectConflict(error: unknown): never {
  if (error instanceof MessageConflictError) throw new InvalidParameterError('items', 'Two items cannot have the same id', 'duplicate_item_id');
  throw error;
}

/** POST /v1/conversations: a new conversation of the user with `items` as its branch; it shows in the `backend-api` list at once. */
export async function createOpenAiConversation(args: {
  readonly userId: string;
  readonly items: readonly NewItem[];
  readonly metadata: Readonly<Record<string, string>>;
}): Promise<OpenAiBody> {
  assertRoomForItems({ messageCount: 0, contentBytes: 0, reservedMessages: 0, reservedBytes: 0 }, chainSize(args.items));
  const created = await createConversationWithItems({ id: randomUUID(), userId: args.userId, systemNodeId: randomUUID(), items: args.items, metadata: args.metadata }).catch(
    rejectConflict,
  );
  await invalidateConversationReads(args.userId, [created.conversation.id]);
  return written(toOpenAiConversation(created.conversation));
}

/** GET /v1/conversations/{id}. */
export function getOpenAiConversation(args: { readonly conversationId: string; readonly userId: string }): Promise<OpenAiBody> {
  return cachedRead(args, 'conversation', async () => {
    const header = await getConversationHeaderById({ id: args.conversationId });
    return header && header.userId === args.userId ? JSON.stringify(toOpenAiConversation(header)) : null;
  });
}

/** POST /v1/conversations/{id}: replaces its metadata. */
export async function updateOpenAiConversation(args: {
  readonly conversationId: string;
  readonly userId: string;
  readonly metadata: Readonly<Record<string, string>>;
}): Promise<OpenAiBody> {
  const header = await updateConversationMetadataById({ id: args.conversationId, userId: args.userId, metadata: args.metadata });
  if (!header) throw new ConversationNotFoundError();
  // Only OpenAI's reads show the metadata: the list keeps its pages.
  await invalidateConversationReads(args.userId, [args.conversationId], { list: false });
  return written(toOpenAiConversation(header));
}

/** DELETE /v1/conversations/{id}: the `backend-api`'s soft delete (its reply stops, it leaves every read). */
export async function deleteOpenAiConversation(args: { readonly conversationId: string; readonly userId: string }): Promise<OpenAiBody> {
  await updateConversation({ ...args, changes: { deleted: true } });
  return written({ id: toOpenAiConversationId(args.conversationId), object: 'conversation.deleted', deleted: true });
}

/** GET /v1/conversations/{id}/items: a page of the current branch (root to `current_node`), user and assistant messages. */
export function listOpenAiConversationItems(args: {
  readonly conversationId: string;
  readonly userId: string;
  readonly order: 'asc' | 'desc';
  readonly limit: number;
  /** A message id (the item id without `msg_`). */
  readonly after?: string;
}): Promise<OpenAiBody> {
  return cachedRead(args, `items:${args.order}:${args.limit}:${args.after ?? ''}`, async () => {
    const found = await getCurrentBranchByConversationId({ id: args.conversationId });
    if (!found || found.conversation.userId !== args.userId) return null;
    const page = pageOfBranch(found.messages, args);
    if (page === null) throw new InvalidParameterError('after', `after: ${toItemId(args.after as string)} is not an item of the conversation's current branch`);
    return page;
  });
}

/** GET /v1/conversations/{id}/items/{item_id}: any user or assistant message of the conversation, on any branch. */
export function getOpenAiConversationItem(args: { readonly conversationId: string; readonly userId: string; readonly messageId: string }): Promise<OpenAiBody> {
  return cachedRead(args, `item:${args.messageId}`, async () => {
    const found = await getMessageByConversationIdAndId({ conversationId: args.conversationId, id: args.messageId });
    if (found?.userId === args.userId) return JSON.stringify(toMessageItem(found.message));
    // The conversation is the caller's, but it has no such item: a 404 of its own.
    if ((await getConversationHeaderById({ id: args.conversationId }))?.userId === args.userId) throw new OpenAiObjectNotFoundError('item', toItemId(args.messageId));
    return null;
  });
}

/**
 * POST /v1/conversations/{id}/items: appends `items` as a chain under the current node, which
 * moves to the last of them (like a turn without a reply), within the conversation's limits.
 */
export async function addOpenAiConversationItems(args: {
  readonly conversationId: string;
  readonly userId: string;
  readonly items: readonly NewItem[];
}): Promise<OpenAiBody> {
  const target = await getTurnTargetByConversationId({ conversationId: args.conversationId, parentId: null });
  if (!target || target.userId !== args.userId) throw new ConversationNotFoundError();
  const size = chainSize(args.items);
  assertRoomForItems(target, size);
  const { maxConversationMessages, maxConversationBytes } = getConfig().limits;
  const rows = await appendItemsByConversationId({
    conversationId: args.conversationId,
    parentId: target.parentId,
    items: args.items,
    limits: { maxMessages: maxConversationMessages, maxBytes: maxConversationBytes },
  }).catch(rejectConflict);
  if (!rows) {
    // Deleted, or filled by a concurrent write, since the read above.
    if (!(await getConversationHeaderById({ id: args.conversationId }))) throw new ConversationNotFoundError();
    throw conversationTooLong('bytes');
  }
  await invalidateConversationReads(args.userId, [args.conversationId]);
  return written(toItemList(rows.map(toMessageItem), false));
}

/**
 * DELETE /v1/conversations/{id}/items/{item_id}: removes one user or assistant message from
 * the tree (its children move up to its parent) and answers the conversation. The context
 * window is dropped too: it may hold the message.
 */
export async function deleteOpenAiConversationItem(args: { readonly conversationId: string; readonly userId: string; readonly messageId: string }): Promise<OpenAiBody> {
  const found = await getMessageByConversationIdAndId({ conversationId: args.conversationId, id: args.messageId });
  if (found?.userId !== args.userId) {
    if ((await getConversationHeaderById({ id: args.conversationId }))?.userId === args.userId) throw new OpenAiObjectNotFoundError('item', toItemId(args.messageId));
    throw new ConversationNotFoundError();
  }
  const deleted = await deleteMessageByConversationIdAndId({ ...args, id: args.messageId, bytes: messageContentBytes(found.message.parts) });
  if (!deleted) throw new OpenAiObjectNotFoundError('item', toItemId(args.messageId));
  await invalidateConversationReads(args.userId, [args.conversationId], { contextWindows: true });
  return getOpenAiConversation(args);
}
