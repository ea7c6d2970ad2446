/**
 * Conversations: the cached reads, and the write path of a chat turn — persist the user
 * message, invalidate, keep the Redis context window, stream the model's reply, persist it.
 */
import { randomUUID } from 'node:crypto';
import { createChatModel, generateTitle, type ChatMessage, type ChatModel, type FinishReason } from './ai-service';
import { cacheKeys, getCacheService, type CacheStatus } from './cache-service';
import { getConfig } from './config';
import {
  createConversationWithMessage,
  getBranchMessagesByLeafId,
  getConversationUserIdById,
  getConversationWithMessagesById,
  getTurnTargetByConversationId,
  insertMessageAndMoveCurrentNode,
  listConversationsByUserId,
  updateConversationByIdAndUserId,
  updateConversationsByUserId,
  deleteConversationsDeletedBefore,
  type ConversationChanges,
  type MessageRow,
  type TurnTarget,
} from './conversation-repository';
import {
  conversationDetailHead,
  conversationDetailPrefix,
  messageContentBytes,
  serializeConversationDetail,
  serializeConversationList,
  toWireMessage,
  type WireMessage,
} from './conversation-wire';
import { AppError, ConversationNotFoundError, ConversationTooLongError, ModelProviderError, ValidationError } from './errors';
import { countMetric, logger, type MetricName } from './observability';
import { discardReplyStreams, getReplyStreamState, openReplyFollower, requestReplyStop, startReplyRecording, type ReplyStreamEvent } from './reply-stream';
import { getSecretString } from './secrets';
import { enforceTurnLimit } from './turn-limiter';

/** A JSON body ready to send, and how the cache answered. */
export interface CachedBody {
  readonly body: string;
  readonly cacheStatus: CacheStatus;
}

/** GET conversation: the cached body as stored, or a fresh one; a foreign or unknown id is a 404 either way. */
export async function getConversationDetail(args: { readonly conversationId: string; readonly userId: string }): Promise<CachedBody> {
  const { value, status } = await getCacheService().readThrough({
    key: cacheKeys.conversationHistory(args.conversationId),
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
    key: cacheKeys.conversationList(args.userId),
    field: `${args.isArchived ? 'archived:' : ''}${args.offset}:${args.limit}`,
    maxFields: MAX_CACHED_LIST_PAGES,
    load: async () => serializeConversationList(await listConversationsByUserId(args), args.offset, args.limit),
  });
  return { body: value as string, cacheStatus: status };
}

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
  readonly parentMessageId: string;
  readonly message?: IncomingUserMessage;
}

/** A turn whose user side is stored and whose context is ready: what the reply needs. */
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
}

/** One entry of `chat:{id}:context`. `id` comes first so the list's tail can be matched by prefix. */
interface ContextEntry {
  readonly id: string;
  readonly role: 'user' | 'assistant';
  readonly content: string;
}

const contextEntry = (id: string, role: 'user' | 'assistant', content: string): string => JSON.stringify({ id, role, content } satisfies ContextEntry);
const contextTailPrefix = (id: string): string => `{"id":${JSON.stringify(id)},`;
const messageText = (row: Pick<MessageRow, 'parts'>): string => row.parts.filter((p): p is string => typeof p === 'string').join('\n');

function invalidParent(detail: string): ValidationError {
  return new ValidationError([{ loc: ['body', 'parent_message_id'], msg: detail, type: 'value_error' }]);
}

/** Drops every cached read the turn changed; a failure is logged and counted by the cache service. */
async function invalidateConversation(conversationId: string, userId: string): Promise<void> {
  await getCacheService().delete(cacheKeys.conversationHistory(conversationId), cacheKeys.conversationList(userId));
}

/** Postgres unique and foreign-key violations: a message id reused, a parent that vanished. */
function translateWriteConflict(error: unknown): never {
  const code = (error as { code?: string } | undefined)?.code;
  if (code === '23505') throw new AppError(409, 'message_exists', 'A message with this id already exists');
  if (code === '23503') throw invalidParent('parent_message_id is not a message of this conversation');
  throw error;
}

/**
 * Conversation size limits (`MAX_CONVERSATION_MESSAGES`, `MAX_CONVERSATION_BYTES`): a turn
 * adds the user's message (when new) and a reply; refused with 413 before anything is
 * written when that would pass either limit. The reply's bytes are not known yet, so the byte
 * limit can be passed by one reply; its default leaves room for that (see the README).
 */
