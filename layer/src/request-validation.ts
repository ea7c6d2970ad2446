/** Small validators shared by the handlers' request schemas; failures become one 422 listing every issue. */
import { AppError, PayloadTooLargeError, ValidationError, type ValidationIssue } from './errors';

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

/**
 * The request body as a JSON object: 415 for a non-JSON Content-Type, 413 over `maxBodyBytes`,
 * 422 for a missing, malformed or non-object body.
 */
export function readJsonObjectBody(
  event: { readonly body: string | null; readonly isBase64Encoded?: boolean; readonly headers?: Record<string, string | undefined> | null },
  options: { readonly maxBodyBytes: number },
): Record<string, unknown> {
  const contentType = Object.entries(event.headers ?? {}).find(([name]) => name.toLowerCase() === 'content-type')?.[1];
  if (contentType !== undefined && !/^\s*application\/([\w.+-]*\+)?json\s*(;|$)/i.test(contentType)) {
    throw new AppError(415, 'unsupported_media_type', 'Content-Type must be application/json');
  }
  const raw = event.isBase64Encoded ? Buffer.from(event.body ?? '', 'base64').toString('utf8') : (event.body ?? '');
  if (Buffer.byteLength(raw, 'utf8') > options.maxBodyBytes) {
    throw new PayloadTooLargeError('payload_too_large', `The request body exceeds ${options.maxBodyBytes} bytes`);
  }
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
