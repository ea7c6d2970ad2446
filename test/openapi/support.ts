/** ajv (JSON Schema 2020-12, OpenAPI 3.1's dialect) over the OpenAPI document: validators of its schemas by location. */
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';

export type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const DOCUMENT_ID = 'https://chatbot-api.invalid/openapi.json';
const escape = (segment: string) => segment.replace(/~/g, '~0').replace(/\//g, '~1');

/**
 * Validators of the document's schemas, resolved inside it (so `#/components/schemas/…` refs
 * work): `schemaAt(['paths', path, 'get', 'responses', '200', 'content', 'application/json', 'schema'])`.
 */
export function documentSchemas(document: Json): (location: readonly string[]) => ValidateFunction {
  // Strict about schemas (unknown keywords, types), except `required` beside `anyOf` (valid JSON Schema).
  const ajv = new Ajv2020({ strict: true, strictRequired: false, allErrors: true });
  const rebase = (schema: unknown) => JSON.parse(JSON.stringify(schema).replace(/"#\/components\/schemas\//g, `"${DOCUMENT_ID}#/$defs/components/schemas/`)) as object;
  ajv.addSchema({ $id: DOCUMENT_ID, $defs: { components: { schemas: rebase(document.components.schemas) } } }, DOCUMENT_ID);
  const cache = new Map<string, ValidateFunction>();
  return (location) => {
    const key = location.join('\u0000');
    let validate = cache.get(key);
    if (!validate) {
      let schema: unknown = document;
      for (const segment of location) schema = (schema as Json)[segment];
      if (schema === undefined) throw new Error(`no schema at ${location.join(' > ')}`);
      // Refs point at `#/components/schemas/…` of the document: resolve them in the registered copy.
      validate = ajv.compile(rebase(schema));
      cache.set(key, validate);
    }
    return validate;
  };
}

/** The location of an operation's schema in the document. */
export const responseSchemaAt = (path: string, method: string, status: number, media = 'application/json') =>
  ['paths', path, method.toLowerCase(), 'responses', String(status), 'content', media, 'schema'] as const;
export const requestBodySchemaAt = (path: string, method: string) => ['paths', path, method.toLowerCase(), 'requestBody', 'content', 'application/json', 'schema'] as const;
export { escape as escapePointer };
