/** Direct Postgres access for assertions, outside the code under test. */
import { Client } from 'pg';

export class AssertionDatabase {
  private readonly client = new Client({ connectionString: process.env.DATABASE_URL });
  private connected: Promise<void> | undefined;

  private async ready(): Promise<Client> {
    this.connected ??= this.client.connect().then(() => undefined);
    await this.connected;
    return this.client;
  }

  async rowCounts(): Promise<{ conversations: number; messages: number; feedback: number }> {
    const client = await this.ready();
    const { rows } = await client.query<{ conversations: string; messages: string; feedback: string }>(
      'SELECT (SELECT count(*) FROM conversations) AS conversations, (SELECT count(*) FROM messages) AS messages, (SELECT count(*) FROM message_feedback) AS feedback',
    );
    return { conversations: Number(rows[0].conversations), messages: Number(rows[0].messages), feedback: Number(rows[0].feedback) };
  }

  /** The ids among `ids` that are NOT stored as messages of `conversationId`. */
  async missingMessages(conversationId: string, ids: readonly string[]): Promise<string[]> {
    const client = await this.ready();
    const { rows } = await client.query<{ id: string }>('SELECT id FROM messages WHERE conversation_id = $1 AND id = ANY($2::text[])', [conversationId, ids]);
    const found = new Set(rows.map((row) => row.id));
    return ids.filter((id) => !found.has(id));
  }

  async message(conversationId: string, id: string): Promise<{ role: string; parts: unknown[] } | undefined> {
    const client = await this.ready();
    const { rows } = await client.query<{ role: string; parts: unknown[] }>('SELECT role, parts FROM messages WHERE conversation_id = $1 AND id = $2', [conversationId, id]);
    return rows[0];
  }

  /** The conversations holding a message with this id (ids are unique per conversation only). */
  async conversationsWithMessage(id: string): Promise<string[]> {
    const client = await this.ready();
    const { rows } = await client.query<{ conversation_id: string }>('SELECT conversation_id FROM messages WHERE id = $1', [id]);
    return rows.map((row) => row.conversation_id);
  }

  async conversationOwner(conversationId: string): Promise<string | undefined> {
    const client = await this.ready();
    const { rows } = await client.query<{ user_id: string }>('SELECT user_id FROM conversations WHERE id = $1', [conversationId]);
    return rows[0]?.user_id;
  }

  async conversationTitle(conversationId: string): Promise<string | null | undefined> {
    const client = await this.ready();
    const { rows } = await client.query<{ title: string | null }>('SELECT title FROM conversations WHERE id = $1', [conversationId]);
    return rows[0]?.title;
  }

  /** How many conversations the user has (deleted ones included). */
  async conversationCount(userId: string): Promise<number> {
    const client = await this.ready();
    const { rows } = await client.query<{ n: string }>('SELECT count(*) AS n FROM conversations WHERE user_id = $1', [userId]);
    return Number(rows[0].n);
  }

  /** The size counters of migrations 003 and 005: what is stored, and what running replies hold. */
  async conversationSize(conversationId: string): Promise<{ messageCount: number; contentBytes: number; reservedMessages: number; reservedBytes: number } | undefined> {
    const client = await this.ready();
    const { rows } = await client.query<{ message_count: number; content_bytes: string; reserved_messages: number; reserved_bytes: string }>(
      'SELECT message_count, content_bytes, reserved_messages, reserved_bytes FROM conversations WHERE id = $1',
      [conversationId],
    );
    return rows[0] && { messageCount: rows[0].message_count, contentBytes: Number(rows[0].content_bytes), reservedMessages: rows[0].reserved_messages, reservedBytes: Number(rows[0].reserved_bytes) };
  }

  async close(): Promise<void> {
    if (this.connected) await this.client.end();
  }
}
