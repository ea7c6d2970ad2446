/**
 * OpenAI's Responses API on the `backend-api`'s reply pipeline (docs/api.md#openai-api-v1): a
 * response is a turn — the same limits, user side, model, storage, recording and stop — whose
 * reply goes out in the Responses encoding. Stored, it lives in a conversation (a new one, the
 * `conversation` asked for, or under `previous_response_id`: a branch), so it shows through
 * both APIs; with `store: false` it is a stateless reply. A response's id names its
 * conversation and reply (`resp_<conversation><message>`), so reading, resuming and cancelling
 * it need no table of their own.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { resolveModelSlug } from '../ai/models';
import type { ChatMessage } from '../ai/types';
import { getMessageByConversationIdAndId, type NewItem } from '../conversations/openai-repository';
import { parseResponseId, toOpenAiConversationId, toResponseId } from '../conversations/openai-wire';
import type { MessageRow } from '../conversations/records';
import type { IncomingUserMessage } from '../conversations/turns';
import { toWireMessage } from '../conversations/wire';
import { OpenAiObjectNotFoundError, ReplyStreamNotFoundError } from '../errors';
import { sleep } from '../platform/timers';
import { getReplyStreamState, readFirstReplyFrame } from '../redis/reply-state';
import { followConversationReply } from './follow-reply';
import type { FrameStream } from './frames';
import { stopConversationReply } from './reply-control';
import { createResponsesEncoder, endedState, responseObject, type ResponsesEncoder, type ResponseSettings } from './responses-frames';
import { startConversationReply, startStatelessReply } from './start-reply';

/** What an OpenAI API call answers: a stream, or one JSON body — with, for a background response, the work still running after it. */
export type OpenAiReplyResult =
  | { readonly kind: 'stream'; readonly stream: FrameStream }
  | { readonly kind: 'json'; readonly body: string; readonly background?: Promise<void> };

/** POST /v1/responses, validated. */
export interface CreateResponseRequest {
  readonly userId: string;
  /** A listed model slug; absent: the conversation's last model, else the default. */
  readonly model?: string;
  /** The user's input; absent (no input): answer the conversation's current user message again. */
  readonly message?: IncomingUserMessage;
  /** Input messages before the user's: stored before it (stateless: sent before it). */
  readonly precedingMessages: readonly NewItem[];
  /** The input's system and developer messages, and `instructions`: for this response only. */
  readonly instructions?: string;
  /** `conversation`: the conversation's UUID, to append to. */
  readonly conversationId?: string;
  /** `previous_response_id`, as sent. */
  readonly previousResponseId?: string;
  readonly stream: boolean;
  readonly background: boolean;
  readonly store: boolean;
  readonly maxOutputTokens?: number;
  /** Epoch ms when the function is stopped. */
  readonly deadline: number;
}

/**
 * The stream token of a reply whose id is 32 hex digits (every reply a `/v1` request starts):
 * the same 16 bytes in base64url, so a response's id alone names its recorded frames.
 */
export function streamTokenOf(messageId: string): string | undefined {
  return /^[0-9a-f]{32}$/.test(messageId) ? Buffer.from(messageId, 'hex').toString('base64url') : undefined;
}

const notFound = (responseId: string) => new OpenAiObjectNotFoundError('response', responseId);

/** How long a read of a response that just started waits for its first recorded event, and how often it looks. */
const FIRST_FRAME_WAIT_MS = 1000;
const FIRST_FRAME_POLL_MS = 20;

async function drain(frames: AsyncIterable<string>): Promise<void> {
  for await (const frame of frames) void frame;
}

/** A stream as the request asked for it: streamed, drained then answered, or answered at once and drained in the background. */
async function respond(frames: FrameStream, current: () => Record<string, unknown>, request: Pick<CreateResponseRequest, 'stream' | 'background'>): Promise<OpenAiReplyResult> {
  if (request.stream) return { kind: 'stream', stream: frames };
  const drained = drain(frames.frames);
  if (request.background) return { kind: 'json', body: JSON.stringify(current()), background: drained };
  await drained;
  return { kind: 'json', body: JSON.stringify(current()) };
}

