/**
 * The user side of a chat turn (docs/api.md#posting-a-turn): check the conversation, the
 * parent and the size limits, store the user's message, invalidate the cached reads, and
 * prepare the context window. Nothing is written when the request is invalid.
 */
import { randomUUID } from 'node:crypto';
import { resolveModelSlug } from '../ai/models';
import type { ChatMessage } from '../ai/types';
import { AppError, ConversationNotFoundError, ValidationError } from '../errors';
import { prepareContextWindow } from './context-window';
import { assertRoomForItems, assertRoomForTurn, conversationTooLong, replyRoom } from './limits';
import { appendItemsByConversationId, chainSize, createConversationWithItems, type NewItem } from './openai-repository';
import { invalidateConversationReads } from './reads';
import type { MessageRow } from './records';
import {
  createConversationWithMessage,
  getTurnTargetByConversationId,
  insertMessageAndMoveCurrentNode,
  MessageConflictError,
  reserveReplyRoomById,
} from './repository';
import { storeUserSideFromShare } from './shares';

export type TurnAction = 'next' | 'variant' | 'continue';

/** The user's message as the client sent it, already validated. */
export interface IncomingUserMessage {
  readonly id: string;
  readonly contentType: string;
  readonly parts: unknown[];
  /** The text the model sees (the string parts joined). */
  readonly text: string;
}

export interface TurnRequest {
  readonly userId: string;
  readonly action: TurnAction;
  /** Absent: a new conversation. */
  readonly conversationId?: string;
  /** The node the turn goes under (a new conversation: its root's id); absent: the conversation's current node. */
  readonly parentMessageId?: string;
  readonly message?: IncomingUserMessage;
  /** A listed model slug the client picked; absent: the conversation's last model, else the default. */
  readonly model?: string;
  /** A new conversation that starts with a copy of this share's branch (`continue_from_shared_conversation_id`). */
  readonly continueFromShare?: { readonly shareId: string; readonly parentMessageId?: string };
  /** The reply's message id. @default a random UUID */
  readonly assistantMessageId?: string;
  /** Instructions for this reply only, after the deployment's system prompt. @default none */
  readonly instructions?: string;
  /** At most this many tokens for this reply (the model's own limit still applies). @default the model's */
  readonly maxOutputTokens?: number;
  /** Name a conversation that has no title yet from this turn's message, as a new one is. @default false (only new ones) */
  readonly nameIfUntitled?: boolean;
  /** Messages stored before the user's, as a chain under the parent (OpenAI's Responses API `input` with history). @default none */
  readonly precedingMessages?: readonly NewItem[];
  /** The user message may follow a user message (OpenAI's API allows it; the `backend-api` does not). @default false */
  readonly allowUserAfterUser?: boolean;
}

/** A turn whose user side is stored, whose reply's room is held and whose context is ready: what the reply needs. */
export interface Turn {
  readonly conversationId: string;
  readonly userId: string;
  readonly isNew: boolean;
  readonly action: TurnAction;
  /** The stored user message (absent for `continue` and for a `variant` of an existing message). */
  readonly userMessage?: MessageRow;
  /** The node the assistant reply goes under. */
  readonly replyParentId: string;
  readonly assistantMessageId: string;
  /** The context window sent to the model, oldest first, without the system prompt. */
  readonly context: readonly ChatMessage[];
  /** The first user text, for the title of a new conversation. */
  readonly titleSource?: string;
  /** The listed model that answers (stored as the reply's `model_slug`). */
  readonly modelSlug: string;
  /** Replies already under `replyParentId`: 0 for a first answer, 1 for the first regenerate, … */
  readonly variant: number;
  /** The request's instructions for this reply (see {@link TurnRequest}). */
  readonly instructions?: string;
  readonly maxOutputTokens?: number;
}

function invalidParent(detail: string): ValidationError {
  return new ValidationError([{ loc: ['body', 'parent_message_id'], msg: detail, type: 'value_error' }]);
}

