/**
 * Cold start: the artifacts as the stack ships them (the layer from scripts/build-layer.ts,
 * each handler minified with `@chatbot/shared` external) and the time a fresh Node process
 * takes to `require` them, import to ready — the part of a Lambda cold start the code controls.
 * Each child also counts socket connects and DNS lookups during and right after the import:
 * a handler must not touch the network before its first request.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildSync } from 'esbuild';
import { LAZY_SDKS } from '../scripts/build-layer';
import { DATABASE_URL, REDIS_URL, REPO_ROOT, RUN_ID } from './env';
import { median } from './stats';

export const HANDLERS = ['get-conversation', 'list-conversations', 'post-conversation'] as const;
export type HandlerName = (typeof HANDLERS)[number];

// Outside the repository: a node_modules up the tree would let `@chatbot/shared` resolve to the
// workspace's TypeScript source instead of the layer, as it never can on Lambda.
const OUT_DIR = path.join(os.tmpdir(), `chatbot-bench-${RUN_ID}`);
const LAYER_DIR = path.join(OUT_DIR, 'layer');
const LAYER_NODE_PATH = path.join(LAYER_DIR, 'nodejs', 'node_modules');
/** The layer's entry as shipped. */
export const LAYER_ENTRY = path.join(LAYER_NODE_PATH, '@chatbot', 'shared', 'dist', 'index.js');
/**
 * The layer's testing entry (`layer/src/testing.ts`: the shipped code plus its internals and
 * counters), bundled with the layer's own esbuild options: the herd measurement loads isolated
 * copies of it, as several containers would each load the layer.
 */
export const LAYER_TESTING_ENTRY = path.join(OUT_DIR, 'layer-testing', 'index.js');
/** The Secrets Manager client as the layer ships it: loaded on a deployed function's first request. */
const SECRETS_MANAGER_ENTRY = path.join(LAYER_NODE_PATH, '@chatbot', 'shared', 'node_modules', '@aws-sdk', 'client-secrets-manager', 'index.js');
const handlerBundle = (name: HandlerName) => path.join(OUT_DIR, 'handlers', name, 'index.js');
/** ioredis + pg alone, bundled the same way: the floor any handler using both must pay. */
const FLOOR_BUNDLE = path.join(OUT_DIR, 'floor', 'index.js');

export interface ArtifactSize {
  readonly bytes: number;
  readonly gzipBytes: number;
}

export interface ColdStartResult {
  readonly layer: ArtifactSize & { readonly builtWith: string };
  readonly handlers: Record<HandlerName, ArtifactSize>;
  /** Median over `runs` fresh processes, in ms. */
  readonly init: Record<HandlerName, { readonly layerRequireMs: number; readonly handlerRequireMs: number; readonly totalRequireMs: number; readonly sinceProcessStartMs: number }>;
  readonly layerOnlyRequireMs: number;
  /** The ioredis + pg floor bundle, required alone (median). */
  readonly floor: ArtifactSize & { readonly requireMs: number };
  /** get-conversation plus the Secrets Manager client (a deployed function's first request), median. */
  readonly getWithSecretsManagerMs: number;
  readonly secretsManager: ArtifactSize;
  /** Lazily loaded SDK files that were in the module cache right after each handler's import (must be none). */
  readonly sdksAtImport: Record<HandlerName, readonly string[]>;
  readonly runs: number;
  /** Sockets opened or names resolved during import, summed over every child (must be 0). */
  readonly networkEvents: number;
  /** TCP handles alive right after import, summed over every child (must be 0). */
  readonly openTcpHandles: number;
  /** The same counters in a child that opens one connection on purpose (must be ≥ 1 each). */
  readonly control: { readonly networkEvents: number; readonly openTcpHandles: number };
}

const sizeOf = (file: string): ArtifactSize => ({ bytes: statSync(file).size, gzipBytes: gzipSync(readFileSync(file)).length });

let built = false;