/** The settings every response of `request` reports. */
function settingsOf(request: CreateResponseRequest, id: string, model: string, conversationId: string | null): ResponseSettings {
  return {
    id,
    createdAt: Math.floor(Date.now() / 1000),
    model,
    instructions: request.instructions ?? null,
    maxOutputTokens: request.maxOutputTokens ?? null,
    previousResponseId: request.previousResponseId ?? null,
    conversation: conversationId === null ? null : toOpenAiConversationId(conversationId),
    background: request.background,
    store: request.store,
  };
}

/** The node a `previous_response_id` names: one of the caller's replies. */
async function previousReply(userId: string, previousResponseId: string): Promise<{ conversationId: string; messageId: string }> {
  const ids = parseResponseId(previousResponseId);
  const found = ids && (await getMessageByConversationIdAndId({ conversationId: ids.conversationId, id: ids.messageId }));
  if (!ids || !found || found.userId !== userId || found.message.role !== 'assistant') {
    throw new OpenAiObjectNotFoundError('response', previousResponseId);
  }
  return ids;
}

/**
 * POST /v1/responses. Errors before the first event are thrown (the turn limit, the
 * live-stream cap, an unknown conversation or previous response, a model failing up front);
 * after it, they are events of the stream (or the response's `failed` status).
 */
export async function createResponse(request: CreateResponseRequest): Promise<OpenAiReplyResult> {
  if (!request.store) {
    const messages: ChatMessage[] = [
      ...(request.instructions ? [{ role: 'system' as const, content: request.instructions }] : []),
      ...request.precedingMessages.map((item) => ({ role: item.role, content: item.parts.join('\n') })),
      ...(request.message ? [{ role: 'user' as const, content: request.message.text }] : []),
    ];
    const modelSlug = resolveModelSlug(request.model, undefined);
    let encoder: ResponsesEncoder | undefined;
    const frames = await startStatelessReply({
      userId: request.userId,
      modelSlug,
      messages,
      maxOutputTokens: request.maxOutputTokens,
      deadline: request.deadline,
      // Named like a stored response, in a conversation that does not exist: reading it back is a 404.
      encoder: (messageId) => (encoder = createResponsesEncoder(settingsOf(request, toResponseId(randomUUID(), messageId), modelSlug, null))),
    });
    return respond(frames, () => (encoder as ResponsesEncoder).current(), request);
  }

  const previous = request.previousResponseId === undefined ? undefined : await previousReply(request.userId, request.previousResponseId);
  const conversationId = previous?.conversationId ?? request.conversationId;
  const assistantMessageId = randomBytes(16).toString('hex');
  let encoder: ResponsesEncoder | undefined;
  const reply = await startConversationReply({
    userId: request.userId,
    action: request.message ? 'next' : 'variant',
    conversationId,
    // Under the previous response (a branch when it is not the latest), else the conversation's current node.
    parentMessageId: previous?.messageId ?? (conversationId === undefined ? 'client-created-root' : undefined),
    message: request.message,
    model: request.model,
    assistantMessageId,
    instructions: request.instructions,
    maxOutputTokens: request.maxOutputTokens,
    precedingMessages: request.precedingMessages,
    nameIfUntitled: true,
    allowUserAfterUser: true,
    deadline: request.deadline,
    encoding: {
      // Recorded (GET ?stream=true resumes it); only a background response runs on without its client.
      recorded: true,
      outlivesClient: request.background,
      token: streamTokenOf(assistantMessageId),
      encoder: (turn) =>
        (encoder = createResponsesEncoder(settingsOf(request, toResponseId(turn.conversationId, turn.assistantMessageId), turn.modelSlug, turn.conversationId))),
    },
  });
  return respond(reply, () => (encoder as ResponsesEncoder).current(), request);
}