function assertRoomForTurn(size: Pick<TurnTarget, 'messageCount' | 'contentBytes'>, message: IncomingUserMessage | undefined): void {
  const { maxConversationMessages, maxConversationBytes } = getConfig().limits;
  const messages = size.messageCount + (message ? 1 : 0) + 1;
  const bytes = size.contentBytes + (message ? messageContentBytes(message.parts) : 0);
  if (messages <= maxConversationMessages && bytes <= maxConversationBytes) return;
  countMetric('ConversationTooLong');
  throw new ConversationTooLongError(
    messages > maxConversationMessages
      ? `This conversation has reached its limit of ${maxConversationMessages} messages. Start a new conversation to continue.`
      : `This conversation has reached its size limit of ${maxConversationBytes} bytes. Start a new conversation to continue.`,
  );
}

/**
 * Writes the user's message (or finds the one being regenerated): one round trip to check
 * ownership and the parent, one statement to insert and move `current_node`.
 */
async function storeUserSide(request: TurnRequest): Promise<{
  conversationId: string;
  isNew: boolean;
  userMessage?: MessageRow;
  replyParentId: string;
  contextParentId?: string;
}> {
  if (request.conversationId === undefined) {
    assertRoomForTurn({ messageCount: 0, contentBytes: 0 }, request.message);
    const conversationId = randomUUID();
    const userMessage = await createConversationWithMessage({
      id: conversationId,
      userId: request.userId,
      rootNodeId: request.parentMessageId,
      systemNodeId: randomUUID(),
      message: request.message as IncomingUserMessage,
    }).catch(translateWriteConflict);
    return { conversationId, isNew: true, userMessage, replyParentId: userMessage.id, contextParentId: userMessage.parentId ?? undefined };
  }

  const conversationId = request.conversationId;
  const target = await getTurnTargetByConversationId({ conversationId, parentId: request.parentMessageId, messageId: request.message?.id });
  if (!target || target.userId !== request.userId) throw new ConversationNotFoundError();
  // A regenerate (the message exists) adds only the reply.
  assertRoomForTurn(target, target.existing ? undefined : request.message);

  const existing = target.existing;
  // Regenerate (or a retried `next`): the user message is already there; answer under it again.
  if (existing && request.message && (request.action !== 'next' || existing.parentId === request.parentMessageId)) {
    if (existing.role !== 'user') throw invalidParent('the message to regenerate is not a user message');
    return { conversationId, isNew: false, replyParentId: request.message.id };
  }
  if (existing) throw new AppError(409, 'message_exists', 'A message with this id already exists under another parent');
  if (!target.parentRole) throw invalidParent('parent_message_id is not a message of this conversation');

  if (request.message) {
    if (target.parentRole === 'user') throw invalidParent('a user message cannot follow a user message');
    const userMessage = await insertMessageAndMoveCurrentNode({
      conversationId,
      message: { ...request.message, role: 'user', parentId: request.parentMessageId },
    }).catch(translateWriteConflict);
    // Deleted between the read above and this write.
    if (!userMessage) throw new ConversationNotFoundError();
    return { conversationId, isNew: false, userMessage, replyParentId: userMessage.id, contextParentId: request.parentMessageId };
  }
  // `continue` answers under the assistant message it continues; `variant` without a message under the user message.
  const expectedRole = request.action === 'continue' ? 'assistant' : 'user';
  if (target.parentRole !== expectedRole) throw invalidParent(`parent_message_id must be a ${expectedRole} message for action "${request.action}"`);
  return { conversationId, isNew: false, replyParentId: request.parentMessageId };
}

/**
 * Stores the user side of a turn, invalidates the cached reads, and
 * prepares the context window. Nothing is written when the request is invalid.
 */
