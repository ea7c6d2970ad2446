/**
 * Background traffic for the fault tests: readers GET the conversations in a loop and
 * writers post into them, until stopped. Every response is recorded with when it was issued,
 * so a test can look at what happened inside a fault window, and every GET body is checked
 * against the messages acknowledged before the GET was issued (docs/api.md#cache-contract rule 3).
 */
import type { LayerInstance } from './layer-instance';
import type { AckLedger } from './ledger';

export interface TrackedConversation {
  readonly id: string;
  readonly userId: string;
  /** Where the next user message goes. */
  lastAssistantId: string;
  /** Message ids acknowledged so far (user and assistant). */
  readonly acked: string[];
}

export interface RequestRecord {
  readonly kind: 'get' | 'list' | 'post';
  readonly issuedAt: number;
  readonly doneAt: number;
  readonly statusCode: number;
  readonly cache?: string;
  /** GET only: acknowledged messages absent from the body. */
  readonly missing?: readonly string[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Acknowledged message ids the body's `mapping` lacks. */
export function missingFrom(body: string, ids: readonly string[]): string[] {
  let mapping: Record<string, unknown> = {};
  try {
    mapping = (JSON.parse(body) as { mapping?: Record<string, unknown> }).mapping ?? {};
  } catch {
    return [...ids];
  }
  return ids.filter((id) => !(id in mapping));
}

/** Creates `count` conversations through `layer` and tracks them. */
export async function seedConversations(layer: LayerInstance, ledger: AckLedger, userId: string, count: number): Promise<TrackedConversation[]> {
  const conversations: TrackedConversation[] = [];
  for (let i = 0; i < count; i += 1) {
    const outcome = await ledger.post(layer, userId, `seed ${i}`);
    if (outcome.statusCode !== 200 || !outcome.turn?.assistantMessageId) throw new Error(`seeding failed: ${outcome.statusCode} ${outcome.body}`);
    conversations.push({
      id: outcome.turn.conversationId,
      userId,
      lastAssistantId: outcome.turn.assistantMessageId,
      acked: [outcome.turn.userMessageId, outcome.turn.assistantMessageId],
    });
  }
  return conversations;
}

/** Posts one message into `conversation` and updates its tracking on success. */
export async function postInto(layer: LayerInstance, ledger: AckLedger, conversation: TrackedConversation, text: string) {
  const outcome = await ledger.post(layer, conversation.userId, text, { conversationId: conversation.id, parentMessageId: conversation.lastAssistantId });
  if (outcome.statusCode === 200 && outcome.turn) {
    conversation.acked.push(outcome.turn.userMessageId);
    if (outcome.turn.assistantMessageId) {
      conversation.acked.push(outcome.turn.assistantMessageId);
      conversation.lastAssistantId = outcome.turn.assistantMessageId;
    }
  }
  return outcome;
}

/** GETs `conversation` and checks it against what was acknowledged before the call. */
export async function getChecked(layer: LayerInstance, conversation: TrackedConversation): Promise<RequestRecord> {
  const expected = [...conversation.acked];
  const issuedAt = performance.now();
  const response = await layer.api.getConversation(conversation.id, conversation.userId);
  return {
    kind: 'get',
    issuedAt,
    doneAt: performance.now(),
    statusCode: response.statusCode,
    cache: response.headers['x-cache'],
    missing: response.statusCode === 200 ? missingFrom(response.body, expected) : expected,
  };
}

export interface TrafficOptions {
  readonly readers: number;
  readonly writers: number;
  /** Pause between a writer's posts. @default 50 */
  readonly writerPauseMs?: number;
}

export class Traffic {
  readonly records: RequestRecord[] = [];
  private stopped = false;
  private readonly loops: Promise<void>[] = [];

  constructor(
    private readonly layer: LayerInstance,
    private readonly ledger: AckLedger,
    private readonly conversations: readonly TrackedConversation[],
    options: TrafficOptions,
  ) {
    for (let i = 0; i < options.readers; i += 1) this.loops.push(this.readLoop(i));
    for (let i = 0; i < options.writers; i += 1) this.loops.push(this.writeLoop(i, options.writerPauseMs ?? 50));
  }

  private async readLoop(index: number): Promise<void> {
    let turn = index;
    while (!this.stopped) {
      const conversation = this.conversations[turn++ % this.conversations.length];
      if (turn % 5 === 0) {
        const issuedAt = performance.now();
        const response = await this.layer.api.listConversations(conversation.userId);
        this.records.push({ kind: 'list', issuedAt, doneAt: performance.now(), statusCode: response.statusCode, cache: response.headers['x-cache'] });
      } else {
        this.records.push(await getChecked(this.layer, conversation));
      }
      await sleep(5);
    }
  }

  private async writeLoop(index: number, pauseMs: number): Promise<void> {
    let n = 0;
    while (!this.stopped) {
      // A writer owns one conversation, so its parent is always its own last reply.
      const conversation = this.conversations[index % this.conversations.length];
      const issuedAt = performance.now();
      const outcome = await postInto(this.layer, this.ledger, conversation, `writer ${index} message ${n++}`);
      this.records.push({ kind: 'post', issuedAt, doneAt: performance.now(), statusCode: outcome.statusCode });
      await sleep(pauseMs);
    }
  }

  /** Stops the loops and waits for the requests in flight. */
  async stop(): Promise<RequestRecord[]> {
    this.stopped = true;
    await Promise.all(this.loops);
    return this.records;
  }
}

/** Counts by a key, for the summary lines. */
export function countBy<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
}
