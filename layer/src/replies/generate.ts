/**
 * Generating a reply: the model streams on the turn's context window, and the reply is stored
 * however it ends — finished, cut off by the client, stopped, at the deadline, or failed — with
 * the context window and the cached reads kept in step; or, stateless, on the messages a
 * request sent, storing nothing. Events, not frames: `frames.ts` encodes them.
 */
import { randomBytes } from 'node:crypto';
import { getChatModel, getTitleModel, maxTokensOf } from '../ai/models';
import { fallbackTitle, generateTitle } from '../ai/title';
import type { ChatMessage, FinishReason, ModelUsage } from '../ai/types';
import { appendReplyToContextWindow } from '../conversations/context-window';
import { invalidateConversationReads } from '../conversations/reads';
import type { MessageRow } from '../conversations/records';
import { ReplyBudget, replyRoom } from '../conversations/limits';
import { insertMessageAndMoveCurrentNode, releaseReplyRoomById } from '../conversations/repository';
import type { Turn, TurnAction } from '../conversations/turns';
import { toWireMessage, type WireMessage } from '../conversations/wire';
import { AppError } from '../errors';
import { getConfig } from '../platform/config';
import { countMetric, logger, type MetricName } from '../platform/observability';
import { openModelStream, type ModelStreamReader } from './model-stream';

/** What a reply reports as it goes; `frames.ts` turns these into SSE frames. */
export type ReplyEvent =
  | { readonly type: 'start'; readonly message: WireMessage }
  | { readonly type: 'text'; readonly delta: string; readonly message: WireMessage }
  | { readonly type: 'heartbeat' }
  | { readonly type: 'complete'; readonly message: WireMessage }
  | { readonly type: 'error'; readonly message: WireMessage; readonly error: string }
  | { readonly type: 'title'; readonly title: string };

/** A reply whose model stream has started (or is still silent after the first-token wait). */
export interface OpenedReply {
  readonly modelSlug: string;
  /** The assistant message being generated. */
  readonly messageId: string;
  /** Runs the rest of the reply; stops and stores what it has when `signal` aborts. */
  events(signal: AbortSignal): AsyncGenerator<ReplyEvent>;
}

/** Why a reply ended before the model finished. */
export type ReplyAbortReason = 'client_gone' | 'stopped' | 'deadline';

const ABORT_METRICS: Readonly<Record<ReplyAbortReason, MetricName>> = {
  client_gone: 'ClientDisconnected',
  stopped: 'ReplyStopped',
  deadline: 'ReplyDeadline',
};

const CONTINUE_PROMPT = 'Continue exactly where your previous answer stopped. Do not repeat anything.';

/** The reply as it ended, for its store. */
interface EndedReply {
  readonly text: string;
  readonly status: string;
  readonly endTurn: boolean;
  readonly metadata: Record<string, unknown>;
  readonly title?: string;
  readonly createTime: number;
}

/** Where a reply goes and how it is kept: a stored turn's, or a stateless reply's. */
interface ReplyPlan {
  readonly messageId: string;
  readonly parentId: string | null;
  readonly action: TurnAction;
  /** For the logs. */
  readonly conversationId?: string;
  /** A new conversation's title, generated while the reply streams. */
  readonly title?: Promise<string>;
  /** Keeps the reply; `undefined` when it could not be (its conversation was deleted meanwhile). */
  store(reply: EndedReply): Promise<MessageRow | undefined>;
  /** The reply has nothing to keep (it failed or stopped before any text). */
  discard(): Promise<void>;
}

/** The system message: the deployment's prompt (`LLM_SYSTEM_PROMPT`), then the request's own instructions. */
function systemMessage(instructions?: string): ChatMessage[] {
  const content = [getConfig().llm.systemPrompt, instructions].filter((part) => part !== undefined && part.trim() !== '').join('\n\n');
  return content === '' ? [] : [{ role: 'system', content }];
}

