/**
 * Proof that the deployed artifacts resolve their imports: the layer and the
 * handler bundles are taken from a real synth's cloud assembly (what `cdk deploy`
 * uploads), laid out as Lambda does (/opt/nodejs/node_modules on NODE_PATH), and
 * run in a separate Node 24 process against the local Postgres and Redis.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT } from '../../scripts/build-layer';
import { removeSynthOutputs, resourcesOfType, synthesize, type Synthesized } from './support/synth';

let synth: Synthesized;
let optNodeModules: string;
let workDir: string;

const assetDir = (s3Key: string): string => path.join(synth.assemblyDir, `asset.${s3Key.replace(/\.zip$/, '')}`);
const functionBundle = (name: string): string => {
  const match = resourcesOfType(synth.json, 'AWS::Lambda::Function').find(([id]) => id.startsWith(`Functions${name}`));
  if (!match) throw new Error(`no ${name} function in the template`);
  return path.join(assetDir(match[1].Properties!.Code.S3Key), 'index.js');
};

// A Lambda-like invoke: load the bundle with require() (as the CJS runtime does), call the handler once.
const RUNNER = `
const { randomUUID } = require('node:crypto');
const [bundle, eventJson] = process.argv.slice(2);
const { handler } = require(bundle);
const context = {
  functionName: 'chatbot-packaging-test', functionVersion: '$LATEST', memoryLimitInMB: '1024',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:chatbot-packaging-test',
  awsRequestId: randomUUID(), logGroupName: '/aws/lambda/test', logStreamName: 'test',
  callbackWaitsForEmptyEventLoop: true, getRemainingTimeInMillis: () => 15000,
};
Promise.resolve(handler(JSON.parse(eventJson), context)).then(
  (result) => { process.stdout.write('\\n@@RESULT@@' + JSON.stringify({ node: process.version, result }) + '\\n'); process.exit(0); },
  (error) => { console.error(error); process.exit(1); },
);
`;

// Loads the layer and a handler bundle as Lambda does, optionally streams one reply from the
// configured model (its endpoint is a closed port, so it fails right after loading its SDK),
// and reports which of the lazily loaded SDKs ended up in the module cache.
const MODULE_PROBE = `
globalThis.awslambda = { streamifyResponse: (handler) => handler, HttpResponseStream: { from: (stream) => stream } };
const [bundle, stream] = process.argv.slice(2);
require(bundle);
const sdks = () => Object.keys(require.cache).filter((file) => /openai|client-bedrock-runtime|client-secrets-manager/.test(file))
  .map((file) => /(openai|client-bedrock-runtime|client-secrets-manager)/.exec(file)[1]);
(async () => {
  const atImport = sdks();
  let failure;
  if (stream) {
    const model = await require('@chatbot/shared').getChatModel();
    try {
      for await (const _ of model.stream({ messages: [{ role: 'user', content: 'hi' }], maxTokens: 5 })) {}
    } catch (error) {
      failure = { code: error.code, cause: String(error.cause && (error.cause.code || error.cause.name + ': ' + error.cause.message)) };
    }
  }
  process.stdout.write('\\n@@RESULT@@' + JSON.stringify({ atImport, afterStream: sdks(), failure }) + '\\n');
  process.exit(0);
})();
`;

// The OIDC authorizer's code in the Lambda layout: the layer's lazily bundled jose verifies a token
// from an issuer this process serves on a loopback port (spawnSync blocks the test's own event loop).
const AUTHORIZER_PROBE = `
const http = require('node:http');
const path = require('node:path');
const jose = require(path.join(process.env.NODE_PATH, '@chatbot', 'shared', 'node_modules', 'jose'));
(async () => {
  const { privateKey, publicKey } = await jose.generateKeyPair('ES256');
  const jwk = { ...(await jose.exportJWK(publicKey)), kid: 'k1', alg: 'ES256' };
  let base = '';
  let jwksFetches = 0;
  const server = http.createServer((req, res) => {
    if (req.url === '/jwks') jwksFetches += 1;
    res.end(JSON.stringify(req.url === '/jwks' ? { keys: [jwk] } : { issuer: base, jwks_uri: base + '/jwks' }));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = 'http://127.0.0.1:' + server.address().port;
  process.env.OIDC_ISSUER = base;
  process.env.OIDC_AUDIENCE = 'packaging-api';
  const sign = (claims) => new jose.SignJWT({ iss: base, aud: 'packaging-api', sub: 'pkg-user', ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuedAt().setExpirationTime('5m').sign(privateKey);
  const { authorizeToken } = require('@chatbot/shared');
  const methodArn = 'arn:aws:execute-api:us-east-1:123456789012:api/v1/GET/backend-api/conversations';
  const allowed = await authorizeToken({ type: 'TOKEN', methodArn, authorizationToken: 'Bearer ' + (await sign({})) });
  const refused = await authorizeToken({ type: 'TOKEN', methodArn, authorizationToken: await sign({ aud: 'other' }) }).then(() => 'allowed', (error) => error.message);
  const loaded = Object.keys(require.cache).some((file) => /node_modules[\\/]jose[\\/]/.test(file));
  server.close();
  process.stdout.write('\\n@@RESULT@@' + JSON.stringify({ allowed, refused, jwksFetches, loaded }) + '\\n');
  process.exit(0);
})().catch((error) => { console.error(error); process.exit(1); });
`;

/** Node 24: the `node` devDependency (npm scripts put it first on PATH; a bare shell may not). */
const node24 = (): string => {
  const local = path.join(REPO_ROOT, 'node_modules', '.bin', 'node');
  return fs.existsSync(local) ? local : process.execPath;
};

