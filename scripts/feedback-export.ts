/**
 * `npm run feedback-export -- [--since <date>] [--rating thumbsUp|thumbsDown]`: the ratings of
 * replies, for the team that tunes prompts, as JSON Lines on stdout — one object per rating with
 * the rated reply, the question it answers and the model that wrote it (no user ids). Reads the
 * database of `DATABASE_URL` (or `DATABASE_SECRET_ARN`, as the functions do); with neither, the
 * embedded database `npm start` keeps. The query is `listMessageFeedbackSince`
 * (docs/api.md#exporting-ratings), paged on its index, so a large export streams.
 */
const USAGE = 'usage: npm run feedback-export -- [--since <ISO date, default 30 days ago>] [--rating thumbsUp|thumbsDown]';
const PAGE_SIZE = 500;
const DEFAULT_DAYS = 30;

type Rating = 'thumbsUp' | 'thumbsDown';

function fail(problem: string): never {
  console.error(`npm run feedback-export: ${problem}\n${USAGE}`);
  process.exit(2);
}

function parseArgs(argv: readonly string[]): { since: Date; rating?: Rating } {
  let since = new Date(Date.now() - DEFAULT_DAYS * 86_400_000);
  let rating: Rating | undefined;
  for (let i = 0; i < argv.length; i += 1) {
    const value = argv[i + 1];
    if (argv[i] === '--since') {
      since = new Date(value ?? '');
      if (value === undefined || Number.isNaN(since.getTime())) fail(`--since needs a date such as 2025-01-31 or 2025-01-31T12:00:00Z; got ${JSON.stringify(value ?? null)}`);
      i += 1;
    } else if (argv[i] === '--rating') {
      if (value !== 'thumbsUp' && value !== 'thumbsDown') fail(`--rating is thumbsUp or thumbsDown; got ${JSON.stringify(value ?? null)}`);
      rating = value;
      i += 1;
    } else {
      fail(`unknown argument ${JSON.stringify(argv[i])}`);
    }
  }
  return { since, rating };
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  let close: () => Promise<void>;
  if (!process.env.DATABASE_URL && !process.env.DATABASE_SECRET_ARN) {
    // Progress goes to stderr: stdout is the export.
    const { prepareLocalEnvironment } = await import('../local/environment');
    const environment = await prepareLocalEnvironment({ log: (line) => console.error(line) });
    close = () => environment.close();
  } else {
    const { closeDatabase } = await import('@chatbot/shared');
    close = () => closeDatabase();
  }
  const { listMessageFeedbackSince } = await import('@chatbot/shared/testing');
  let exported = 0;
  try {
    let after: Awaited<ReturnType<typeof listMessageFeedbackSince>>[number] | undefined;
    for (;;) {
      const page = await listMessageFeedbackSince({ since: options.since, rating: options.rating, after, limit: PAGE_SIZE });
      for (const row of page) process.stdout.write(`${JSON.stringify(row)}\n`);
      exported += page.length;
      if (page.length < PAGE_SIZE) break;
      after = page[page.length - 1];
    }
  } finally {
    await close();
  }
  console.error(`Exported ${exported} rating(s) since ${options.since.toISOString()}${options.rating ? ` (${options.rating} only)` : ''}.`);
}

main().catch((error: unknown) => {
  console.error(`npm run feedback-export: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
