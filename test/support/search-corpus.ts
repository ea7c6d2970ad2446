/**
 * A conversation history for search at size — what the search bench and the EXPLAIN test both
 * seed: text with the statistics of real chat, deterministic per seed, bulk-inserted (the
 * triggers of migration 007 vectorise every row, as for the app's own inserts).
 *
 * Words follow Zipf's law (the n-th most frequent word is about 1/n as frequent as the first)
 * over a vocabulary of 20,000: 50 English function words first, then made-up words built from
 * syllables, so a content word is as rare in this text as in real chat and a query for one
 * matches about as many messages. Message lengths are log-normal: user messages a median of
 * 14 words, assistant replies 100 (≈ 90 and 650 characters).
 */
import { randomUUID } from 'node:crypto';
import type { ClientBase } from 'pg';

const FUNCTION_WORDS = (
  'the of and to a in is that for it as was with be by on not this are or from at which but have an they you can more ' +
  'if will one all there their has when so no what how use your we do its also each some'
).split(' ');
const SYLLABLES = 'ka lo mi ren ta vo sen dri pa nu el cor bi sta fen gu ha jin ko lum mar ne or pi qua ro si tor ul vex wa xi yo zen bra cle dom fra gri plu'.split(' ');

export const VOCABULARY_SIZE = 20_000;

/** The vocabulary, most frequent first: word n (from 0) is drawn with probability ∝ 1 / (n + 1). */
export const VOCABULARY: readonly string[] = (() => {
  const words = [...FUNCTION_WORDS];
  const seen = new Set(words);
  for (let n = 0; words.length < VOCABULARY_SIZE; n += 1) {
    const syllables = [SYLLABLES[n % 40], SYLLABLES[Math.floor(n / 40) % 40], ...(n >= 1600 ? [SYLLABLES[Math.floor(n / 1600) % 40]] : [])];
    const word = syllables.join('');
    if (!seen.has(word)) {
      seen.add(word);
      words.push(word);
    }
  }
  return words;
})();

/** A seeded PRNG (mulberry32): the same seed, the same text. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The rank (from 0) of a Zipf-distributed word: P(rank < r) ≈ ln(r + 1) / ln(N). */
export const zipfRank = (random: () => number): number => Math.min(VOCABULARY_SIZE - 1, Math.floor(VOCABULARY_SIZE ** random()) - 1);

/** A log-normal count with this median and spread (σ of the log), at least 1. */
function logNormal(random: () => number, median: number, sigma: number): number {
  // Box–Muller.
  const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return Math.max(1, Math.round(median * Math.exp(sigma * z)));
}

export function sentence(random: () => number, words: number): string {
  const picked = Array.from({ length: words }, () => VOCABULARY[zipfRank(random)]);
  const text = picked.join(' ');
  return `${text[0].toUpperCase()}${text.slice(1)}.`;
}

export interface CorpusMessage {
  readonly id: string;
  readonly parentId: string;
  readonly role: 'user' | 'assistant';
  readonly text: string;
  /** Epoch seconds. */
  readonly createTime: number;
}

export interface CorpusConversation {
  readonly id: string;
  readonly title: string;
  readonly rootId: string;
  readonly systemId: string;
  readonly messages: readonly CorpusMessage[];
}

/** `count` linear conversations of `messages` alternating user and assistant messages each, spread over the last year. */
export function* corpusConversations(options: { readonly seed: number; readonly count: number; readonly messages: number }): Generator<CorpusConversation> {
  const random = seededRandom(options.seed);
  const now = Date.now() / 1000;
  for (let c = 0; c < options.count; c += 1) {
    const rootId = randomUUID();
    const systemId = randomUUID();
    let time = now - 365 * 86400 * random();
    let parentId = systemId;
    const messages: CorpusMessage[] = [];
    for (let i = 0; i < options.messages; i += 1) {
      const role = i % 2 === 0 ? 'user' : 'assistant';
      const id = randomUUID();
      time += 5 + 60 * random();
      messages.push({ id, parentId, role, text: sentence(random, logNormal(random, role === 'user' ? 14 : 100, 0.8)), createTime: time });
      parentId = id;
    }
    yield { id: randomUUID(), title: sentence(random, 3 + Math.floor(random() * 3)).slice(0, -1), rootId, systemId, messages };
  }
}

/**
 * Inserts conversations of `userId`, one statement per conversation (its row, root, hidden
 * system node and messages together), with the columns the app's own statements fill.
 */
export async function insertCorpusConversation(client: Pick<ClientBase, 'query'>, userId: string, conversation: CorpusConversation): Promise<void> {
  const { messages } = conversation;
  const parts = messages.map((m) => JSON.stringify([m.text]));
  const bytes = parts.reduce((sum, p) => sum + Buffer.byteLength(JSON.stringify(p), 'utf8') - 2, 0);
  await client.query(
    `WITH conversation AS (
       INSERT INTO conversations (id, user_id, title, root_node_id, current_node_id, default_model_slug, create_time, update_time, message_count, content_bytes)
       VALUES ($1, $2, $3, $4, $15, 'local', to_timestamp($10::float8), to_timestamp($11::float8), $12, $13) RETURNING id
     ), skeleton AS (
       INSERT INTO messages (conversation_id, id, parent_id, role, parts, weight, metadata, create_time)
       SELECT id, $4, NULL, 'root', '[]'::jsonb, 0, '{}'::jsonb, to_timestamp($10::float8) FROM conversation
       UNION ALL
       SELECT id, $5, $4, 'system', '[""]'::jsonb, 0, '{"is_visually_hidden_from_conversation": true}'::jsonb, to_timestamp($10::float8) FROM conversation
     )
     INSERT INTO messages (conversation_id, id, parent_id, role, parts, end_turn, create_time)
     SELECT conversation.id, m.id, m.parent_id, m.role, m.parts::jsonb, CASE WHEN m.role = 'assistant' THEN true END, to_timestamp(m.t)
       FROM conversation, unnest($6::text[], $7::text[], $8::text[], $9::text[], $14::float8[]) AS m(id, parent_id, role, parts, t)`,
    [
      conversation.id,
      userId,
      conversation.title,
      conversation.rootId,
      conversation.systemId,
      messages.map((m) => m.id),
      messages.map((m) => m.parentId),
      messages.map((m) => m.role),
      parts,
      messages[0].createTime - 1,
      messages[messages.length - 1].createTime,
      messages.length,
      bytes,
      messages.map((m) => m.createTime),
      messages[messages.length - 1].id,
    ],
  );
}
