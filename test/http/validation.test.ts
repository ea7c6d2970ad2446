/**
 * Request validation, as pure functions (no I/O): what every handler's schema builds on. The
 * handlers' own request schemas are covered end to end by the handler tests and the bad-input
 * corpus (test/reliability/bad-input.test.ts).
 */
import { AppError, IssueCollector, isStorableText, isUuid, readIntegerParam, readJsonObjectBody, readTitle, ValidationError } from '@chatbot/shared/testing';

const limits = { maxBodyBytes: 1024 };
const json = (body: string | null, contentType: string | undefined = 'application/json', extra: Record<string, unknown> = {}) => ({
  body,
  headers: contentType === undefined ? {} : { 'content-type': contentType },
  ...extra,
});
const failure = (run: () => unknown): AppError => {
  try {
    run();
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('expected an AppError');
};

describe('readJsonObjectBody', () => {
  it('returns the object of a JSON body, under any JSON content type, or with none at all', () => {
    expect(readJsonObjectBody(json('{"a":1}'), limits)).toEqual({ a: 1 });
    expect(readJsonObjectBody(json('{"a":1}', 'application/merge-patch+json; charset=utf-8'), limits)).toEqual({ a: 1 });
    expect(readJsonObjectBody(json('{"a":1}', undefined), limits)).toEqual({ a: 1 });
    expect(readJsonObjectBody({ body: Buffer.from('{"b":2}').toString('base64'), isBase64Encoded: true, headers: {} }, limits)).toEqual({ b: 2 });
  });

  it('refuses another content type with 415 (text/plain too), whatever the header case', () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data', 'application/jsonx']) {
      expect(failure(() => readJsonObjectBody(json('{}', type), limits))).toMatchObject({ status: 415, code: 'unsupported_media_type' });
    }
    expect(failure(() => readJsonObjectBody({ body: '{}', headers: { 'CONTENT-TYPE': 'text/html' } }, limits)).status).toBe(415);
    // A hand-built event can carry anything; a non-string header is not JSON either.
    expect(failure(() => readJsonObjectBody({ body: '{}', headers: { 'content-type': 42 as unknown as string } }, limits)).status).toBe(415);
  });

  it('refuses a body over the limit with 413, counted in UTF-8 bytes', () => {
    expect(readJsonObjectBody(json(`{"t":"${'x'.repeat(1016)}"}`), limits)).toBeDefined();
    expect(failure(() => readJsonObjectBody(json(`{"t":"${'x'.repeat(1017)}"}`), limits))).toMatchObject({ status: 413, code: 'payload_too_large' });
    expect(failure(() => readJsonObjectBody(json(`{"t":"${'é'.repeat(600)}"}`), limits)).status).toBe(413);
  });

  it('refuses a missing, malformed or non-object body with one 422 naming the problem', () => {
    const cases: Array<[string | null, string]> = [
      [null, 'missing'],
      ['   ', 'missing'],
      ['{"a":', 'json_invalid'],
      ['[1,2]', 'dict_type'],
      ['"text"', 'dict_type'],
      ['null', 'dict_type'],
      ['42', 'dict_type'],
    ];
    for (const [body, type] of cases) {
      const error = failure(() => readJsonObjectBody(json(body), limits));
      expect(error).toBeInstanceOf(ValidationError);
      expect(error.status).toBe(422);
      expect((error as ValidationError).issues).toEqual([expect.objectContaining({ loc: ['body'], type })]);
    }
  });
});

describe('readIntegerParam', () => {
  const read = (params: Record<string, unknown> | null, name = 'limit') => {
    const issues = new IssueCollector();
    const value = readIntegerParam(issues, params, name, { fallback: 20, min: 1, max: 100 });
    return { value, issues: issues.issues };
  };

  it('reads a decimal string within bounds, the fallback when absent', () => {
    expect(read({ limit: '7' })).toEqual({ value: 7, issues: [] });
    expect(read({})).toEqual({ value: 20, issues: [] });
    expect(read(null)).toEqual({ value: 20, issues: [] });
  });

  it('adds an issue for anything else, and never reads inherited properties', () => {
    for (const raw of ['0', '101', '-1', '1.5', '1e3', ' 5', '0x10', '', '9999999999', 5, ['5']]) {
      const { value, issues } = read({ limit: raw });
      expect(value).toBe(20);
      expect(issues).toEqual([expect.objectContaining({ loc: ['query', 'limit'] })]);
    }
    expect(read(Object.create({ limit: '5' }) as Record<string, unknown>)).toEqual({ value: 20, issues: [] });
  });
});

describe('IssueCollector', () => {
  it('throws every collected issue at once as a 422, and nothing when there is none', () => {
    const issues = new IssueCollector();
    expect(() => issues.throwIfAny()).not.toThrow();
    issues.add(['body', 'a'], 'bad a');
    issues.add(['body', 'b'], 'bad b', 'string_type');
    const error = failure(() => issues.throwIfAny()) as ValidationError;
    expect(error.detail).toEqual([
      { loc: ['body', 'a'], msg: 'bad a', type: 'value_error' },
      { loc: ['body', 'b'], msg: 'bad b', type: 'string_type' },
    ]);
  });
});

describe('identifiers and text', () => {
  it('isUuid accepts UUIDs in any case and nothing else', () => {
    expect(isUuid('0b5c3d5e-8f1a-4c2b-9d3e-7f6a5b4c3d2e')).toBe(true);
    expect(isUuid('0B5C3D5E-8F1A-4C2B-9D3E-7F6A5B4C3D2E')).toBe(true);
    for (const value of ['0b5c3d5e8f1a4c2b9d3e7f6a5b4c3d2e', '0b5c3d5e-8f1a-4c2b-9d3e-7f6a5b4c3d2', '', null, 42, { toString: () => 'x' }]) {
      expect(isUuid(value)).toBe(false);
    }
  });

  it('isStorableText refuses NUL and lone surrogates, which Postgres or Redis could not store as themselves', () => {
    expect(isStorableText('héllo 👋')).toBe(true);
    expect(isStorableText('a\u0000b')).toBe(false);
    expect(isStorableText('eve\ud800')).toBe(false);
    expect(isStorableText('\udc00x')).toBe(false);
  });
});

describe('readTitle', () => {
  const read = (value: unknown) => {
    const issues = new IssueCollector();
    return { title: readTitle(issues, value, ['body', 'title']), issues: issues.issues };
  };

  it('accepts visible text, trimmed, up to 256 characters — with format characters among it', () => {
    expect(read('  Trip to Lisbon ').title).toBe('Trip to Lisbon');
    expect(read('\u202Eשלום\u202C').title).toBe('\u202Eשלום\u202C');
    expect(read('👩‍💻').title).toBe('👩‍💻');
    expect(read('x'.repeat(256)).title).toBe('x'.repeat(256));
  });

  it('refuses what a person could not see or a sidebar line could not hold, with one issue at the field', () => {
    for (const value of ['', '   ', '\u200B\u200B', '\u202E', '\uFEFF\u2060', '\u3164', '\u2800\u00A0', 'a\u0000b', 'a\u001bb', 'a\nb', 'a\r', 'a\tb', 'a\u0085b', '\ud800', 'x'.repeat(257), 42, null, ['t']]) {
      const { title, issues } = read(value);
      expect(title).toBeUndefined();
      expect(issues).toEqual([expect.objectContaining({ loc: ['body', 'title'] })]);
    }
  });
});
