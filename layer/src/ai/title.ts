import { ABORTED, untilAborted } from './stream-control';
import type { ChatModel } from './types';

/** The instruction `generateTitle` sends as the system prompt (the local model recognises it). */
export const TITLE_SYSTEM_PROMPT =
  'You name conversations. Reply with a short title of at most 6 words for a conversation that starts with the ' +
  "user's message below. Reply with the title only: no quotes, no trailing punctuation, no preamble.";

/** The title of a conversation whose first message is blank. */
export const DEFAULT_TITLE = 'New chat';

const MAX_TITLE_WORDS = 6;
const MAX_TITLE_CHARS = 60;
/** A title reply longer than this is not a title: stop reading it. */
const MAX_TITLE_REPLY_CHARS = 300;

/** Options of `generateTitle`. */
export interface GenerateTitleOptions {
  /** Aborts the model call; the fallback title is returned. @default never aborted */
  readonly signal?: AbortSignal;
  /** The model gets this long to answer before the fallback title is used. @default 5000 */
  readonly timeoutMs?: number;
}

/** Keeps at most `MAX_TITLE_WORDS` words and `MAX_TITLE_CHARS` characters, cutting on a word boundary. */
function clampTitle(text: string): string {
  const words = text.split(/\s+/).filter(Boolean).slice(0, MAX_TITLE_WORDS);
  let title = '';
  for (const word of words) {
    const candidate = title ? `${title} ${word}` : word;
    if (candidate.length > MAX_TITLE_CHARS) break;
    title = candidate;
  }
  // A single word longer than the limit is cut rather than dropped.
  return title || (words[0] ?? '').slice(0, MAX_TITLE_CHARS);
}

/** The deterministic title: the first words of the first user message, or `DEFAULT_TITLE` when it is blank. */
export function fallbackTitle(firstUserMessage: string): string {
  return clampTitle(firstUserMessage) || DEFAULT_TITLE;
}

/** Turns a model's answer into a title: first non-empty line, without quotes, "Title:" or trailing punctuation. */
export function cleanModelTitle(reply: string): string {
  const line = reply
    .split(/\r?\n/)
    .map((l) => l.trim())
    .find(Boolean);
  if (!line) return '';
  const stripped = line
    .replace(/^(\*\*|#+\s*)?title\s*:\s*/i, '')
    .replace(/^[\s"'“”‘’`*]+|[\s"'“”‘’`*]+$/g, '')
    .replace(/[.!。:;,]+$/, '')
    .trim();
  return clampTitle(stripped);
}

/**
 * A short title for a new conversation: asks `model` for at most 6 words, bounded by
 * `timeoutMs`, and falls back to the first words of `firstUserMessage` (at most 6 words and
 * 60 characters) when the model fails, times out, is aborted or answers blank. Never throws,
 * and never waits past the timeout even for a model that ignores its abort signal.
 */
export async function generateTitle(
  model: ChatModel,
  firstUserMessage: string,
  options: GenerateTitleOptions = {},
): Promise<string> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const fallback = fallbackTitle(firstUserMessage);
  if (!firstUserMessage.trim() || options.signal?.aborted) return fallback;

  const controller = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, controller.signal]) : controller.signal;
  const timer = setTimeout(() => controller.abort(new Error(`Title generation timed out after ${timeoutMs} ms`)), timeoutMs);
  const ask = async (): Promise<string> => {
    let reply = '';
    let finished = false;
    for await (const event of model.stream({
      messages: [
        { role: 'system', content: TITLE_SYSTEM_PROMPT },
        { role: 'user', content: firstUserMessage },
      ],
      maxTokens: 24,
      signal,
    })) {
      if (event.type === 'finish') finished = true;
      else if (event.type === 'text') reply += event.text;
      if (reply.length > MAX_TITLE_REPLY_CHARS) break;
    }
    // An aborted stream ends quietly with part of a title: not worth keeping.
    return finished || reply.length > MAX_TITLE_REPLY_CHARS ? cleanModelTitle(reply) : '';
  };
  try {
    const title = await untilAborted(ask(), signal);
    return title === ABORTED ? fallback : title || fallback;
  } catch {
    return fallback;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}
