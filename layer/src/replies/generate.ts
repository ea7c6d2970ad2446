/**
 * Generating a reply: the model streams on the turn's context window, and the reply is stored
 * however it ends — finished, cut off by the client, stopped, at the deadline, or failed — with
 * the context window and the cached reads kept in step. Events, not frames: `frames.ts`
 * encodes them.
 */
import { getChatModel, getTitleModel, maxTokensOf } from '../ai/models';
import { fallbackTitle, generateTitle } from '../ai/title';
import type { ChatMessage, FinishReason } from '../ai/types';
import { appendReplyToContextWindow } from '../conversations/context-window';
import { invalidateConversationReads } from '../conversations/reads';
import type { MessageRow } from '../conversations/records';
import { ReplyBudget, replyRoom } from '../conversations/limits';
import { insertMessageAndMoveCurrentNode, releaseReplyRoomById } from '../conversations/repository';
import type { Turn } from '../conversations/turns';
import { toWireMessage, type WireMessage } from '../conversations/wire';
import { AppError, ModelProviderError } from '../errors';
import { getConfig } from '../platform/config';
import { countMetric, logger, type MetricName } from '../platform/observability';
import { within } from '../platform/timers';

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
  readonly turn: Turn;
  readonly modelSlug: string;
  /** Runs the rest of the turn; stops and stores what it has when `signal` aborts. */
  events(signal: AbortSignal): AsyncGenerator<ReplyEvent>;
}

type Step = IteratorResult<{ type: 'text'; text: string } | { type: 'finish'; reason: FinishReason }>;

/** Why a reply ended before the model finished. */
export type ReplyAbortReason = 'client_gone' | 'stopped' | 'deadline';

const ABORT_METRICS: Readonly<Record<ReplyAbortReason, MetricName>> = {
  client_gone: 'ClientDisconnected',
  stopped: 'ReplyStopped',
  deadline: 'ReplyDeadline',
};

const CONTINUE_PROMPT = 'Continue exactly where your previous answer stopped. Do not repeat anything.';

/**
 * Starts the model on the turn's context and waits for its first event (at most
 * `LLM_FIRST_TOKEN_WAIT_MS`), so that a provider failing up front becomes a 502 JSON error
 * rather than a broken stream. The user message is stored either way.
 */
export async function openReply(turn: Turn, controller: AbortController): Promise<OpenedReply> {
  const { llm } = getConfig();
  const model = await getChatModel(turn.modelSlug);
  const messages: ChatMessage[] = [{ role: 'system', content: llm.systemPrompt }, ...turn.context];
  if (turn.action === 'continue') messages.push({ role: 'user', content: CONTINUE_PROMPT });
  const iterator = model
    .stream({ messages, maxTokens: maxTokensOf(turn.modelSlug), variant: turn.variant, signal: controller.signal })
    [Symbol.asyncIterator]();
  // Titles come from the cheap title model (`LLM_TITLE_MODEL`), whichever model answers.
  const title =
    turn.isNew && turn.titleSource !== undefined
      ? getTitleModel().then(
          (titleModel) => generateTitle(titleModel, turn.titleSource as string, { signal: controller.signal }),
          // Like generateTitle itself, a title never fails the reply.
          () => fallbackTitle(turn.titleSource as string),
        )
      : undefined;

  let pending: Promise<Step> | undefined = iterator.next();
  let first: Step | undefined;
  try {
    first = await within(pending, llm.firstTokenWaitMs);
    if (first) pending = undefined;
  } catch (error) {
    countMetric('ModelError');
    logger.error('Model failed before its first token', { error, conversationId: turn.conversationId });
    controller.abort();
    throw new ModelProviderError(error instanceof ModelProviderError ? error.message : undefined, error, turn.conversationId);
  }

  return {
    turn,
    modelSlug: model.slug,
    events: (signal) => replyEvents({ turn, modelSlug: model.slug, iterator, first, pending, title, signal }),
  };
}

async function* replyEvents(args: {
  readonly turn: Turn;
  readonly modelSlug: string;
  readonly iterator: AsyncIterator<{ type: 'text'; text: string } | { type: 'finish'; reason: FinishReason }>;
  readonly first: Step | undefined;
  pending: Promise<Step> | undefined;
  readonly title: Promise<string> | undefined;
  readonly signal: AbortSignal;
}): AsyncGenerator<ReplyEvent> {
  const { turn, modelSlug, iterator, signal } = args;
  const { llm } = getConfig();
  const createTime = Date.now() / 1000;
  const budget = new ReplyBudget();
  let text = '';
  let finish: FinishReason | undefined;
  let failure: string | undefined;
  let stored: MessageRow | undefined;

  // The unfinished message as streamed; the stored row replaces it once the reply ends.
  const snapshot = (status: string): WireMessage => ({
    id: turn.assistantMessageId,
    author: { role: 'assistant', name: null, metadata: {} },
    create_time: createTime,
    update_time: null,
    content: { content_type: 'text', parts: [text] },
    status,
    end_turn: null,
    weight: 1,
    metadata: { message_type: turn.action, model_slug: modelSlug, parent_id: turn.replyParentId },
    recipient: 'all',
  });

  try {
    yield { type: 'start', message: snapshot('in_progress') };
    let step = args.first;
    while (!signal.aborted) {
      if (!step) {
        const next = (args.pending ??= iterator.next());
        step = await within(next, llm.heartbeatIntervalMs);
        if (!step) {
          yield { type: 'heartbeat' };
          continue;
        }
        args.pending = undefined;
      }
      if (step.done) break;
      const event = step.value;
      step = undefined;
      if (event.type === 'finish') {
        finish = event.reason;
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
        void iterator.return?.(undefined);
        break;
      }
    }
  } catch (error) {
    countMetric('ModelError');
    logger.error('Model failed mid-stream', { error, conversationId: turn.conversationId });
    failure = error instanceof AppError ? error.message : 'The model provider failed';
  } finally {
    // Also runs when the consumer stops early (client gone): whatever was generated is kept.
    if (!finish && !failure && signal.aborted) countMetric(ABORT_METRICS[signal.reason as ReplyAbortReason] ?? 'ClientDisconnected');
    if (text === '' && !finish) await releaseReplyRoomById({ id: turn.conversationId, room: replyRoom() });
    else {
      stored = await storeAssistantMessage(turn, {
        text,
        status: finish ? 'finished_successfully' : 'finished_partial_completion',
        endTurn: finish === 'stop',
        metadata: { finish_details: { type: finish ?? 'interrupted' }, is_complete: finish !== undefined, model_slug: modelSlug, parent_id: turn.replyParentId },
        // generateTitle never throws and gives up promptly on an aborted signal.
        title: args.title ? await args.title : undefined,
        createTime,
      });
    }
  }
  if (failure) yield { type: 'error', message: stored ? toWireMessage(stored) : snapshot('finished_partial_completion'), error: failure };
  else if (stored) yield { type: 'complete', message: toWireMessage(stored) };
  if (args.title) yield { type: 'title', title: await args.title };
}

/** Stores the reply and keeps the context window and the cache in step; `undefined` when the conversation was deleted meanwhile. */
async function storeAssistantMessage(
  turn: Turn,
  reply: { text: string; status: string; endTurn: boolean; metadata: Record<string, unknown>; title?: string; createTime: number },
): Promise<MessageRow | undefined> {
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

