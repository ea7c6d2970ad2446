/**
 * A local start that cannot go on for a reason the person can fix: printed as one line (no stack
 * trace, no driver error object) and the process exits non-zero.
 */
export class LocalStartError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LocalStartError';
  }
}

/** Error codes along the `cause` chain (pg and Node put them on nested errors). */
export function errorCodes(error: unknown): string[] {
  const codes: string[] = [];
  for (let current = error as { code?: unknown; cause?: unknown; errors?: unknown[] } | undefined, depth = 0; current && depth < 5; depth += 1) {
    if (typeof current.code === 'string') codes.push(current.code);
    // Happy-eyeballs connects fail with an AggregateError holding one error per address.
    for (const inner of current.errors ?? []) if (typeof (inner as { code?: unknown }).code === 'string') codes.push((inner as { code: string }).code);
    current = current.cause as typeof current;
  }
  return codes;
}
