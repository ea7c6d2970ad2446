/**
 * The rows the repository reads and writes, and the one size rule they share with the limits:
 * what a message's content weighs in a response. Pure: no I/O.
 */

export type MessageRole = 'root' | 'system' | 'user' | 'assistant';

export interface ConversationRow {
  readonly id: string;
  readonly userId: string;
  readonly title: string | null;
  readonly rootNodeId: string;
  readonly currentNodeId: string;
  readonly defaultModelSlug: string | null;
  readonly isArchived: boolean;
  /** Epoch seconds with microseconds. */
  readonly createTime: number;
  readonly updateTime: number;
}

export interface MessageRow {
  readonly id: string;
  readonly parentId: string | null;
  readonly role: MessageRole;
  readonly contentType: string;
  readonly parts: unknown[];
  readonly status: string;
  readonly endTurn: boolean | null;
  readonly weight: number;
  readonly metadata: Record<string, unknown>;
  readonly recipient: string;
  readonly createTime: number;
}

export interface NewMessage {
  readonly id: string;
  readonly parentId: string | null;
  readonly role: MessageRole;
  readonly contentType?: string;
  readonly parts?: unknown[];
  readonly status?: string;
  readonly endTurn?: boolean | null;
  readonly weight?: number;
  readonly metadata?: Record<string, unknown>;
  /** Epoch seconds; the reply's stream showed this time before the row existed. @default the database clock */
  readonly createTime?: number;
}

export interface ConversationListPage {
  readonly total: number;
  readonly items: readonly ConversationRow[];
}

/**
 * What a message's `parts` add to a buffered Lambda response carrying the detail body: the
 * parts as JSON inside the body, and the body escaped once more as a JSON string inside the
 * response envelope (so a `"` in the text costs 4 bytes, a control character 7). This is what
 * `MAX_CONVERSATION_BYTES` counts.
 */
export function messageContentBytes(parts: readonly unknown[]): number {
  return Buffer.byteLength(JSON.stringify(JSON.stringify(parts)), 'utf8') - 2;
}

/** The text of a message: its string parts, joined (what the model and the title see). */
export const messageText = (row: Pick<MessageRow, 'parts'>): string => row.parts.filter((part): part is string => typeof part === 'string').join('\n');

/**
 * What a piece of text adds to a message's content as {@link messageContentBytes} counts it.
 * Additive over the pieces of a streamed text (each character is escaped on its own; a surrogate
 * pair split between two pieces counts more than whole, never less).
 */
export const textContentBytes = (text: string): number => Buffer.byteLength(JSON.stringify(JSON.stringify(text)), 'utf8') - 6;

/** A share link: a conversation's branch ending at `currentNodeId`, readable by anyone with its id. */
export interface ShareRow {
  readonly id: string;
  readonly userId: string;
  readonly conversationId: string;
  readonly currentNodeId: string;
  readonly title: string;
  readonly isAnonymous: boolean;
  /** Epoch seconds with microseconds. */
  readonly createTime: number;
  readonly updateTime: number;
}
