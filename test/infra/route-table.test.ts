/**
 * The route table (`layer/src/route-table.ts`) is the one source of the API's routes, CORS
 * rules and gateway errors. These tests fail when either edge — the synthesized REST API or
 * the local emulator — answers differently from it.
 */
import { signLocalToken } from '../../local/auth';
import { startLocalServer, type LocalServer } from '../../local/server';
import { logicalIdOf } from '../../lib/functions';
import {
  API_FUNCTIONS,
  API_ROUTES,
  CORS,
  CORS_ALLOW_METHODS,
  GATEWAY_ERRORS,
  gatewayError,
  gatewayErrorBody,
  isPublicRoute,
  type ApiFunctionName,
} from '../../layer/src/contracts/route-table';
import { removeSynthOutputs, resourcesOfType, synthesize, type CfnResource, type Synthesized } from './support/synth';

let synthesized: Synthesized;
beforeAll(() => {
  synthesized = synthesize();
}, 240_000);
afterAll(() => removeSynthOutputs());

/** Every API Gateway method of the template as `METHOD /full/path`, with the method resource. */
function templateMethods(json: Synthesized['json']): Map<string, CfnResource> {
  const resources = new Map(resourcesOfType(json, 'AWS::ApiGateway::Resource'));
  const pathOf = (ref: unknown): string => {
    const id = (ref as { Ref?: string }).Ref;
    const resource = id ? resources.get(id) : undefined;
    if (!resource) return ''; // the API's root
    return `${pathOf(resource.Properties!.ParentId)}/${resource.Properties!.PathPart}`;
  };
  return new Map(
    resourcesOfType(json, 'AWS::ApiGateway::Method').map(([, method]) => [
      `${method.Properties!.HttpMethod} ${pathOf(method.Properties!.ResourceId) || '/'}`,
      method,
    ]),
  );
}

/** The logical id of the function an integration invokes. */
function integrationFunctionId(method: CfnResource): string {
  const match = /"Fn::GetAtt":\["(Functions[A-Za-z0-9]+?)[0-9A-F]{8}","Arn"\]/.exec(JSON.stringify(method.Properties!.Integration.Uri));
  return match?.[1] ?? '';
}

describe('the deployed API is built from the route table', () => {
  it('has exactly the table\'s routes, each on its function, streamed when the function streams, behind Cognito unless public', () => {
    const methods = templateMethods(synthesized.json);
    const secured = [...methods.keys()].filter((key) => !key.startsWith('OPTIONS '));
    expect(secured.sort()).toEqual(API_ROUTES.map((route) => `${route.method} ${route.path}`).sort());
    for (const route of API_ROUTES) {
      const method = methods.get(`${route.method} ${route.path}`)!;
      expect(integrationFunctionId(method)).toBe(`Functions${logicalIdOf(route.function)}`);
      expect(method.Properties!.Integration.ResponseTransferMode === 'STREAM').toBe(API_FUNCTIONS[route.function].streaming);
      expect(method.Properties!.AuthorizationType).toBe(isPublicRoute(route) ? 'NONE' : 'COGNITO_USER_POOLS');
    }
  });

  it('leaves a public route without authorizer or scopes, with a method throttle of its own below the stage\'s', () => {
    const methods = templateMethods(synthesized.json);
    const publicRoutes = API_ROUTES.filter(isPublicRoute);
    expect(publicRoutes.map((route) => route.id)).toEqual(['getSharedConversation']);
    const [, stage] = resourcesOfType(synthesized.json, 'AWS::ApiGateway::Stage')[0];
    const settings = stage.Properties!.MethodSettings as { HttpMethod: string; ResourcePath: string; ThrottlingRateLimit?: number; ThrottlingBurstLimit?: number; LoggingLevel?: string; MetricsEnabled?: boolean }[];
    const stageWide = settings.find((setting) => setting.ResourcePath === '/*')!;
    for (const route of publicRoutes) {
      const method = methods.get(`${route.method} ${route.path}`)!;
      expect(method.Properties!.AuthorizerId).toBeUndefined();
      expect(method.Properties!.AuthorizationScopes).toBeUndefined();
      const own = settings.find((setting) => setting.HttpMethod === route.method && setting.ResourcePath === `/${route.path.replaceAll('/', '~1')}`)!;
      expect(own).toMatchObject({ ThrottlingRateLimit: 20, ThrottlingBurstLimit: 40, LoggingLevel: 'ERROR', MetricsEnabled: true });
      expect(own.ThrottlingRateLimit!).toBeLessThan(stageWide.ThrottlingRateLimit!);
    }
  });

  it('has one Lambda function per table function, with the table\'s timeout', () => {
    const functions = resourcesOfType(synthesized.json, 'AWS::Lambda::Function');
    for (const [name, spec] of Object.entries(API_FUNCTIONS) as [ApiFunctionName, (typeof API_FUNCTIONS)[ApiFunctionName]][]) {
      const found = functions.filter(([id]) => id.startsWith(`Functions${logicalIdOf(name)}`));
      expect(found).toHaveLength(1);
      expect(found[0][1].Properties!.Timeout).toBe(spec.timeoutSeconds);
    }
  });

  it('answers preflights with the table\'s CORS methods, headers and max-age', () => {
    const preflights = [...templateMethods(synthesized.json)].filter(([key]) => key.startsWith('OPTIONS '));
    expect(preflights.length).toBeGreaterThan(0);
    for (const [, preflight] of preflights) {
      const headers = preflight.Properties!.Integration.IntegrationResponses[0].ResponseParameters;
      expect(headers['method.response.header.Access-Control-Allow-Methods']).toBe(`'${CORS_ALLOW_METHODS.join(',')}'`);
      expect(headers['method.response.header.Access-Control-Allow-Headers']).toBe(`'${CORS.allowHeaders.join(',')}'`);
      expect(headers['method.response.header.Access-Control-Max-Age']).toBe(`'${CORS.maxAgeSeconds}'`);
    }
  });

  it('renders every gateway error of the table, with its code, message and status', () => {
    const responses = resourcesOfType(synthesized.json, 'AWS::ApiGateway::GatewayResponse').map(([, r]) => r.Properties!);
    expect(responses.map((r) => r.ResponseType).sort()).toEqual(GATEWAY_ERRORS.map((e) => e.type).sort());
    for (const error of GATEWAY_ERRORS) {
      const response = responses.find((r) => r.ResponseType === error.type)!;
      expect(response.ResponseTemplates['application/json']).toBe(gatewayErrorBody(error));
      expect(response.StatusCode).toBe(error.overrideStatus ? String(error.status) : undefined);
      expect(response.ResponseParameters['gatewayresponse.header.Access-Control-Expose-Headers']).toBe(`'${CORS.exposeHeaders.join(',')}'`);
    }
  });
});