/** Builds the layer (as the stack does), the handlers and the floor bundle once per run. */
export function buildArtifacts(): string {
  if (built) return 'scripts/build-layer.ts';
  built = true;
  rmSync(OUT_DIR, { recursive: true, force: true });
  // The stack's own layer build (CDK local bundling calls the same function); run as a script
  // because it locates the repository from its own file.
  execFileSync(process.execPath, [path.join(REPO_ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), path.join(REPO_ROOT, 'scripts', 'build-layer.ts'), LAYER_DIR], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  buildSync({
    entryPoints: [path.join(REPO_ROOT, 'layer', 'src', 'testing.ts')],
    outfile: LAYER_TESTING_ENTRY,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    minify: true,
    external: ['pg-native', ...LAZY_SDKS],
    supported: { 'dynamic-import': false },
    absWorkingDir: REPO_ROOT,
    logLevel: 'warning',
  });
  for (const name of HANDLERS) {
    // lib/functions.ts HANDLER_BUNDLING: minified CJS for node24, the layer external.
    buildSync({
      entryPoints: [path.join(REPO_ROOT, 'lambdas', name, 'index.ts')],
      outfile: handlerBundle(name),
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node24',
      minify: true,
      external: ['@chatbot/shared'],
      absWorkingDir: REPO_ROOT,
      logLevel: 'warning',
    });
  }
  buildSync({
    stdin: { contents: "require('ioredis'); require('pg');", resolveDir: REPO_ROOT, loader: 'js' },
    outfile: FLOOR_BUNDLE,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    minify: true,
    external: ['pg-native'],
    absWorkingDir: REPO_ROOT,
    logLevel: 'warning',
  });
  return 'scripts/build-layer.ts';
}

/**
 * Runs in the child (plain JS, Node 24). The awslambda stub stands in for the runtime's
 * global, which the streaming handler's middy wrapper calls at load.
 */
const CHILD_SCRIPT = `
const net = require('node:net');
const dns = require('node:dns');
let networkEvents = 0;
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) { networkEvents += 1; return connect.apply(this, args); };
const lookup = dns.lookup;
dns.lookup = function (...args) { networkEvents += 1; return lookup.apply(this, args); };
globalThis.awslambda = { streamifyResponse: (handler) => handler, HttpResponseStream: { from: (stream) => stream } };
const [layerEntry, handlerFile, extraFile] = process.argv.slice(1);
const t0 = performance.now();
require(layerEntry);
const t1 = performance.now();
if (handlerFile) {
  const loaded = require(handlerFile);
  if (typeof loaded.handler !== 'function') throw new Error('no handler export in ' + handlerFile);
}
const sdks = Object.keys(require.cache).filter((file) => /[\\/]@chatbot[\\/]shared[\\/]node_modules[\\/]/.test(file)).map((file) => file.split('node_modules').pop());
if (extraFile) require(extraFile);
const t2 = performance.now();
// The detector's positive control: a deliberate connection must be seen.
if (process.env.BENCH_CONTROL_CONNECT) net.connect(Number(process.env.BENCH_CONTROL_CONNECT), '127.0.0.1').on('error', () => undefined);
setTimeout(() => {
  // TCPSocketWrap / TCPServerWrap / GetAddrInfoReqWrap; the stdio pipes to the parent are not network.
  const openTcpHandles = process.getActiveResourcesInfo().filter((kind) => /^TCP|GetAddrInfo/.test(kind)).length;
  process.stdout.write(JSON.stringify({ layerRequireMs: t1 - t0, handlerRequireMs: t2 - t1, totalRequireMs: t2 - t0, sinceProcessStartMs: t2, networkEvents, openTcpHandles, sdks }));
  process.exit(0);
}, 50);
`;

interface ChildResult {
  layerRequireMs: number;
  handlerRequireMs: number;
  totalRequireMs: number;
  sinceProcessStartMs: number;
  networkEvents: number;
  openTcpHandles: number;
  sdks: string[];
}

function runChild(handlerFile?: string, controlPort?: number, options: { entry?: string; extra?: string } = {}): ChildResult {
  const args = [options.entry ?? LAYER_ENTRY, ...(handlerFile || options.extra ? [handlerFile ?? ''] : []), ...(options.extra ? [options.extra] : [])];
  const output = execFileSync(process.execPath, ['-e', CHILD_SCRIPT, ...args], {
    cwd: OUT_DIR,
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH,
      // Where the Lambda runtime finds layers' packages.
      NODE_PATH: LAYER_NODE_PATH,
      // What the stack sets; the config is parsed at import, so it must be valid — but nothing may connect yet.
      DATABASE_URL,
      REDIS_URL,
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      AWS_REGION: 'us-east-1',
      ...(controlPort ? { BENCH_CONTROL_CONNECT: String(controlPort) } : {}),
    },
  });
  return JSON.parse(output) as ChildResult;
}

