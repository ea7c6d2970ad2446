/** Small validators shared by the handlers' request schemas; failures become one 422 listing every issue. */
import { ValidationError, type ValidationIssue } from './errors';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const isUuid = (value: unknown): value is string => typeof value === 'string' && UUID.test(value);

/**
 * Text that Postgres and Redis store as itself: no NUL (Postgres text cannot hold it) and
 * well-formed Unicode (both store a lone surrogate as U+FFFD, so two strings would become one).
 */
export const isStorableText = (value: string): boolean => !value.includes('\u0000') && value.isWellFormed();

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
  params: Readonly<Record<string, unknown>> | null,
  name: string,
  options: { readonly fallback: number; readonly min: number; readonly max: number },
): number {
  // Own properties only, and only strings: a hand-built or JSON event can carry anything.
  const raw = params && Object.hasOwn(params, name) ? params[name] : undefined;
  if (raw === undefined || raw === null) return options.fallback;
  if (typeof raw !== 'string' || !/^\d{1,9}$/.test(raw)) {
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
