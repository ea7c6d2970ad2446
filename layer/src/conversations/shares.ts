/**
 * Share links (docs/api.md#share-links): the owner shares a branch, renames or revokes the
 * share and lists them; anyone with the link reads it — the viral path, cache-aside in
 * `share:{id}` with the single-flight fill, so a burst of readers of a new link costs one
 * Postgres load — and a signed-in reader can continue it as a conversation of their own.
 * Every change is Postgres first, then the key is dropped (which also kills any reader's
 * fill lease): after a revocation has answered, no read serves the share.
 */
import { randomUUID } from 'node:crypto';
import { ConversationNotFoundError, PayloadTooLargeError, ShareNotFoundError, ValidationError } from '../errors';
import { getConfig } from '../platform/config';
import { getCacheService } from '../redis/cache';
import { redisKeys } from '../redis/keys';
import type { CachedBody } from './reads';
import { assertRoomForTurn } from './limits';
import { messageContentBytes, type MessageRow } from './records';
import type { ReplyRoom } from './repository';
import { messageSize } from './sql';
import {
  createConversationFromShare,
  getSharedBranchById,
  insertShareForNode,
  listSharesByUserId,
  updateShareByIdAndUserId,
  type ShareChanges,
  type ShareCreation,
} from './share-repository';
import { DEFAULT_CONVERSATION_TITLE, serializeSharedConversation, serializeShareList } from './wire';

export type { ShareChanges };

/**
 * `Cache-Control: public, max-age=` of a share read: a CDN (CloudFront with `-c webClient=true`)
 * absorbs a spike of readers, and a revoked share may stay in its cache this long.
 */
export const SHARED_CONVERSATION_MAX_AGE_SECONDS = 60;

/** `share_url` of a share: under `SHARE_URL_BASE`, else the caller's web origin, else a path on the same origin. */
function shareUrl(shareId: string, origin: string | undefined): string {
  const base = getConfig().sharing.shareUrlBase ?? (origin !== undefined && /^https?:\/\/[^/\s]+$/.test(origin) ? origin : '');
  return `${base}/share/${shareId}`;
}

/** POST share/create: shares the branch ending at `currentNodeId`, or finds that node's live share. */
export async function createShare(args: {
  readonly userId: string;
  readonly conversationId: string;
  readonly currentNodeId: string;
  readonly isAnonymous: boolean;
  /** The request's `Origin` header, for `share_url`. */
  readonly origin?: string;
}): Promise<string> {
  const { maxSharesPerUser } = getConfig().sharing;
  const insert = () =>
    insertShareForNode({
      id: randomUUID(),
      userId: args.userId,
      conversationId: args.conversationId,
      nodeId: args.currentNodeId,
      isAnonymous: args.isAnonymous,
      defaultTitle: DEFAULT_CONVERSATION_TITLE,
      maxShares: maxSharesPerUser,
    });
  // `null`: a concurrent request shared the same node first; the second look finds its share.
  const result: ShareCreation | null = (await insert()) ?? (await insert());
  if (result === null) throw new Error('Creating a share conflicted twice');
  switch (result.outcome) {
    case 'conversation_not_found':
      throw new ConversationNotFoundError();
    case 'node_not_shareable':
      throw new ValidationError([{ loc: ['body', 'current_node_id'], msg: 'is not a user or assistant message of this conversation', type: 'value_error' }]);
    case 'limit_reached':
      throw new PayloadTooLargeError('share_limit_exceeded', `You have ${maxSharesPerUser} shared links, the most one account may keep. Delete some to share more.`);
  }
  const { share } = result;
  return JSON.stringify({
    share_id: share.id,
    share_url: shareUrl(share.id, args.origin),
    title: share.title,
    is_public: true,
    already_exists: result.outcome === 'existing',
  });
}

/** GET share/{id}, no token: the cached body as stored, or a fresh one; unknown or revoked is a 404 either way. */
export async function getSharedConversation(args: { readonly shareId: string }): Promise<CachedBody> {
  const { value, status } = await getCacheService().readThrough({
    key: redisKeys.sharedConversation(args.shareId),
    ttlSeconds: getConfig().sharing.shareCacheTtlSeconds,
    load: async () => {
      const found = await getSharedBranchById({ id: args.shareId });
      return found && serializeSharedConversation(found.share, found.messages);
    },
  });
  if (value === null) throw new ShareNotFoundError();
  return { body: value, cacheStatus: status };
}

/** PATCH share/{id}: renames or revokes one of the caller's live shares, then drops its cached body. */
export async function updateShare(args: { readonly userId: string; readonly shareId: string; readonly changes: ShareChanges }): Promise<void> {
  const updated = await updateShareByIdAndUserId({ id: args.shareId, userId: args.userId, changes: args.changes });
  if (!updated) throw new ShareNotFoundError();
  await invalidateSharedConversations([args.shareId]);
}

/** Drops the cached bodies of these shares (after a rename, a revocation, or the deletion of their conversation). */
export async function invalidateSharedConversations(shareIds: readonly string[]): Promise<void> {
  await getCacheService().delete(...shareIds.map((id) => redisKeys.sharedConversation(id)));
}

/** GET shared_conversations: one page of the caller's live shares, newest first. Read from Postgres: the owner's list is rare. */
export async function listShares(args: { readonly userId: string; readonly offset: number; readonly limit: number }): Promise<string> {
  return serializeShareList(await listSharesByUserId(args));
}

/**
 * The user side of a turn that continues a shared conversation (`continue_from_shared_conversation_id`):
 * a new conversation of the caller's holding a copy of the share's branch, with the user's
 * message under its last node. Checked before anything is written: the share is live (404),
 * the message may follow that node (422), and the copy plus the turn fit the size limits (413).
 */
export async function storeUserSideFromShare(args: {
  readonly userId: string;
  readonly shareId: string;
  /** The node the client answers under: absent, or the share's `current_node`. */
  readonly parentMessageId?: string;
  readonly message: Pick<MessageRow, 'id' | 'contentType' | 'parts'>;
  /** Room to hold for the reply, counted in the size check like the turn's own. */
  readonly replyRoom: Pick<ReplyRoom, 'bytes' | 'holdSeconds'>;
}): Promise<{ conversationId: string; userMessage: MessageRow }> {
  const found = await getSharedBranchById({ id: args.shareId });
  if (!found) throw new ShareNotFoundError();
  const { share, messages } = found;
  const leaf = messages[messages.length - 1];
  if ((args.parentMessageId !== undefined && args.parentMessageId !== share.currentNodeId) || leaf.role === 'user') {
    throw new ValidationError([{ loc: ['body', 'parent_message_id'], msg: "must be the shared conversation's current_node, an assistant message", type: 'value_error' }]);
  }
  const counted = messages.filter((m) => m.role === 'user' || m.role === 'assistant');
  const size = { messageCount: counted.length, contentBytes: counted.reduce((sum, m) => sum + messageContentBytes(m.parts), 0), reservedMessages: 0, reservedBytes: 0 };
  assertRoomForTurn(size, args.message);
  const message = { ...args.message, role: 'user' as const, parentId: share.currentNodeId };
  const conversationId = randomUUID();
  const userMessage = await createConversationFromShare({
    shareId: args.shareId,
    id: conversationId,
    userId: args.userId,
    message,
    messageCount: size.messageCount + 1,
    contentBytes: size.contentBytes + messageSize(message)[1],
    replyRoom: args.replyRoom,
  });
  // Revoked (or its conversation deleted) between the read and the copy.
  if (!userMessage) throw new ShareNotFoundError();
  return { conversationId, userMessage };
}
