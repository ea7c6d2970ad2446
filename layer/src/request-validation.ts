/** Small validators shared by the handlers' request schemas; failures become one 422 listing every issue. */
import { ValidationError, type ValidationIssue } from './errors';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const isUuid = (value: unknown): value is string => typeof value === 'string' && UUID.test(value);

/** Collects issues, then throws them all at once. */
export class IssueCollector {
  readonly issues: ValidationIssue[] = [];

  add(loc: (string | number)[], msg: string, type = 'value_error'): void {
    this.issues.push({ loc, msg, type });
  }

  /** Throws the collected issues as one 422 (typed `never` when called for its throw). */
  throwIfAny(): void {
    if (this.issues.length > 0) throw new ValidationError(this.issues);
  }
}

/** An optional non-negative integer query parameter within [min, max]. */
export function readIntegerParam(
  issues: IssueCollector,
  params: Record<string, string | undefined> | null,
  name: string,
  options: { readonly fallback: number; readonly min: number; readonly max: number },
): number {
  const raw = params?.[name];
  if (raw === undefined) return options.fallback;
  if (!/^\d{1,9}$/.test(raw)) {
    issues.add(['query', name], `must be an integer from ${options.min} to ${options.max}`, 'int_parsing');
    return options.fallback;
  }
  const value = Number(raw);
  if (value < options.min || value > options.max) {
    issues.add(['query', name], `must be an integer from ${options.min} to ${options.max}`, 'value_error');
    return options.fallback;
  }
  return value;
}
