/**
 * Throwaway `redis-server` processes the fault tests own: they can be killed, paused
 * (SIGSTOP), restarted on the same port, filled, or joined into a cluster. Every process
 * started here is remembered, so `stopAllRedisServers()` in an afterAll stops them even when
 * a test failed half-way.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

const REDIS_SERVER = '/usr/bin/redis-server';
const REDIS_CLI = '/usr/bin/redis-cli';

const running = new Set<RedisServer>();
const tempDirs = new Set<string>();

/** A port nobody listens on right now (the kernel picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends one inline command and resolves with the first reply line, or rejects within `timeoutMs`. */
export function sendInlineCommand(port: number, command: string, timeoutMs = 500): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    let reply = '';
    const timer = setTimeout(() => finish(new Error(`no reply from :${port} within ${timeoutMs} ms`)), timeoutMs);
    function finish(error?: Error) {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(reply.split('\r\n')[0]);
    }
    socket.once('error', (error) => finish(error));
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      if (reply.includes('\r\n')) finish();
    });
    socket.connect(port, '127.0.0.1', () => socket.write(`${command}\r\n`));
  });
}

/** Options of {@link startRedisServer}. */
export interface RedisServerOptions {
  /** @default a free port */
  readonly port?: number;
  /** Extra `redis-server` arguments, e.g. `['--maxmemory', '1mb']`. @default [] */
  readonly args?: readonly string[];
}

export class RedisServer {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    readonly port: number,
    private readonly args: readonly string[],
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts the process and resolves once it answers PING. */
  async start(): Promise<void> {
    const child = spawn(
      REDIS_SERVER,
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no', ...this.args],
      // A replica writes the RDB a full sync sends it into its working directory: never the repository's.
      { stdio: ['ignore', 'ignore', 'pipe'], cwd: tmpdir() },
    );
    this.child = child;
    running.add(this);
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    let stderr = '';
    child.stderr?.on('data', (chunk) => (stderr += String(chunk)));
    const deadline = Date.now() + 5000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`redis-server on :${this.port} exited: ${stderr}`);
      try {
        if ((await sendInlineCommand(this.port, 'PING', 200)) === '+PONG') return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`redis-server on :${this.port} did not answer PING within 5 s`);
      await sleep(25);
    }
  }

  /** SIGKILL: the connection drops, nothing is flushed, as when a node dies. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    await this.exited;
    running.delete(this);
  }

  /** SIGSTOP: connections stay open but nothing answers (a hung or overloaded node). */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  /** Runs `redis-cli` against this server and returns its stdout. */
  cli(...args: string[]): string {
    const result = spawnSync(REDIS_CLI, ['-p', String(this.port), ...args], { encoding: 'utf8', timeout: 30_000 });
    if (result.status !== 0) throw new Error(`redis-cli ${args.join(' ')} failed: ${result.stderr}`);
    return result.stdout;
  }
}

/** Starts a standalone server on a free (or given) port. */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const server = new RedisServer(options.port ?? (await freePort()), options.args ?? []);
  await server.start();
  return server;
}

/** A local 3-primary Redis Cluster, formed with `redis-cli --cluster create`. */
export interface RedisClusterHandle {
  readonly nodes: readonly RedisServer[];
  /** The seed URL the layer is given (first node). */
  readonly url: string;
}

export async function startRedisCluster(
  primaries = 3,
  options: { readonly replicas?: number; readonly nodeTimeoutMs?: number; /** false: the other shards serve while one has no primary (ElastiCache's setting). @default true */ readonly requireFullCoverage?: boolean } = {},
): Promise<RedisClusterHandle> {
  const dir = mkdtempSync(path.join(tmpdir(), 'chatbot-redis-cluster-'));
  tempDirs.add(dir);
  const replicas = options.replicas ?? 0;
  const nodes: RedisServer[] = [];
  for (let i = 0; i < primaries * (1 + replicas); i += 1) {
    const port = await freePort();
    nodes.push(
      await startRedisServer({
        port,
        args: [
          '--cluster-enabled', 'yes', '--cluster-config-file', path.join(dir, `nodes-${port}.conf`), '--dir', dir,
          '--cluster-node-timeout', String(options.nodeTimeoutMs ?? 5000),
          '--cluster-require-full-coverage', options.requireFullCoverage === false ? 'no' : 'yes',
          // Replicas sync at once (the default waits 5 s for more replicas to share the transfer).
          '--repl-diskless-sync-delay', '0',
        ],
      }),
    );
  }
  nodes[0].cli('--cluster', 'create', ...nodes.map((node) => `127.0.0.1:${node.port}`), '--cluster-replicas', String(replicas), '--cluster-yes');
  const deadline = Date.now() + 15_000;
  // Up, and every replica in sync: a replica that never synced cannot take over its primary.
  const ready = (node: RedisServer) =>
    node.cli('cluster', 'info').includes('cluster_state:ok') && !node.cli('info', 'replication').includes('master_link_status:down');
  while (!nodes.every(ready)) {
    if (Date.now() > deadline) throw new Error('the Redis Cluster did not reach cluster_state:ok with its replicas in sync within 15 s');
    await sleep(100);
  }
  return { nodes, url: nodes[0].url };
}

/** Stops every server started by this module (afterAll). */
export async function stopAllRedisServers(): Promise<void> {
  await Promise.all([...running].map((server) => server.kill()));
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}
