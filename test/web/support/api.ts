/** The API as a test calls it directly, to set up what a page then opens. */
import { randomUUID } from 'node:crypto';

export interface Turn {
  readonly conversationId: string;
  /** The assistant message the next turn continues from. */
  readonly replyId: string;
}

/** Posts one turn (legacy snapshots: each carries the whole message and its ids) and reads the reply to its end. */
export async function postTurn(baseUrl: string, token: string, text: string, after?: Turn): Promise<Turn> {
  const res = await fetch(`${baseUrl}/backend-api/f/conversation`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({
      action: 'next',
      conversation_id: after?.conversationId,
      parent_message_id: after?.replyId ?? 'client-created-root',
      messages: [{ id: randomUUID(), author: { role: 'user' }, content: { content_type: 'text', parts: [text] } }],
    }),
  });
  if (!res.ok) throw new Error(`POST /f/conversation: HTTP ${res.status} ${await res.text()}`);
  let turn: Turn | undefined;
  for (const line of (await res.text()).split('\n')) {
    if (!line.startsWith('data: {')) continue;
    const data = JSON.parse(line.slice(6)) as { conversation_id?: string; message?: { id: string; author: { role: string } } };
    if (data.message?.author.role === 'assistant' && data.conversation_id) turn = { conversationId: data.conversation_id, replyId: data.message.id };
  }
  if (!turn) throw new Error('the reply stream named no assistant message');
  return turn;
}
