/**
 * The reply in progress, seen from any device (docs/api.md#resumable-replies): stream_status
 * and stop. Redis answers when it knows the conversation; otherwise Postgres decides between
 * "nothing running" and 404.
 */
import { getConversationUserIdById } from '../conversations/repository';
import { ConversationNotFoundError } from '../errors';
import { getReplyStreamState, requestReplyStop } from '../redis/reply-state';

/** A 404 unless the conversation exists and is the user's (for answers Redis alone cannot give). */
async function assertConversationOwner(conversationId: string, userId: string): Promise<void> {
  if ((await getConversationUserIdById({ id: conversationId })) !== userId) throw new ConversationNotFoundError();
}

/** What `GET .../stream_status` answers. */
export type StreamStatus = { readonly status: 'IS_STREAMING'; readonly message_id: string } | { readonly status: 'NOT_STREAMING' };

/**
 * stream_status: whether a reply is being generated in the conversation. Redis answers when
 * it knows the conversation; otherwise (nothing recorded, expired, Redis down) the reply is
 * not resumable anyway, and Postgres decides between NOT_STREAMING and 404.
 */
export async function getConversationStreamStatus(args: { readonly conversationId: string; readonly userId: string }): Promise<StreamStatus> {
  const found = await getReplyStreamState(args);
  if (found.state === 'running') return { status: 'IS_STREAMING', message_id: found.messageId };
  if (found.state === 'foreign') throw new ConversationNotFoundError();
  if (found.state === 'unknown') await assertConversationOwner(args.conversationId, args.userId);
  return { status: 'NOT_STREAMING' };
}

/**
 * stop: ends the conversation's running reply early, from any device; the partial reply is
 * stored as interrupted and every stream of it ends. Idempotent: with nothing running it
 * succeeds with `messageId: null`. Answers once the reply has ended (or after a few seconds).
 */
export async function stopConversationReply(args: { readonly conversationId: string; readonly userId: string }): Promise<{ readonly messageId: string | null }> {
  const result = await requestReplyStop(args);
  if (result.outcome === 'stopping') return { messageId: result.messageId };
  if (result.outcome === 'foreign') throw new ConversationNotFoundError();
  if (result.outcome === 'absent') await assertConversationOwner(args.conversationId, args.userId);
  return { messageId: null };
}