/** A message id reused (409), or a parent that vanished (422). */
function rejectConflict(error: unknown): never {
  if (error instanceof MessageConflictError) {
    if (error.reason === 'id_taken') throw new AppError(409, 'message_exists', 'A message with this id already exists');
    throw invalidParent('parent_message_id is not a message of this conversation');
  }
  throw error;
}

/** A turn's write found no room (a concurrent turn took it) or no conversation (deleted meanwhile): the precise error, from a fresh read. */
async function refusedWrite(conversationId: string, message: IncomingUserMessage | undefined): Promise<never> {
  const now = await getTurnTargetByConversationId({ conversationId, parentId: '' });
  if (!now) throw new ConversationNotFoundError();
  assertRoomForTurn(now, message);
  throw conversationTooLong('bytes');
}

/**
 * Stores the request's preceding messages — a new conversation with them, or a chain under the
 * parent — and returns the request to continue under the last of them. Checked against the
 * conversation's limits like any item; the turn's own check follows.
 */
async function storePrecedingMessages(request: TurnRequest): Promise<TurnRequest> {
  const items = request.precedingMessages ?? [];
  const next = { ...request, precedingMessages: undefined, parentMessageId: items.at(-1)?.id };
  if (request.conversationId === undefined) {
    assertRoomForItems({ messageCount: 0, contentBytes: 0, reservedMessages: 0, reservedBytes: 0 }, chainSize(items));
    const created = await createConversationWithItems({ id: randomUUID(), userId: request.userId, systemNodeId: randomUUID(), items, metadata: {} }).catch(rejectConflict);
    return { ...next, conversationId: created.conversation.id };
  }
  const target = await getTurnTargetByConversationId({ conversationId: request.conversationId, parentId: request.parentMessageId ?? null });
  if (!target || target.userId !== request.userId) throw new ConversationNotFoundError();
  if (!target.parentRole) throw invalidParent('parent_message_id is not a message of this conversation');
  assertRoomForItems(target, chainSize(items));
  const rows = await appendItemsByConversationId({ conversationId: request.conversationId, parentId: target.parentId, items, limits: replyRoom() }).catch(rejectConflict);
  if (!rows) await refusedWrite(request.conversationId, undefined);
  return next;
}

/**
 * Writes the user's message (or finds the one being regenerated) and holds room for the reply:
 * one round trip to check ownership and the parent, one statement to insert, move
 * `current_node` and reserve the reply's room if it fits.
 */
