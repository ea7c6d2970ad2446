/**
 * docs/openapi.json: generated from the route table and the routes' schemas (`npm run openapi`),
 * current (a test fails when it is stale), a valid OpenAPI 3.1 document, every route in it with
 * its errors, and every schema in it a JSON Schema ajv compiles.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildOpenApiDocument, errorStatusesOf, serializeOpenApiDocument } from '../../layer/src/contracts/openapi';
import { API_ROUTES, OPENAPI_DOCUMENT_ROUTE, type ApiRoute } from '../../layer/src/contracts/route-table';
import { version } from '../../package.json';
import { documentSchemas, requestBodySchemaAt, responseSchemaAt, type Json } from './support';

const ROOT = path.resolve(__dirname, '../..');
const DOCUMENT_PATH = path.join(ROOT, 'docs', 'openapi.json');

/** Validates a document with @seriousme/openapi-schema-validator (ESM only: run in a child Node). */
function validateOpenApi(document: unknown): { valid: boolean; version?: string; errors?: unknown } {
  const script = `
    import { Validator } from '@seriousme/openapi-schema-validator';
    let input = '';
    for await (const chunk of process.stdin) input += chunk;
    const validator = new Validator();
    const result = await validator.validate(JSON.parse(input));
    process.stdout.write(JSON.stringify({ ...result, version: validator.version }));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, input: JSON.stringify(document), encoding: 'utf8', timeout: 20_000 });
  return JSON.parse(out) as { valid: boolean; version?: string; errors?: unknown };
}

describe('docs/openapi.json', () => {
  const committed = fs.readFileSync(DOCUMENT_PATH, 'utf8');
  const document = JSON.parse(committed) as Json;

  it('is what `npm run openapi` writes from the route table and the schemas (not stale)', () => {
    // Act
    const generated = serializeOpenApiDocument(version);

    // Assess
    expect(committed === generated ? 'current' : 'stale: run npm run openapi').toBe('current');
  });

  it('is a valid OpenAPI 3.1 document, and the validator refuses a broken one', () => {
    // Prepare
    const broken = structuredClone(document);
    broken.paths['/backend-api/conversations'].get.responses = 'none';

    // Act
    const good = validateOpenApi(document);
    const bad = validateOpenApi(broken);

    // Assess
    expect(good).toMatchObject({ valid: true, version: '3.1' });
    expect(bad.valid).toBe(false);
  });

  it('has every route of the route table, and the document route, with its errors', () => {
    for (const route of API_ROUTES as readonly (ApiRoute & (typeof API_ROUTES)[number])[]) {
      const operation = document.paths[route.path]?.[route.method.toLowerCase()] as Json | undefined;
      expect(operation?.operationId).toBe(route.id);
      const statuses = Object.keys(operation!.responses).map(Number);
      expect(statuses).toEqual([200, ...errorStatusesOf(route)]);
      expect(statuses).toEqual(expect.arrayContaining([429, 500]));
      // Public: no security and no 401; else the bearer scheme (inherited) and a 401.
      if (route.public === true) {
        expect(operation!.security).toEqual([]);
        expect(statuses).not.toContain(401);
      } else {
        expect(operation!.security).toBeUndefined();
        expect(statuses).toContain(401);
      }
      if (route.jsonBody === true) expect(statuses).toEqual(expect.arrayContaining([413, 415, 422]));
      // Errors in the route's shape: detail objects, a 422 list; OpenAI's error (the gateway's 401/413/429 may be detail).
      const errorRef = (status: number) => JSON.stringify(operation!.responses[status].content['application/json'].schema);
      if (route.errorFormat === 'openai') {
        expect(errorRef(500)).toContain('OpenAiError');
        expect(errorRef(401)).toContain('DetailObjectError');
      } else {
        expect(errorRef(500)).toContain('DetailObjectError');
        if (statuses.includes(422)) expect(errorRef(422)).toContain('ValidationError');
      }
      for (const name of route.path.match(/\{([^}]+)\}/g) ?? []) {
        expect(operation!.parameters).toContainEqual(expect.objectContaining({ name: name.slice(1, -1), in: 'path', required: true }));
      }
    }
    expect(document.security).toEqual([{ bearer: [] }]);
    expect(document.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(document.paths[OPENAPI_DOCUMENT_ROUTE.path].get.security).toEqual([]);
    const operations = Object.values(document.paths as Record<string, Json>).flatMap((item) => Object.keys(item));
    expect(operations).toHaveLength(API_ROUTES.length + 1);
  });

  it('holds JSON Schemas ajv compiles (2020-12), strictly, refs resolved in the document', () => {
    // Prepare
    const built = buildOpenApiDocument(version) as Json;
    const schemaAt = documentSchemas(built);
    const locations: string[][] = [];
    for (const [path, item] of Object.entries(built.paths as Record<string, Json>)) {
      for (const [method, operation] of Object.entries(item) as [string, Json][]) {
        (operation.parameters ?? []).forEach((_: unknown, i: number) => locations.push(['paths', path, method, 'parameters', String(i), 'schema']));
        if (operation.requestBody) locations.push([...requestBodySchemaAt(path, method)]);
        for (const [status, response] of Object.entries(operation.responses) as [string, Json][]) {
          for (const media of Object.keys(response.content)) locations.push([...responseSchemaAt(path, method, Number(status), media)]);
        }
      }
    }

    // Act, assess
    expect(locations.length).toBeGreaterThan(300);
    for (const location of locations) expect(() => schemaAt(location)).not.toThrow();
    // The error components do their job: a detail object passes, a bare string does not.
    const detail = schemaAt(responseSchemaAt('/backend-api/conversations', 'GET', 500));
    expect(detail({ detail: { message: 'Internal server error', code: 'internal_error' } })).toBe(true);
    expect(detail({ detail: 'oops' })).toBe(false);
  });
});
