/**
 * JSON Schemas shared by the request and response schemas of the API (TypeBox: each schema is
 * a plain JSON Schema object, 2020-12 dialect as OpenAPI 3.1 uses, and a TypeScript type through
 * `Static<>`). The OpenAPI document (`npm run openapi` → docs/openapi.json) and the tests' ajv
 * validators read these same objects. Not loaded by the functions: the layer's entry does not
 * import this folder, so the Lambda bundles are unchanged.
 */
import { Type, type TSchema } from '@sinclair/typebox';

/** Text Postgres and Redis store as itself: no NUL, no lone surrogate (ajv compiles patterns with the `u` flag). */
export const STORABLE_TEXT = '^[^\\u0000\\uD800-\\uDFFF]*$';
/** Storable text with at least one character that is not white space. */
export const VISIBLE_TEXT = '^[^\\u0000\\uD800-\\uDFFF]*[^\\s\\u0000\\uD800-\\uDFFF][^\\u0000\\uD800-\\uDFFF]*$';

export const Uuid = Type.String({ pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$', description: 'A UUID, any case (answered lower-case)' });
/** Message and node ids: 1–128 letters, digits, `-`, `_`, `.`, `:`. */
export const MessageId = Type.String({ pattern: '^[\\w.:-]{1,128}$', description: 'A message id: 1–128 letters, digits, "-", "_", ".", ":"' });
export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
/** Decimal integers of 1–9 digits (leading zeros allowed) within the ranges the query parameters use. */
const INTEGER_RANGES: Readonly<Record<string, string>> = {
  '0-1000000': '^(?=\\d{1,9}$)0*(?:\\d{1,6}|1000000)$',
  '1-100': '^(?=\\d{1,9}$)0*(?:[1-9]\\d?|100)$',
  '1-50': '^(?=\\d{1,9}$)0*(?:[1-9]|[1-4]\\d|50)$',
};
/** A query parameter holding a decimal integer from `min` to `max`. */
export function IntegerParam(min: number, max: number, fallback: number) {
  const pattern = INTEGER_RANGES[`${min}-${max}`];
  if (pattern === undefined) throw new Error(`no pattern for the integer range ${min}-${max}`);
  return Type.String({ pattern, description: `An integer from ${min} to ${max} (default ${fallback})`, default: String(fallback) });
}
export const EpochSeconds = Type.Number({ description: 'Epoch seconds (float, microseconds)' });
export const IsoTime = Type.String({ description: 'ISO-8601 UTC with milliseconds and Z' });

/** One entry of a 422 `detail` list, FastAPI style. */
export const ValidationIssue = Type.Object({
  loc: Type.Array(Type.Union([Type.String(), Type.Integer()]), { minItems: 1 }),
  msg: Type.String(),
  type: Type.String(),
});

/** `detail` as an object: `{message, code}` and sometimes more (`retry_after`, `limit`, `conversation_id`, `param`). */
export const DetailObject = Type.Object({ message: Type.String(), code: Type.String() }, { additionalProperties: true });

/** The backend-api's error body: `{"detail": {message, code, …}}`, or a list of issues (422). */
export const DetailError = Type.Object(
  { detail: Type.Union([DetailObject, Type.Array(ValidationIssue, { minItems: 1 })]) },
  { $id: 'DetailError', description: 'The backend-api error shape (FastAPI style)' },
);
/** The errors with an object `detail` (every status but a 422's issue list). */
export const DetailObjectError = Type.Object({ detail: DetailObject }, { $id: 'DetailObjectError' });
/** A 422: a list of `{loc, msg, type}`, one per offending field (or the object `model_not_allowed`). */
export const ValidationErrorBody = Type.Object(
  { detail: Type.Union([Type.Array(ValidationIssue, { minItems: 1 }), DetailObject]) },
  { $id: 'ValidationError' },
);
/** OpenAI's error body (the `/v1` routes). */
export const OpenAiError = Type.Object(
  {
    error: Type.Object({
      message: Type.String(),
      type: Type.String(),
      param: Nullable(Type.String()),
      code: Nullable(Type.String()),
    }),
  },
  { $id: 'OpenAiError', description: "OpenAI's error shape" },
);

export const Success = Type.Object({ success: Type.Literal(true) });
/** A stream: `text/event-stream`, frames `data: <json>\n\n`, ending `data: [DONE]`. */
export const EventStream = Type.String({ description: 'Server-sent events: `data: <json>` frames, `: ping` heartbeats, `data: [DONE]` at the end' });