/** Most tokens a reply of `slug` may have: the model's limit, or less when the request asks for less. */
const maxTokensFor = (slug: string, requested?: number): number => Math.min(maxTokensOf(slug), requested ?? Number.POSITIVE_INFINITY);

/**
 * Starts the model on the turn's context and waits for its first event (at most
 * `LLM_FIRST_TOKEN_WAIT_MS`), so that a provider failing up front becomes a 502 JSON error
 * rather than a broken stream. The user message is stored either way.
 */
export async function openReply(turn: Turn, controller: AbortController): Promise<OpenedReply> {
  const model = await getChatModel(turn.modelSlug);
  const messages: ChatMessage[] = [...systemMessage(turn.instructions), ...turn.context];
  if (turn.action === 'continue') messages.push({ role: 'user', content: CONTINUE_PROMPT });
  // Titles come from the cheap title model (`LLM_TITLE_MODEL`), whichever model answers.
  const title =
    turn.titleSource !== undefined
      ? getTitleModel().then(
          (titleModel) => generateTitle(titleModel, turn.titleSource as string, { signal: controller.signal }),
          // Like generateTitle itself, a title never fails the reply.
          () => fallbackTitle(turn.titleSource as string),
        )
      : undefined;
  const reader = await openModelStream(
    model,
    { messages, maxTokens: maxTokensFor(turn.modelSlug, turn.maxOutputTokens), variant: turn.variant },
    controller,
    turn.conversationId,
  );
  const plan: ReplyPlan = {
    messageId: turn.assistantMessageId,
    parentId: turn.replyParentId,
    action: turn.action,
    conversationId: turn.conversationId,
    title,
    store: (reply) => storeAssistantMessage(turn, reply),
    discard: () => releaseReplyRoomById({ id: turn.conversationId, room: replyRoom() }),
  };
  return { modelSlug: model.slug, messageId: plan.messageId, events: (signal) => replyEvents(plan, model.slug, reader, signal) };
}

/**
 * A reply to `messages` that is not part of a conversation (OpenAI's Chat Completions, a
 * Responses request with `store: false`): the same model, first-token wait, heartbeats,
 * size bound and events as a stored reply, and nothing written. `messages` come after the
 * deployment's system prompt.
 */
export async function openStatelessReply(args: {
  readonly modelSlug: string;
  readonly messages: readonly ChatMessage[];
  readonly maxOutputTokens?: number;
  readonly controller: AbortController;
}): Promise<OpenedReply> {
  const model = await getChatModel(args.modelSlug);
  const reader = await openModelStream(
    model,
    { messages: [...systemMessage(), ...args.messages], maxTokens: maxTokensFor(args.modelSlug, args.maxOutputTokens) },
    args.controller,
  );
  const messageId = randomBytes(16).toString('hex');
  const plan: ReplyPlan = {
    messageId,
    parentId: null,
    action: 'next',
    async store(reply) {
      return {
        id: messageId,
        parentId: null,
        role: 'assistant',
        contentType: 'text',
        parts: [reply.text],
        status: reply.status,
        endTurn: reply.endTurn,
        weight: 1,
        metadata: reply.metadata,
        recipient: 'all',
        createTime: reply.createTime,
      };
    },
    discard: async () => undefined,
  };
  return { modelSlug: model.slug, messageId, events: (signal) => replyEvents(plan, model.slug, reader, signal) };
}