export async function startTurn(request: TurnRequest): Promise<Turn> {
  const stored = await storeUserSide(request);
  // Independent keys: both go out in the same pipelined write.
  const [, context] = await Promise.all([
    invalidateConversation(stored.conversationId, request.userId),
    prepareContext({
      conversationId: stored.conversationId,
      isNew: stored.isNew,
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
    assistantMessageId: randomUUID(),
    context,
    titleSource: stored.isNew ? request.message?.text : undefined,
  };
}

/**
 * `chat:{id}:context` must hold the last N messages of the branch ending at `leafId`. Warm
 * case: its tail is the new message's parent, so one script appends and returns it. Otherwise
 * (expired, evicted, an edit or regenerate, another device) it is rebuilt from Postgres.
 */
async function prepareContext(args: {
  readonly conversationId: string;
  readonly isNew: boolean;
  readonly leafId: string;
  readonly appended?: MessageRow;
  readonly appendedAfter?: string;
}): Promise<ChatMessage[]> {
  const cache = getCacheService();
  const { contextMaxMessages: maxLength, contextTtlSeconds: ttlSeconds } = getConfig().cache;
  const key = cacheKeys.chatContext(args.conversationId);
  const toModel = (entries: readonly string[]): ChatMessage[] =>
    entries.map((raw) => {
      const { role, content } = JSON.parse(raw) as ContextEntry;
      return { role, content };
    });

  if (args.appended) {
    const entry = contextEntry(args.appended.id, 'user', messageText(args.appended));
    if (args.isNew) {
      const list = await cache.appendToList(key, [entry], { maxLength, ttlSeconds, replace: true });
      return toModel(list ?? [entry]);
    }
    if (args.appendedAfter !== undefined) {
      const list = await cache.appendToList(key, [entry], { maxLength, ttlSeconds, ifTailStartsWith: contextTailPrefix(args.appendedAfter) });
      if (list) return toModel(list);
    }
  } else {
    const list = await cache.getList(key);
    if (list && list[list.length - 1].startsWith(contextTailPrefix(args.leafId))) return toModel(list);
  }

  countMetric('ContextRebuilt');
  const branch = await getBranchMessagesByLeafId({ conversationId: args.conversationId, leafId: args.leafId, limit: maxLength });
  const entries = branch.map((row) => contextEntry(row.id, row.role as 'user' | 'assistant', messageText(row)));
  await cache.appendToList(key, entries, { maxLength, ttlSeconds, replace: true });
  return toModel(entries);
}

let modelPromise: Promise<ChatModel> | undefined;

/** The configured model, built once per container (an OpenAI key may come from Secrets Manager). */
export function getChatModel(): Promise<ChatModel> {
  modelPromise ??= (async () => {
    const { llm } = getConfig();
    switch (llm.provider) {
      case 'bedrock':
        return createChatModel({ provider: 'bedrock', modelId: llm.bedrockModelId });
      case 'openai': {
        const apiKey = llm.openaiApiKey ?? (llm.openaiApiKeySecretArn ? await getSecretString(llm.openaiApiKeySecretArn) : 'not-needed');
        return createChatModel({ provider: 'openai', baseURL: llm.openaiBaseUrl, apiKey, model: llm.openaiModel });
      }
      default:
        return createChatModel({ provider: 'local', tokenDelayMs: llm.localTokenDelayMs });
    }
  })().catch((error: unknown) => {
    modelPromise = undefined;
    throw error;
  });
  return modelPromise;
}

/** Replaces the container's model (tests, local server). */
export function setChatModel(model: ChatModel | undefined): void {
  modelPromise = model ? Promise.resolve(model) : undefined;
}

/** What the reply stream reports; the handler turns these into SSE frames. */
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

/** How long before the function's deadline a reply stops, at most (a tenth of the time left, when that is less). */
const DEADLINE_MARGIN_MS = 5000;

/** A chat turn whose user side is stored and whose reply is under way: what the POST streams. */
export interface ConversationReply {
  readonly conversationId: string;
  /** The user message this turn stored (legacy streams echo it first). */
  readonly userMessage?: WireMessage;
  /** Names the reply's recorded stream, for `resume`; absent when replies are not recorded (meaningful for a resumable reply only). */
  readonly resumeToken?: string;
  /** The reply's events; the reply is stored before the last one, however it ends. */
  events(): AsyncGenerator<ReplyEvent>;
  /** Records one SSE frame exactly as sent, for followers. Never waits for Redis. */
  recordFrame(frame: string): void;
  /** Marks the recorded stream ended (followers finish); one bounded Redis round trip, never throws. */
  finishRecording(): Promise<void>;
  /** The client went away: a resumable reply runs on to its end; any other stops and is stored as far as it got. */
  clientGone(): void;
}

/**
 * POST conversation, the whole use case: check the user's turn limit, store the user side, start the model (a failure
 * before its first token is a 502 naming the stored conversation), and record the reply for
 * followers. The reply ends early when someone stops it, when the function nears its
 * `deadline` (epoch ms), or — unless `resumable` — when the client goes away.
 */
export async function startConversationReply(
  request: TurnRequest & { readonly resumable: boolean; readonly deadline?: number },
): Promise<ConversationReply> {
  // Per-user turn limit (SPEC §9): after validation, before anything is written or the model is called.
  await enforceTurnLimit(request.userId);
  const turn = await startTurn(request);
  const controller = new AbortController();
  // Its one round trip overlaps the model's first-token wait.
  const recording = startReplyRecording({
    conversationId: turn.conversationId,
    userId: turn.userId,
    messageId: turn.assistantMessageId,
    recordFrames: request.resumable,
  });
  let reply: OpenedReply;
  try {
    reply = await openReply(turn, controller);
  } catch (error) {
    // The 502: nothing runs any more.
    await (await recording)?.finish('failed');
    throw error;
  }
  const recorder = await recording;
  const abort = (reason: ReplyAbortReason) => {
    if (!controller.signal.aborted) controller.abort(reason);
  };
  recorder?.stopSignal.addEventListener('abort', () => abort('stopped'), { once: true });
  let deadlineTimer: NodeJS.Timeout | undefined;
  if (request.deadline !== undefined) {
    const remaining = request.deadline - Date.now();
    // Early enough to store the reply and end every stream before the function is stopped.
    deadlineTimer = setTimeout(() => abort('deadline'), Math.max(0, remaining - Math.min(DEADLINE_MARGIN_MS, remaining / 10)));
  }
  return {
    conversationId: turn.conversationId,
    userMessage: turn.userMessage && toWireMessage(turn.userMessage),
    resumeToken: recorder?.token,
    async *events() {
      try {
        yield* reply.events(controller.signal);
      } finally {
        clearTimeout(deadlineTimer);
      }
    },
    recordFrame: (frame) => recorder?.append(frame),
    finishRecording: async () => recorder?.finish('done'),
    clientGone: () => {
      if (!request.resumable) abort('client_gone');
      // A resumable reply runs on, so the abort that counts a disconnect never happens: count it here.
      else countMetric('ClientDisconnected');
    },
  };
}

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

/**
 * resume: the reply's frames from `offset`, then the live reply to its end. Throws before
 * the first frame — 404 for no such stream, 503 when Redis is unavailable — so the caller can
 * still answer JSON.
 */
export async function resumeConversationReply(args: {
  readonly conversationId: string;
  readonly userId: string;
  readonly offset: number;
  readonly token?: string;
  /** Epoch ms: the follower ends before its function does. */
  readonly deadline: number;
  /** Aborted when the client goes away. */
  readonly signal: AbortSignal;
}): Promise<AsyncGenerator<ReplyStreamEvent>> {
  return openReplyFollower({ ...args, blockMs: getConfig().llm.heartbeatIntervalMs });
}

const CONTINUE_PROMPT = 'Continue exactly where your previous answer stopped. Do not repeat anything.';

/**
 * Starts the model on the turn's context and waits for its first event (at most
 * `LLM_FIRST_TOKEN_WAIT_MS`), so that a provider failing up front becomes a 502 JSON error
 * rather than a broken stream. The user message is stored either way.
 */
export async function openReply(turn: Turn, controller: AbortController): Promise<OpenedReply> {
  const { llm } = getConfig();
  const model = await getChatModel();
  const messages: ChatMessage[] = [{ role: 'system', content: llm.systemPrompt }, ...turn.context];
  if (turn.action === 'continue') messages.push({ role: 'user', content: CONTINUE_PROMPT });
  const iterator = model.stream({ messages, maxTokens: llm.maxTokens, signal: controller.signal })[Symbol.asyncIterator]();
  const title = turn.isNew && turn.titleSource !== undefined ? generateTitle(model, turn.titleSource, { signal: controller.signal }) : undefined;

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

/**
 * `promise`, or `undefined` once `ms` pass first. The timer is cleared either way: a reply of
 * a thousand tokens must not leave a thousand pending heartbeat timers behind.
 */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
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
      text += event.text;
      yield { type: 'text', delta: event.text, message: snapshot('in_progress') };
    }
  } catch (error) {
    countMetric('ModelError');
    logger.error('Model failed mid-stream', { error, conversationId: turn.conversationId });
    failure = error instanceof AppError ? error.message : 'The model provider failed';
  } finally {
    // Also runs when the consumer stops early (client gone): whatever was generated is kept.
    if (!finish && !failure && signal.aborted) countMetric(ABORT_METRICS[signal.reason as ReplyAbortReason] ?? 'ClientDisconnected');
    if (text !== '' || finish) {
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
  });
  if (!message) {
    logger.info('The conversation was deleted while its reply ran; the reply is not stored', { conversationId: turn.conversationId });
    return undefined;
  }
  const { contextMaxMessages: maxLength, contextTtlSeconds: ttlSeconds } = getConfig().cache;
  await Promise.all([
    getCacheService().appendToList(cacheKeys.chatContext(turn.conversationId), [contextEntry(message.id, 'assistant', reply.text)], {
      maxLength,
      ttlSeconds,
      ifTailStartsWith: contextTailPrefix(turn.replyParentId),
    }),
    invalidateConversation(turn.conversationId, turn.userId),
  ]);
  return message;
}

/**
 * Drops every cached read a lifecycle change of these conversations alters: their details
 * and the user's list (both views, one key). A deletion also drops their context windows.
 * Same race-free path as a turn: the write is in Postgres first, and the `DEL` removes any
 * reader's fill lease, so no reader that saw the old rows can fill the cache after it.
 */
async function invalidateLifecycleChange(userId: string, conversationIds: readonly string[], deleted: boolean): Promise<void> {
  const keys = [cacheKeys.conversationList(userId)];
  for (const id of conversationIds) {
    keys.push(cacheKeys.conversationHistory(id));
    if (deleted) keys.push(cacheKeys.chatContext(id));
  }
  await Promise.all([getCacheService().delete(...keys), deleted ? discardReplyStreams({ userId, conversationIds }) : undefined]);
}

/** PATCH conversation: rename, archive / unarchive, or soft-delete one of the user's conversations. */
export async function updateConversation(args: {
  readonly userId: string;
  readonly conversationId: string;
  readonly changes: ConversationChanges;
}): Promise<void> {
  const updated = await updateConversationByIdAndUserId({ id: args.conversationId, userId: args.userId, changes: args.changes });
  if (!updated) throw new ConversationNotFoundError();
  await invalidateLifecycleChange(args.userId, [args.conversationId], args.changes.deleted === true);
}

/** PATCH conversations: archive or soft-delete all of the user's conversations; returns how many changed. */
export async function updateAllConversations(args: {
  readonly userId: string;
  readonly changes: Pick<ConversationChanges, 'isArchived' | 'deleted'>;
}): Promise<number> {
  const ids = await updateConversationsByUserId({ userId: args.userId, changes: args.changes });
  await invalidateLifecycleChange(args.userId, ids, args.changes.deleted === true);
  return ids.length;
}

/**
 * gen_title: names the conversation after the branch ending at `messageId` (that message and
 * the one before it, so an assistant message brings the question it answers), and stores it.
 * The model call counts as one of the user's turns.
 */
export async function generateConversationTitle(args: {
  readonly userId: string;
  readonly conversationId: string;
  readonly messageId: string;
}): Promise<string> {
  const target = await getTurnTargetByConversationId({ conversationId: args.conversationId, parentId: args.messageId });
  if (!target || target.userId !== args.userId) throw new ConversationNotFoundError();
  if (target.parentRole !== 'user' && target.parentRole !== 'assistant') {
    throw new ValidationError([{ loc: ['body', 'message_id'], msg: 'message_id is not a user or assistant message of this conversation', type: 'value_error' }]);
  }
  // A model call: it counts against the user's turn limit like a reply does (SPEC §9).
  await enforceTurnLimit(args.userId);
  const branch = await getBranchMessagesByLeafId({ conversationId: args.conversationId, leafId: args.messageId, limit: 2 });
  const title = await generateTitle(await getChatModel(), branch.map(messageText).join('\n\n'));
  await updateConversation({ userId: args.userId, conversationId: args.conversationId, changes: { title } });
  return title;
}

/**
 * The scheduled purge: hard-deletes, in batches, every conversation soft-deleted more than
 * `retentionDays` ago. Idempotent, and safe to run twice at once (`SKIP LOCKED`).
 */
export async function purgeDeletedConversations(args: { readonly now?: Date } = {}): Promise<number> {
  const { deletedRetentionDays, purgeBatchSize } = getConfig().lifecycle;
  const deletedBefore = new Date((args.now ?? new Date()).getTime() - deletedRetentionDays * 86_400_000);
  let purged = 0;
  for (;;) {
    const deleted = await deleteConversationsDeletedBefore({ deletedBefore, limit: purgeBatchSize });
    purged += deleted;
    if (deleted < purgeBatchSize) return purged;
  }
}
