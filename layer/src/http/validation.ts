/** Small validators shared by the handlers' request schemas; failures become one 422 listing every issue. */
import { assertBodySize } from '../conversations/limits';
import { AppError, ValidationError, type ValidationIssue } from '../errors';

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

/**
 * The request body as a JSON object: 415 for a non-JSON Content-Type, 413 over `maxBodyBytes`,
 * 422 for a missing, malformed or non-object body.
 */
export function readJsonObjectBody(
  event: { readonly body: string | null; readonly isBase64Encoded?: boolean; readonly headers?: Record<string, string | undefined> | null },
  options: { readonly maxBodyBytes: number },
): Record<string, unknown> {
  // Typed `unknown` on purpose: a hand-built event (a direct invoke, a custom authorizer's
  // integration) can carry anything, and `.test(x)` on an object calls its `toString`.
  const contentType: unknown = Object.entries(event.headers ?? {}).find(([name]) => name.toLowerCase() === 'content-type')?.[1];
  // JSON only: ChatGPT clients send application/json; text/plain and the rest are 415.
  if (contentType !== undefined && (typeof contentType !== 'string' || !/^\s*application\/([\w.+-]*\+)?json\s*(;|$)/i.test(contentType))) {
    throw new AppError(415, 'unsupported_media_type', 'Content-Type must be application/json');
  }
  const text: unknown = event.body ?? '';
  if (typeof text !== 'string') throw new ValidationError([{ loc: ['body'], msg: 'a JSON body is required', type: 'missing' }]);
  const raw = event.isBase64Encoded ? Buffer.from(text, 'base64').toString('utf8') : text;
  assertBodySize(Buffer.byteLength(raw, 'utf8'), options.maxBodyBytes);
  const issues = new IssueCollector();
  let body: unknown;
  if (raw.trim() === '') issues.add(['body'], 'a JSON body is required', 'missing');
  else {
    try {
      body = JSON.parse(raw);
    } catch {
      issues.add(['body'], 'invalid JSON', 'json_invalid');
    }
  }
  issues.throwIfAny();
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    issues.add(['body'], 'must be a JSON object', 'dict_type');
    issues.throwIfAny();
  }
  return body as Record<string, unknown>;
}

/** The longest title a conversation (or a share) may have, in characters. */
export const MAX_TITLE_CHARS = 256;

/** Characters that show nothing: format characters (zero-width, bidi controls, BOM), spaces and separators, and the blank "letters" some fonts draw as nothing. */
const INVISIBLE = /[\p{Cf}\p{Z}\s\u115F\u1160\u3164\uFFA0\u2800]/gu;
/** C0 and C1 control characters: line breaks, tabs, escapes, NUL. */
const CONTROL = /\p{Cc}/u;

/**
 * A title a person can see and a sidebar can show on one line: a string of 1 to
 * {@link MAX_TITLE_CHARS} characters once trimmed, with at least one visible character, no
 * control characters and well-formed Unicode. Adds an issue at `loc` and returns `undefined` otherwise.
 */
export function readTitle(issues: IssueCollector, value: unknown, loc: (string | number)[]): string | undefined {
  if (typeof value !== 'string') {
    issues.add(loc, 'must be a string', 'string_type');
    return undefined;
  }
  const title = value.trim();
  if (!value.isWellFormed()) issues.add(loc, 'must be well-formed text', 'value_error');
  else if (CONTROL.test(value)) issues.add(loc, 'must not contain control characters (line breaks, tabs, escapes, NUL)', 'value_error');
  else if (title.length === 0 || title.length > MAX_TITLE_CHARS) issues.add(loc, `must be 1 to ${MAX_TITLE_CHARS} characters, not blank`, 'string_length');
  else if (title.replace(INVISIBLE, '') === '') issues.add(loc, 'must have a visible character (not only spaces, zero-width or direction marks)', 'value_error');
  else return title;
  return undefined;
}
