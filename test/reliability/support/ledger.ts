/**
 * Every user message the API acknowledged (POST answered 200), so a test can prove after a
 * fault that none of them is missing from Postgres.
 */
import { randomUUID } from 'node:crypto';
import type { LayerInstance } from './layer-instance';
import type { AssertionDatabase } from './database';

export interface AckedTurn {
  readonly conversationId: string;
  readonly userMessageId: string;
  /** Present when the stream completed with a stored reply. */
  readonly assistantMessageId?: string;
}

export interface PostOutcome {
  readonly statusCode: number;
  readonly turn?: AckedTurn;
  readonly body: string;
  readonly ms: number;
}

export class AckLedger {
  readonly acked: AckedTurn[] = [];

  /**
   * Posts one user message through `instance` (new conversation when `conversationId` is
   * absent), reads the stream to the end and records the turn when the status is 200.
   */
  async post(instance: LayerInstance, userId: string, text: string, options: { conversationId?: string; parentMessageId?: string } = {}): Promise<PostOutcome> {
    const userMessageId = randomUUID();
    const started = performance.now();
    const response = await instance.api.postRaw(
      {
        action: 'next',
        messages: [{ id: userMessageId, author: { role: 'user' }, content: { content_type: 'text', parts: [text] } }],
        conversation_id: options.conversationId ?? null,
        parent_message_id: options.parentMessageId ?? randomUUID(),
        model: 'auto',
      },
      userId,
    );
    const ms = performance.now() - started;
    if (response.statusCode !== 200) return { statusCode: response.statusCode, body: response.body, ms };
    const completion = response.events.find((event) => event.json?.is_completion === true);
    const assistant = response.events.filter((event) => event.json?.message?.author?.role === 'assistant').at(-1)?.json.message;
    const conversationId = (completion?.json.conversation_id ?? response.events.find((e) => e.json?.conversation_id)?.json.conversation_id) as string;
    const turn: AckedTurn = {
      conversationId,
      userMessageId,
      assistantMessageId: assistant?.status === 'finished_successfully' ? (assistant.id as string) : undefined,
    };
    this.acked.push(turn);
    return { statusCode: 200, turn, body: response.body, ms };
  }

  /** Acknowledged messages that Postgres does not have. */
  async lost(database: AssertionDatabase): Promise<string[]> {
    const lost: string[] = [];
    for (const turn of this.acked) {
      const ids = [turn.userMessageId, ...(turn.assistantMessageId ? [turn.assistantMessageId] : [])];
      const missing = turn.conversationId ? await database.missingMessages(turn.conversationId, ids) : ids;
      lost.push(...missing);
    }
    return lost;
  }
}