describe('the local emulator is built from the same table', () => {
  const SECRET = 'route-table-test';
  let server: LocalServer;
  const calls: { fn: ApiFunctionName; resource: string; method: string }[] = [];

  beforeAll(async () => {
    const recorder = (fn: ApiFunctionName) => async (event: { resource: string; httpMethod: string }) => {
      calls.push({ fn, resource: event.resource, method: event.httpMethod });
      return { statusCode: 200, headers: {}, body: '{}' };
    };
    const handlers = Object.fromEntries(Object.keys(API_FUNCTIONS).map((name) => [name, recorder(name as ApiFunctionName)]));
    server = await startLocalServer({ port: 0, jwtSecret: SECRET, handlers: handlers as never, allowedOrigins: ['*'], log: () => undefined });
  });
  afterAll(() => server.close());

  it.each(API_ROUTES.map((route) => [`${route.method} ${route.path}`, route] as const))('routes %s to its function', async (_name, route) => {
    // Prepare
    const concrete = route.path.replace(/\{[^}]+\}/g, '3f8c1d5e-0000-4000-8000-000000000001');

    // Act
    const res = await fetch(`${server.url}${concrete}`, {
      method: route.method,
      // A public route needs none: it is sent without one.
      headers: { ...(isPublicRoute(route) ? {} : { Authorization: `Bearer ${signLocalToken('u', { secret: SECRET })}` }), 'Content-Type': 'application/json' },
      body: route.method === 'GET' ? undefined : '{}',
    });

    // Assess
    expect(res.status).toBe(200);
    expect(calls.at(-1)).toEqual({ fn: route.function, resource: route.path, method: route.method });
  });

  it('answers gateway errors with the table\'s status and body', async () => {
    // Act
    const unknown = await fetch(`${server.url}/backend-api/nowhere`);
    const unauthenticated = await fetch(`${server.url}/backend-api/conversations`);

    // Assess
    for (const [res, type] of [[unknown, 'MISSING_AUTHENTICATION_TOKEN'], [unauthenticated, 'UNAUTHORIZED']] as const) {
      const error = gatewayError(type);
      expect(res.status).toBe(error.status);
      expect(await res.text()).toBe(gatewayErrorBody(error));
      expect(res.headers.get('access-control-expose-headers')).toBe(CORS.exposeHeaders.join(','));
    }
  });

  it('answers preflights with the table\'s CORS methods, headers and max-age', async () => {
    // Act
    const res = await fetch(`${server.url}/backend-api/conversation/abc`, { method: 'OPTIONS', headers: { Origin: 'https://x.example' } });

    // Assess
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-methods')).toBe(CORS_ALLOW_METHODS.join(','));
    expect(res.headers.get('access-control-allow-headers')).toBe(CORS.allowHeaders.join(','));
    expect(res.headers.get('access-control-max-age')).toBe(String(CORS.maxAgeSeconds));
  });
});