async function storeUserSide(request: TurnRequest): Promise<{
  conversationId: string;
  isNew: boolean;
  /** Started from a share: it has a title and earlier messages already. */
  fromShare?: boolean;
  userMessage?: MessageRow;
  replyParentId: string;
  contextParentId?: string;
  /** The model of the conversation's last reply. */
  lastModel?: string | null;
  variant?: number;
  untitled?: boolean;
}> {
  if (request.continueFromShare !== undefined) {
    const { conversationId, userMessage } = await storeUserSideFromShare({
      userId: request.userId,
      ...request.continueFromShare,
      message: request.message as IncomingUserMessage,
      replyRoom: replyRoom(),
    }).catch(rejectConflict);
    return { conversationId, isNew: true, fromShare: true, userMessage, replyParentId: userMessage.id, contextParentId: userMessage.parentId ?? undefined };
  }
  if (request.precedingMessages?.length) return storeUserSide(await storePrecedingMessages(request));
  if (request.conversationId === undefined) {
    assertRoomForTurn({ messageCount: 0, contentBytes: 0, reservedMessages: 0, reservedBytes: 0 }, request.message);
    const conversationId = randomUUID();
    const userMessage = await createConversationWithMessage({
      id: conversationId,
      userId: request.userId,
      rootNodeId: request.parentMessageId ?? 'client-created-root',
      systemNodeId: randomUUID(),
      message: request.message as IncomingUserMessage,
      replyRoom: replyRoom(),
    }).catch(rejectConflict);
    return { conversationId, isNew: true, userMessage, replyParentId: userMessage.id, contextParentId: userMessage.parentId ?? undefined };
  }

  const conversationId = request.conversationId;
  // A `next` answers a new message, or retries the first answer: only other actions regenerate.
  const target = await getTurnTargetByConversationId({
    conversationId,
    parentId: request.parentMessageId ?? null,
    messageId: request.message?.id,
    countReplies: request.action !== 'next',
  });
  if (!target || target.userId !== request.userId) throw new ConversationNotFoundError();
  // A regenerate (the message exists) adds only the reply.
  assertRoomForTurn(target, target.existing ? undefined : request.message);

  const existing = target.existing;
  // Regenerate (or a retried `next`): the user message is already there; answer under it again.
  if (existing && request.message && (request.action !== 'next' || existing.parentId === target.parentId)) {
    if (existing.role !== 'user') throw invalidParent('the message to regenerate is not a user message');
    if (!(await reserveReplyRoomById({ id: conversationId, room: replyRoom() }))) await refusedWrite(conversationId, undefined);
    return { conversationId, isNew: false, replyParentId: request.message.id, lastModel: target.defaultModelSlug, variant: target.replyCount };
  }
  if (existing) throw new AppError(409, 'message_exists', 'A message with this id already exists under another parent');
  if (!target.parentRole) throw invalidParent('parent_message_id is not a message of this conversation');

  if (request.message) {
    if (target.parentRole === 'user' && !request.allowUserAfterUser) throw invalidParent('a user message cannot follow a user message');
    const userMessage = await insertMessageAndMoveCurrentNode({
      conversationId,
      message: { ...request.message, role: 'user', parentId: target.parentId },
      reserveReply: replyRoom(),
    }).catch(rejectConflict);
    // Deleted, or filled by a concurrent turn, between the read above and this write.
    if (!userMessage) return refusedWrite(conversationId, request.message);
    return {
      conversationId,
      isNew: false,
      userMessage,
      replyParentId: userMessage.id,
      contextParentId: target.parentId,
      lastModel: target.defaultModelSlug,
      untitled: target.untitled,
    };
  }
  // `continue` answers under the assistant message it continues; `variant` without a message under the user message.
  const expectedRole = request.action === 'continue' ? 'assistant' : 'user';
  if (target.parentRole !== expectedRole) throw invalidParent(`parent_message_id must be a ${expectedRole} message for action "${request.action}"`);
  if (!(await reserveReplyRoomById({ id: conversationId, room: replyRoom() }))) await refusedWrite(conversationId, undefined);
  return { conversationId, isNew: false, replyParentId: target.parentId, lastModel: target.defaultModelSlug, variant: target.replyCount };
}

/** Stores the user side of a turn, invalidates the cached reads, and prepares the context window. */
export async function startTurn(request: TurnRequest): Promise<Turn> {
  const stored = await storeUserSide(request);
  // Independent keys: both go out in the same pipelined write.
  const [, context] = await Promise.all([
    invalidateConversationReads(request.userId, [stored.conversationId]),
    prepareContextWindow({
      conversationId: stored.conversationId,
      // A copied conversation's window is rebuilt from its copied messages.
      isNew: stored.isNew && !stored.fromShare,
      leafId: stored.replyParentId,
      appended: stored.userMessage,
      appendedAfter: stored.contextParentId,
    }),
  ]);
  return {
    conversationId: stored.conversationId,
    userId: request.userId,
    isNew: stored.isNew,
    action: request.action,
    userMessage: stored.userMessage,
    replyParentId: stored.replyParentId,
    assistantMessageId: request.assistantMessageId ?? randomUUID(),
    context,
    // A copied conversation keeps the share's title.
    titleSource: (stored.isNew && !stored.fromShare) || (request.nameIfUntitled && stored.untitled && stored.userMessage) ? request.message?.text : undefined,
    modelSlug: resolveModelSlug(request.model, stored.lastModel),
    variant: stored.variant ?? 0,
    instructions: request.instructions,
    maxOutputTokens: request.maxOutputTokens,
  };
}