async function* replyEvents(plan: ReplyPlan, modelSlug: string, reader: ModelStreamReader, signal: AbortSignal): AsyncGenerator<ReplyEvent> {
  const { llm } = getConfig();
  const createTime = Date.now() / 1000;
  const budget = new ReplyBudget();
  let text = '';
  let finish: FinishReason | undefined;
  let usage: ModelUsage | undefined;
  let failure: string | undefined;
  let stored: MessageRow | undefined;

  // The unfinished message as streamed; the stored row replaces it once the reply ends.
  const snapshot = (status: string): WireMessage => ({
    id: plan.messageId,
    author: { role: 'assistant', name: null, metadata: {} },
    create_time: createTime,
    update_time: null,
    content: { content_type: 'text', parts: [text] },
    status,
    end_turn: null,
    weight: 1,
    metadata: { message_type: plan.action, model_slug: modelSlug, parent_id: plan.parentId },
    recipient: 'all',
  });

  try {
    yield { type: 'start', message: snapshot('in_progress') };
    while (!signal.aborted) {
      const step = await reader.read(llm.heartbeatIntervalMs);
      if (!step) {
        yield { type: 'heartbeat' };
        continue;
      }
      if (step.done) break;
      const event = step.value;
      if (event.type === 'finish') {
        finish = event.reason;
        continue;
      }
      if (event.type === 'usage') {
        usage = event;
        continue;
      }
      const delta = budget.take(event.text);
      if (delta !== '') {
        text += delta;
        yield { type: 'text', delta, message: snapshot('in_progress') };
      }
      if (delta.length < event.text.length) {
        // MAX_REPLY_BYTES: cut short, as when the model hits its token limit (the client may continue).
        finish = 'max_tokens';
        reader.close();
        break;
      }
    }
  } catch (error) {
    countMetric('ModelError');
    logger.error('Model failed mid-stream', { error, conversationId: plan.conversationId });
    failure = error instanceof AppError ? error.message : 'The model provider failed';
  } finally {
    // Also runs when the consumer stops early (client gone): whatever was generated is kept.
    const aborted = !finish && !failure && signal.aborted ? ((signal.reason as ReplyAbortReason | undefined) ?? 'client_gone') : undefined;
    if (aborted) countMetric(ABORT_METRICS[aborted] ?? 'ClientDisconnected');
    if (text === '' && !finish) await plan.discard();
    else {
      stored = await plan.store({
        text,
        status: finish ? 'finished_successfully' : 'finished_partial_completion',
        endTurn: finish === 'stop',
        metadata: {
          // Why an interrupted reply stopped: the model failed (`error`), someone stopped it, the function's deadline, or its client left.
          finish_details: finish ? { type: finish } : { type: 'interrupted', reason: failure ? 'error' : (aborted ?? 'client_gone') },
          is_complete: finish !== undefined,
          model_slug: modelSlug,
          parent_id: plan.parentId,
          ...(usage ? { usage: { input_tokens: usage.inputTokens, output_tokens: usage.outputTokens } } : {}),
        },
        // generateTitle never throws and gives up promptly on an aborted signal.
        title: plan.title ? await plan.title : undefined,
        createTime,
      });
    }
  }
  if (failure) yield { type: 'error', message: stored ? toWireMessage(stored) : snapshot('finished_partial_completion'), error: failure };
  else if (stored) yield { type: 'complete', message: toWireMessage(stored) };
  if (plan.title) yield { type: 'title', title: await plan.title };
}

/** Stores the reply and keeps the context window and the cache in step; `undefined` when the conversation was deleted meanwhile. */
async function storeAssistantMessage(turn: Turn, reply: EndedReply): Promise<MessageRow | undefined> {
  const message = await insertMessageAndMoveCurrentNode({
    conversationId: turn.conversationId,
    message: {
      id: turn.assistantMessageId,
      parentId: turn.replyParentId,
      role: 'assistant',
      parts: [reply.text],
      status: reply.status,
      endTurn: reply.endTurn,
      metadata: reply.metadata,
      // The time the stream showed, so the stored message and the streamed one agree.
      createTime: reply.createTime,
    },
    defaultModelSlug: reply.metadata.model_slug as string,
    title: reply.title,
    releaseReply: replyRoom(),
  });
  if (!message) {
    logger.info('The conversation was deleted while its reply ran; the reply is not stored', { conversationId: turn.conversationId });
    return undefined;
  }
  await Promise.all([
    appendReplyToContextWindow({ conversationId: turn.conversationId, reply: message, text: reply.text, parentId: turn.replyParentId }),
    invalidateConversationReads(turn.userId, [turn.conversationId]),
  ]);
  return message;
}