function invoke(bundle: string, event: unknown): { node: string; result: any } {
  return runInLambdaLayout('runner.cjs', [bundle, JSON.stringify(event)]);
}

function runInLambdaLayout(script: string, args: readonly string[], env: Readonly<Record<string, string>> = {}): any {
  const child = spawnSync(node24(), [path.join(workDir, script), ...args], {
    cwd: workDir,
    encoding: 'utf8',
    timeout: 60_000,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_PATH: optNodeModules,
      NODE_OPTIONS: '--enable-source-maps',
      DATABASE_URL: process.env.DATABASE_URL,
      REDIS_URL: process.env.REDIS_URL,
      CACHE_KEY_PREFIX: process.env.CACHE_KEY_PREFIX,
      LLM_PROVIDER: 'local',
      AWS_REGION: 'us-east-1',
      POWERTOOLS_SERVICE_NAME: 'chatbot-api',
      POWERTOOLS_METRICS_NAMESPACE: 'ChatbotApi',
      POWERTOOLS_METRICS_DISABLED: 'true',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      ...env,
    },
  });
  const line = child.stdout.split('\n').find((l) => l.startsWith('@@RESULT@@'));
  if (child.status !== 0 || !line) {
    throw new Error(`handler process failed (status ${child.status}):\n${child.stderr}\n${child.stdout}`);
  }
  return JSON.parse(line.slice('@@RESULT@@'.length));
}

beforeAll(() => {
  synth = synthesize({}, { outdir: fs.mkdtempSync(path.join(os.tmpdir(), 'chatbot-pkg-cdk-')), bundle: true });
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatbot-pkg-'));
  const [, layer] = resourcesOfType(synth.json, 'AWS::Lambda::LayerVersion')[0];
  // Lambda extracts a layer's zip into /opt.
  fs.cpSync(assetDir(layer.Properties!.Content.S3Key), path.join(workDir, 'opt'), { recursive: true });
  optNodeModules = path.join(workDir, 'opt', 'nodejs', 'node_modules');
  fs.writeFileSync(path.join(workDir, 'runner.cjs'), RUNNER);
  fs.writeFileSync(path.join(workDir, 'probe.cjs'), MODULE_PROBE);
  fs.writeFileSync(path.join(workDir, 'authorizer-probe.cjs'), AUTHORIZER_PROBE);
}, 180_000);

afterAll(() => {
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  if (synth) removeSynthOutputs(synth.assemblyDir);
});

