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
import { DATABASE_URL, REDIS_URL, REPO_ROOT, RUN_ID } from './env';
import { median } from './stats';

export const HANDLERS = ['get-conversation', 'list-conversations', 'post-conversation'] as const;
export type HandlerName = (typeof HANDLERS)[number];

// Outside the repository: a node_modules up the tree would let `@chatbot/shared` resolve to the
// workspace's TypeScript source instead of the layer, as it never can on Lambda.
const OUT_DIR = path.join(os.tmpdir(), `chatbot-bench-${RUN_ID}`);
const LAYER_DIR = path.join(OUT_DIR, 'layer');
const LAYER_NODE_PATH = path.join(LAYER_DIR, 'nodejs', 'node_modules');
const LAYER_ENTRY = path.join(LAYER_NODE_PATH, '@chatbot', 'shared', 'dist', 'index.js');
const handlerBundle = (name: HandlerName) => path.join(OUT_DIR, 'handlers', name, 'index.js');

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
  readonly runs: number;
  /** Sockets opened or names resolved during import, summed over every child (must be 0). */
  readonly networkEvents: number;
  /** TCP handles alive right after import, summed over every child (must be 0). */
  readonly openTcpHandles: number;
  /** The same counters in a child that opens one connection on purpose (must be ≥ 1 each). */
  readonly control: { readonly networkEvents: number; readonly openTcpHandles: number };
}

const sizeOf = (file: string): ArtifactSize => ({ bytes: statSync(file).size, gzipBytes: gzipSync(readFileSync(file)).length });

function buildArtifacts(): string {
  rmSync(OUT_DIR, { recursive: true, force: true });
  // The stack's own layer build (CDK local bundling calls the same function); run as a script
  // because it locates the repository from its own file.
  execFileSync(process.execPath, [path.join(REPO_ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), path.join(REPO_ROOT, 'scripts', 'build-layer.ts'), LAYER_DIR], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
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
const [layerEntry, handlerFile] = process.argv.slice(1);
const t0 = performance.now();
require(layerEntry);
const t1 = performance.now();
if (handlerFile) {
  const loaded = require(handlerFile);
  if (typeof loaded.handler !== 'function') throw new Error('no handler export in ' + handlerFile);
}
const t2 = performance.now();
// The detector's positive control: a deliberate connection must be seen.
if (process.env.BENCH_CONTROL_CONNECT) net.connect(Number(process.env.BENCH_CONTROL_CONNECT), '127.0.0.1').on('error', () => undefined);
setTimeout(() => {
  // TCPSocketWrap / TCPServerWrap / GetAddrInfoReqWrap; the stdio pipes to the parent are not network.
  const openTcpHandles = process.getActiveResourcesInfo().filter((kind) => /^TCP|GetAddrInfo/.test(kind)).length;
  process.stdout.write(JSON.stringify({ layerRequireMs: t1 - t0, handlerRequireMs: t2 - t1, totalRequireMs: t2 - t0, sinceProcessStartMs: t2, networkEvents, openTcpHandles }));
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
}

function runChild(handlerFile?: string, controlPort?: number): ChildResult {
  const output = execFileSync(process.execPath, ['-e', CHILD_SCRIPT, LAYER_ENTRY, ...(handlerFile ? [handlerFile] : [])], {
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
  const perHandler = new Map<HandlerName, ChildResult[]>(HANDLERS.map((name) => [name, []]));
  // Interleaved, like the latency figures: a noisy second hits every handler alike.
  for (let run = 0; run < runs + 1; run += 1) {
    const warm = run === 0; // the first spawn also warms the OS file cache
    const only = record(runChild());
    if (!warm) layerOnly.push(only.layerRequireMs);
    for (const name of HANDLERS) {
      const result = record(runChild(handlerBundle(name)));
      if (!warm) perHandler.get(name)?.push(result);
    }
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
    runs,
    networkEvents,
    openTcpHandles,
  };
}