/** A stored reply as a response, read back. */
function storedResponse(responseId: string, conversationId: string, row: MessageRow): Record<string, unknown> {
  const message = toWireMessage(row);
  const settings: ResponseSettings = {
    id: responseId,
    createdAt: Math.floor(row.createTime),
    model: String(row.metadata.model_slug ?? ''),
    instructions: null,
    maxOutputTokens: null,
    previousResponseId: null,
    conversation: toOpenAiConversationId(conversationId),
    background: false,
    store: true,
  };
  return responseObject(settings, endedState(message, { completedAt: null }));
}

/**
 * GET /v1/responses/{id}: the stored reply as a response; while it is still being generated,
 * `in_progress` as it announced itself. 404 for an unknown or foreign id, or a `store: false` one.
 */
export async function getResponse(args: { readonly userId: string; readonly responseId: string }): Promise<string> {
  const ids = parseResponseId(args.responseId);
  if (!ids) throw notFound(args.responseId);
  const found = await getMessageByConversationIdAndId({ conversationId: ids.conversationId, id: ids.messageId });
  if (found) {
    if (found.userId !== args.userId || found.message.role !== 'assistant') throw notFound(args.responseId);
    return JSON.stringify(storedResponse(args.responseId, ids.conversationId, found.message));
  }
  const state = await getReplyStreamState({ conversationId: ids.conversationId, userId: args.userId });
  const token = streamTokenOf(ids.messageId);
  if (state.state !== 'running' || state.messageId !== ids.messageId || !token) throw notFound(args.responseId);
  // Its first event (`response.created`) carries the response as it started; a reply that just
  // started records it within a flush interval (REPLY_STREAM_FLUSH_MS), so wait that long for it.
  const deadline = Date.now() + FIRST_FRAME_WAIT_MS;
  for (;;) {
    const first = await readFirstReplyFrame(ids.conversationId, token);
    if (first) {
      const announced = (JSON.parse(first.slice(first.indexOf('data: ') + 6)) as { response?: Record<string, unknown> }).response;
      if (announced) return JSON.stringify(announced);
    }
    if (Date.now() >= deadline) throw notFound(args.responseId);
    await sleep(FIRST_FRAME_POLL_MS);
  }
}

/**
 * GET /v1/responses/{id}?stream=true: the response's events after `startingAfter` (a
 * `sequence_number`; absent: from the first), replayed from its recording, then live to its end.
 */
export async function followResponse(args: {
  readonly userId: string;
  readonly responseId: string;
  readonly startingAfter?: number;
  readonly deadline: number;
}): Promise<FrameStream> {
  const ids = parseResponseId(args.responseId);
  const token = ids && streamTokenOf(ids.messageId);
  if (!ids || !token) throw new ReplyStreamNotFoundError();
  return followConversationReply({
    conversationId: ids.conversationId,
    userId: args.userId,
    offset: args.startingAfter === undefined ? 0 : args.startingAfter + 1,
    token,
    deadline: args.deadline,
  });
}

/**
 * POST /v1/responses/{id}/cancel: stops the response while it is generated (the `backend-api`'s
 * stop: what it wrote is stored, `cancelled`) and answers it; a response that already ended is
 * answered as it is.
 */
export async function cancelResponse(args: { readonly userId: string; readonly responseId: string }): Promise<string> {
  const ids = parseResponseId(args.responseId);
  if (!ids) throw notFound(args.responseId);
  const state = await getReplyStreamState({ conversationId: ids.conversationId, userId: args.userId });
  if (state.state === 'foreign') throw notFound(args.responseId);
  if (state.state === 'running' && state.messageId === ids.messageId) await stopConversationReply({ conversationId: ids.conversationId, userId: args.userId });
  return getResponse(args);
}