it('the layer holds the bundled package and its migrations', () => {
  const pkgDir = path.join(optNodeModules, '@chatbot', 'shared');
  expect(JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'))).toEqual({ name: '@chatbot/shared', main: 'dist/index.js' });
  expect(fs.existsSync(path.join(pkgDir, 'dist', 'index.js'))).toBe(true);
  const shipped = fs.readdirSync(path.join(pkgDir, 'migrations')).sort();
  const source = fs.readdirSync(path.join(REPO_ROOT, 'layer', 'migrations')).filter((f) => f.endsWith('.sql')).sort();
  expect(shipped).toEqual(source);
  expect(source.length).toBeGreaterThan(0);
});

it('the handler bundles leave @chatbot/shared to the layer', () => {
  for (const name of ['GetConversation', 'ListConversations', 'PostConversation', 'Migrate']) {
    const code = fs.readFileSync(functionBundle(name), 'utf8');
    expect(code).toMatch(/require\(["']@chatbot\/shared["']\)/);
    // The layer's SQL lives only in the layer, never in a handler bundle.
    expect(code).not.toMatch(/CREATE TABLE/i);
  }
});

it('the layer verifies an OIDC token with its lazily bundled jose, as the authMode=oidc authorizer runs it', () => {
  const result = runInLambdaLayout('authorizer-probe.cjs', []);
  expect(result.allowed).toMatchObject({ principalId: 'pkg-user', context: { sub: 'pkg-user' } });
  expect(result.allowed.policyDocument.Statement[0]).toMatchObject({ Effect: 'Allow', Resource: 'arn:aws:execute-api:us-east-1:123456789012:api/v1/*' });
  expect(result.refused).toBe('Unauthorized');
  expect(result.jwksFetches).toBe(1);
  expect(result.loaded).toBe(true);
}, 60_000);

it('the deployed migrate handler finds the migrations inside the layer', () => {
  const { node, result } = invoke(functionBundle('Migrate'), {});
  expect(node).toMatch(/^v24\./);
  // Global setup already migrated this database: nothing pending, and no error finding the files.
  expect(result).toEqual({ applied: [], appRoleLoginCreated: false });
}, 60_000);

it('the deployed get-conversation bundle answers an API Gateway event with a JSON 404', () => {
  const conversationId = randomUUID();
  const userId = `packaging-${randomUUID()}`;
  const resource = '/backend-api/conversation/{conversation_id}';
  const event = {
    resource,
    path: `/backend-api/conversation/${conversationId}`,
    httpMethod: 'GET',
    headers: { Accept: 'application/json', Origin: 'https://chat.example.com' },
    multiValueHeaders: { Accept: ['application/json'], Origin: ['https://chat.example.com'] },
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: { conversation_id: conversationId },
    stageVariables: null,
    body: null,
    isBase64Encoded: false,
    requestContext: {
      accountId: '123456789012',
      apiId: 'abcdef1234',
      resourceId: 'res123',
      resourcePath: resource,
      httpMethod: 'GET',
      path: `/dev/backend-api/conversation/${conversationId}`,
      stage: 'dev',
      protocol: 'HTTP/1.1',
      requestId: randomUUID(),
      requestTimeEpoch: Date.now(),
      domainName: 'abcdef1234.execute-api.us-east-1.amazonaws.com',
      identity: { sourceIp: '127.0.0.1', userAgent: 'packaging-test' },
      authorizer: { claims: { sub: userId, email: 'packaging@example.com' } },
    },
  };

  const { node, result } = invoke(functionBundle('GetConversation'), event);

  expect(node).toMatch(/^v24\./);
  expect(result.statusCode).toBe(404);
  const contentType = Object.entries(result.headers ?? {}).find(([k]) => k.toLowerCase() === 'content-type')?.[1];
  expect(String(contentType)).toMatch(/application\/json/);
  expect(JSON.parse(result.body)).toEqual({ detail: expect.objectContaining({ code: 'conversation_not_found' }) });
}, 60_000);

describe('each function loads only the SDKs it uses', () => {
  const closedEndpoint = 'http://127.0.0.1:9';

  it('get-conversation and list-conversations load no model provider SDK and no Secrets Manager client', () => {
    for (const name of ['GetConversation', 'ListConversations']) {
      expect(runInLambdaLayout('probe.cjs', [functionBundle(name)])).toEqual({ atImport: [], afterStream: [] });
    }
  });

  it('post-conversation on Bedrock loads the Bedrock client when it streams, never the OpenAI SDK', () => {
    const result = runInLambdaLayout('probe.cjs', [functionBundle('PostConversation'), 'stream'], {
      LLM_PROVIDER: 'bedrock',
      AWS_ENDPOINT_URL_BEDROCK_RUNTIME: closedEndpoint,
      AWS_ACCESS_KEY_ID: 'AKIDPACKAGINGTEST',
      AWS_SECRET_ACCESS_KEY: 'packaging-test',
    });
    expect(result.atImport).toEqual([]);
    expect(result.afterStream).toContain('client-bedrock-runtime');
    expect(result.afterStream).not.toContain('openai');
    // It got as far as the network: the SDK's exports resolved through the vendor bundle.
    expect(result.failure).toMatchObject({ code: 'model_error', cause: expect.stringMatching(/ECONNREFUSED|ERR_HTTP2|socket/i) });
  }, 60_000);

  it('post-conversation on an OpenAI-compatible endpoint loads the OpenAI SDK, never the Bedrock client', () => {
    const result = runInLambdaLayout('probe.cjs', [functionBundle('PostConversation'), 'stream'], {
      LLM_PROVIDER: 'openai',
      OPENAI_BASE_URL: closedEndpoint,
      OPENAI_API_KEY: 'packaging-test',
    });
    expect(result.atImport).toEqual([]);
    expect(result.afterStream).toContain('openai');
    expect(result.afterStream).not.toContain('client-bedrock-runtime');
    expect(result.failure).toMatchObject({ code: 'model_error', cause: expect.stringMatching(/Connection error|ECONNREFUSED/i) });
  }, 60_000);
});