export function removeArtifacts(): void {
  rmSync(OUT_DIR, { recursive: true, force: true });
}

export function measureColdStart(runs = 7): ColdStartResult {
  const builtWith = buildArtifacts();
  let networkEvents = 0;
  let openTcpHandles = 0;
  const record = (result: ChildResult) => {
    networkEvents += result.networkEvents;
    openTcpHandles += result.openTcpHandles;
    return result;
  };
  const layerOnly: number[] = [];
  const floor: number[] = [];
  const withSecrets: number[] = [];
  const sdksAtImport = Object.fromEntries(HANDLERS.map((name) => [name, [] as string[]])) as Record<HandlerName, string[]>;
  const perHandler = new Map<HandlerName, ChildResult[]>(HANDLERS.map((name) => [name, []]));
  // Interleaved, like the latency figures: a noisy second hits every handler alike.
  for (let run = 0; run < runs + 1; run += 1) {
    const warm = run === 0; // the first spawn also warms the OS file cache
    const only = record(runChild());
    if (!warm) layerOnly.push(only.layerRequireMs);
    const floorRun = record(runChild(undefined, undefined, { entry: FLOOR_BUNDLE }));
    if (!warm) floor.push(floorRun.layerRequireMs);
    for (const name of HANDLERS) {
      const result = record(runChild(handlerBundle(name)));
      if (!warm) perHandler.get(name)?.push(result);
      for (const sdk of result.sdks) if (!sdksAtImport[name].includes(sdk)) sdksAtImport[name].push(sdk);
    }
    const secrets = record(runChild(handlerBundle('get-conversation'), undefined, { extra: SECRETS_MANAGER_ENTRY }));
    if (!warm) withSecrets.push(secrets.totalRequireMs);
  }
  const init = Object.fromEntries(
    HANDLERS.map((name) => {
      const results = perHandler.get(name) ?? [];
      return [
        name,
        {
          layerRequireMs: median(results.map((r) => r.layerRequireMs)),
          handlerRequireMs: median(results.map((r) => r.handlerRequireMs)),
          totalRequireMs: median(results.map((r) => r.totalRequireMs)),
          sinceProcessStartMs: median(results.map((r) => r.sinceProcessStartMs)),
        },
      ];
    }),
  ) as ColdStartResult['init'];
  const control = runChild(handlerBundle('get-conversation'), Number(new URL(REDIS_URL).port || 6379));
  return {
    control: { networkEvents: control.networkEvents, openTcpHandles: control.openTcpHandles },
    layer: { ...sizeOf(LAYER_ENTRY), builtWith },
    handlers: Object.fromEntries(HANDLERS.map((name) => [name, sizeOf(handlerBundle(name))])) as Record<HandlerName, ArtifactSize>,
    init,
    layerOnlyRequireMs: median(layerOnly),
    floor: { ...sizeOf(FLOOR_BUNDLE), requireMs: median(floor) },
    getWithSecretsManagerMs: median(withSecrets),
    secretsManager: sizeOf(SECRETS_MANAGER_ENTRY),
    sdksAtImport,
    runs,
    networkEvents,
    openTcpHandles,
  };
}
