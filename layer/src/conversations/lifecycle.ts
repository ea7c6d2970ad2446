/**
 * The conversation lifecycle a sidebar calls (docs/api.md#conversation-lifecycle): rename,
 * archive / unarchive and soft-delete one conversation or all of them. Every change takes the
 * turn's race-free path: Postgres first, then the invalidation; a deletion also drops the
 * context windows, stops any running reply and revokes the conversations' share links at once.
 */
import { ConversationNotFoundError } from '../errors';
import { discardReplyStreams } from '../redis/reply-state';
import { invalidateConversationReads } from './reads';
import { updateConversationByIdAndUserId, updateConversationsByUserId, type ConversationChanges, type ConversationsChanged } from './repository';
import { invalidateSharedConversations } from './shares';

async function invalidateLifecycleChange(userId: string, changed: ConversationsChanged, deleted: boolean): Promise<void> {
  await Promise.all([
    invalidateConversationReads(userId, changed.ids, { contextWindows: deleted }),
    deleted ? discardReplyStreams({ userId, conversationIds: changed.ids }) : undefined,
    invalidateSharedConversations(changed.revokedShareIds),
  ]);
}

/** PATCH conversation: rename, archive / unarchive, or soft-delete one of the user's conversations. */
export async function updateConversation(args: {
  readonly userId: string;
  readonly conversationId: string;
  readonly changes: ConversationChanges;
}): Promise<void> {
  const changed = await updateConversationByIdAndUserId({ id: args.conversationId, userId: args.userId, changes: args.changes });
  if (changed.ids.length === 0) throw new ConversationNotFoundError();
  await invalidateLifecycleChange(args.userId, changed, args.changes.deleted === true);
}

/** PATCH conversations: archive or soft-delete all of the user's conversations; returns how many changed. */
export async function updateAllConversations(args: {
  readonly userId: string;
  readonly changes: Pick<ConversationChanges, 'isArchived' | 'deleted'>;
}): Promise<number> {
  const changed = await updateConversationsByUserId({ userId: args.userId, changes: args.changes });
  await invalidateLifecycleChange(args.userId, changed, args.changes.deleted === true);
  return changed.ids.length;
}
