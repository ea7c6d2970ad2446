/**
 * The text of the offline "long answer" model (`local-long-answer`): a few hundred words of
 * Markdown — headings, a quote, numbered and bulleted lists, a table, a fenced code block —
 * about the user's message, so a client's rendering, Stop, resume and regenerate can be tried
 * without a real model. Deterministic: the same message and variant give the same text; each
 * variant (the n-th reply to the same message) picks other sections, another order and another
 * code sample, so a regenerate visibly differs. Pure: no I/O.
 */

/** A code sample per variant family: the fence's language label and its lines. */
const CODE_SAMPLES: readonly { readonly language: string; readonly name: string; readonly lines: readonly string[] }[] = [
  {
    language: 'typescript',
    name: 'TypeScript',
    lines: [
      'type Turn = { role: "user" | "assistant"; text: string };',
      '',
      'export function lastTurns(turns: Turn[], limit = 20): Turn[] {',
      '  // Keep the newest turns: the model only sees a window.',
      '  return turns.slice(Math.max(0, turns.length - limit));',
      '}',
    ],
  },
  {
    language: 'python',
    name: 'Python',
    lines: [
      'from dataclasses import dataclass',
      '',
      '@dataclass',
      'class Turn:',
      '    role: str',
      '    text: str',
      '',
      'def last_turns(turns: list[Turn], limit: int = 20) -> list[Turn]:',
      '    """Keep the newest turns: the model only sees a window."""',
      '    return turns[-limit:]',
    ],
  },
  {
    language: 'sql',
    name: 'SQL',
    lines: [
      '-- The newest twenty turns of one conversation, oldest first.',
      'SELECT role, parts',
      '  FROM (SELECT role, parts, seq FROM messages',
      '         WHERE conversation_id = $1',
      '         ORDER BY seq DESC LIMIT 20) newest',
      ' ORDER BY seq;',
    ],
  },
];

const POINTS: readonly string[] = [
  '**Start small.** Write down the one thing the answer must get right, then check every later step against it.',
  '**Measure before you change.** A number taken before and after a change says more than any amount of reasoning about it.',
  '**Keep the slow part visible.** Log how long each step takes, so the next person knows where the time goes.',
  '**Prefer boring tools.** A well-known library with a long history beats a clever one nobody on the team has used.',
  '**Write the failure down.** An error message that names the value and the rule it broke saves an hour of guessing.',
  '**Leave it runnable.** One command that sets everything up is worth more than a page of instructions.',
];

const CHECKS: readonly string[] = [
  'the answer still holds when the input is empty',
  'a second run gives the same result',
  'the slowest step is known and measured',
  'someone else can repeat it from the notes alone',
  'the error cases say what went wrong',
];

const TABLE_ROWS: readonly (readonly [string, string, string])[] = [
  ['Rendering', 'headings, lists, quotes, tables and code appear as they stream', 'the page shows Markdown, not raw text'],
  ['Stop', 'the reply ends where you pressed it and is stored as interrupted', 'the partial text stays on reload'],
  ['Reload', 'a page opened mid-reply follows it to the end', 'no second request is sent'],
  ['Regenerate', 'another variant of this answer arrives beside this one', 'both are kept as siblings'],
];

const ORDINALS = ['first', 'second', 'third', 'fourth', 'fifth', 'sixth', 'seventh', 'eighth', 'ninth', 'tenth'];

/** Rotates `items` left by `by`: the same items in another order. */
const rotate = <T>(items: readonly T[], by: number): T[] => items.map((_, i) => items[(i + by) % items.length]);

/** The user's message as a topic: its first words, without Markdown that would break a heading. */
function topicOf(question: string): string {
  const words = question.replace(/[#>*_`|[\]]/g, ' ').split(/\s+/).filter(Boolean);
  const topic = words.slice(0, 8).join(' ');
  return topic ? `${topic}${words.length > 8 ? ' …' : ''}` : 'your question';
}

/** The message as a Markdown quote, line by line (newlines kept), at most 60 words. */
function quoteOf(question: string): string {
  const lines = question.split(/\r?\n/).map((line) => line.trim());
  const quoted: string[] = [];
  let words = 0;
  for (const line of lines) {
    if (words >= 60) {
      quoted.push('> …');
      break;
    }
    const lineWords = line.split(/\s+/).filter(Boolean);
    quoted.push(`> ${lineWords.slice(0, 60 - words).join(' ')}`.trimEnd());
    words += lineWords.length;
  }
  return quoted.join('\n');
}

/**
 * The long answer to `question` for reply number `variant` (0 for the first reply to a
 * message, 1 for its first regenerate, …), given how many messages the context holds.
 */
export function composeLongAnswer(question: string, variant: number, contextMessages: number): string {
  const take = Math.max(0, Math.floor(variant));
  const code = CODE_SAMPLES[take % CODE_SAMPLES.length];
  const points = rotate(POINTS, take).slice(0, 4);
  const checks = rotate(CHECKS, take * 2).slice(0, 4);
  const ordinal = ORDINALS[take] ?? `number ${take + 1}`;
  const intro = [
    `This is the ${ordinal} answer of **local-long-answer**, the offline model: it is *not* an LLM, and it says the same thing every time it is asked the same way.`,
    `It writes a few hundred words of Markdown at reading pace, so you can watch a client render it, press **Stop** half-way, reload the page during the reply, or regenerate it (${contextMessages} message${contextMessages === 1 ? '' : 's'} in context right now).`,
  ];
  const sections: string[][] = [
    ['### A few principles', '', ...points.map((point, i) => `${i + 1}. ${point}`)],
    ['### Before you call it done', '', ...checks.map((check) => `- [ ] ${check}`), '', 'A short list you can copy into a pull request works better than one you keep in your head.'],
    [
      `### A sketch in ${code.name}`,
      '',
      'The same idea in a few lines; the language changes with each regenerate:',
      '',
      '```' + code.language,
      ...code.lines,
      '```',
    ],
    [
      '### What to try with this reply',
      '',
      '| Feature | What happens | How to tell |',
      '|---|---|---|',
      ...rotate(TABLE_ROWS, take).map((row) => `| ${row.join(' | ')} |`),
    ],
  ];
  const ordered = rotate(sections, take % sections.length);
  return [
    `## ${topicOf(question)}`,
    '',
    ...intro.flatMap((paragraph) => [paragraph, '']),
    '### What you asked',
    '',
    quoteOf(question),
    '',
    ...ordered.flatMap((section) => [...section, '']),
    '---',
    '',
    `*That was answer ${take + 1}. Regenerate for answer ${take + 2}: other sections first, another code sample.*`,
  ].join('\n');
}
