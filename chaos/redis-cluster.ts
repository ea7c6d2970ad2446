/**
 * A private Redis Cluster for one chaos run: 3 primaries with 1 replica each, every node a
 * `redis-server` on a free loopback port with a short `cluster-node-timeout`, formed with
 * CLUSTER MEET / ADDSLOTSRANGE / REPLICATE. Clients reach each node through its proxy (see
 * proxy-host.ts); the orchestrator's own control commands (CLUSTER NODES, SETSLOT, MIGRATE)
 * go to the nodes directly.
 *
 * `cluster-require-full-coverage no`, as ElastiCache's cluster-mode parameter groups set it:
 * while a primary is down, the slots of the other primaries keep being served.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import type { Resources } from './cleanup';
import { ProxyHost } from './proxy-host';
import { freePort } from '../test/reliability/support/redis-server';

const REDIS_SERVER = process.env.CHAOS_REDIS_SERVER ?? '/usr/bin/redis-server';
const SLOTS = 16384;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// Hash slots (CRC16/XMODEM of the key or of its {hash tag}), to find which node holds a key.

const CRC_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i += 1) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit += 1) crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
    table[i] = crc & 0xffff;
  }
  return table;
})();

export function keySlot(key: string): number {
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) key = key.slice(open + 1, close);
  }
  let crc = 0;
  for (const byte of Buffer.from(key, 'utf8')) crc = ((crc << 8) ^ CRC_TABLE[((crc >> 8) ^ byte) & 0xff]) & 0xffff;
  return crc % SLOTS;
}

// ---------------------------------------------------------------------------------------------

export class RedisNode {
  private child: ChildProcess | undefined;
  private control: Redis | undefined;
  private paused = false;

  constructor(
    readonly index: number,
    readonly port: number,
    readonly busPort: number,
    readonly proxyPort: number,
    private readonly dir: string,
    private readonly nodeTimeoutMs: number,
  ) {}

  get alive(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get responsive(): boolean {
    return this.alive && !this.paused;
  }

  /** Starts (or restarts, keeping its nodes.conf: it rejoins as what the cluster says it is) and waits for PING. */
  async start(resources: Resources): Promise<void> {
    const child = spawn(
      REDIS_SERVER,
      [
        '--port', String(this.port),
        '--bind', '127.0.0.1',
        '--protected-mode', 'no',
        '--save', '',
        '--appendonly', 'no',
        '--dir', this.dir,
        '--logfile', path.join(this.dir, `redis-${this.index}.log`),
        '--cluster-enabled', 'yes',
        '--cluster-config-file', path.join(this.dir, `nodes-${this.index}.conf`),
        '--cluster-node-timeout', String(this.nodeTimeoutMs),
        '--cluster-port', String(this.busPort),
        '--cluster-announce-ip', '127.0.0.1',
        '--cluster-announce-port', String(this.proxyPort),
        '--cluster-announce-bus-port', String(this.busPort),
        '--cluster-require-full-coverage', 'no',
        // A restarted node resyncs from its new primary at once instead of after the default 5 s.
        '--repl-diskless-sync', 'yes',
        '--repl-diskless-sync-delay', '0',
      ],
      { detached: true, stdio: 'ignore' },
    );
    this.child = child;
    this.paused = false;
    resources.trackProcess(child, `redis-server :${this.port}`);
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (!this.alive) throw new Error(`redis-server :${this.port} exited at start (see ${this.dir}/redis-${this.index}.log)`);
      try {
        if ((await this.call('PING')) === 'PONG') return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`redis-server :${this.port} did not answer PING within 10 s`);
      await sleep(50);
    }
  }

  /** SIGKILL: the node is gone at once, nothing flushed, as when its host dies. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || !this.alive) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    await exited;
    this.paused = false;
  }

  /** SIGSTOP: connections stay open but nothing answers, not even the cluster bus. */
  pause(): void {
    this.child?.kill('SIGSTOP');
    this.paused = true;
  }

  resume(): void {
    this.child?.kill('SIGCONT');
    this.paused = false;
  }

  /** One control command, straight to the node (not through its proxy). */
  async call(...args: (string | number)[]): Promise<unknown> {
    if (!this.control) {
      this.control = new Redis({ host: '127.0.0.1', port: this.port, connectTimeout: 1000, commandTimeout: 3000, maxRetriesPerRequest: 1, retryStrategy: () => 200 });
      // A killed or paused node makes this connection fail; the caller sees the command fail.
      this.control.on('error', () => undefined);
    }
    const [command, ...rest] = args;
    return this.control.call(String(command), ...rest.map(String));
  }

  disconnect(): void {
    this.control?.disconnect();
    this.control = undefined;
  }
}

/** A node as one cluster member sees it (CLUSTER NODES). */
export interface NodeView {
  readonly index: number;
  readonly id: string;
  readonly primary: boolean;
  readonly masterId: string | undefined;
  /** Flagged `fail` or `fail?` by the node whose view this is. */
  readonly failing: boolean;
  readonly linkConnected: boolean;
  readonly slots: readonly (readonly [number, number])[];
}

export interface Topology {
  readonly nodes: readonly NodeView[];
  /** Node index owning each slot, -1 when none. */
  readonly owner: Int16Array;
  byId(id: string): NodeView | undefined;
  /** Primaries that own slots, by index. */
  primaries(): NodeView[];
}

function parseClusterNodes(text: string, indexByPort: ReadonlyMap<number, number>): Topology {
  const nodes: NodeView[] = [];
  const owner = new Int16Array(SLOTS).fill(-1);
  for (const line of text.split('\n')) {
    const fields = line.trim().split(' ');
    if (fields.length < 8) continue;
    const [id, address, flags, master, , , , link, ...slotFields] = fields;
    const port = Number(/:(\d+)@/.exec(address)?.[1]);
    const index = indexByPort.get(port);
    if (index === undefined) continue;
    const flagSet = new Set(flags.split(','));
    const slots: [number, number][] = [];
    for (const field of slotFields) {
      if (field.startsWith('[')) continue; // importing/migrating markers
      const [start, end = start] = field.split('-').map(Number);
      slots.push([start, end]);
      for (let slot = start; slot <= end; slot += 1) owner[slot] = index;
    }
    nodes.push({
      index,
      id,
      primary: flagSet.has('master'),
      masterId: master === '-' ? undefined : master,
      failing: flagSet.has('fail') || flagSet.has('fail?'),
      linkConnected: link === 'connected',
      slots,
    });
  }
  return {
    nodes,
    owner,
    byId: (id) => nodes.find((node) => node.id === id),
    primaries: () => nodes.filter((node) => node.primary && node.slots.length > 0),
  };
}

export class ChaosCluster {
  private constructor(
    readonly nodes: readonly RedisNode[],
    readonly proxies: ProxyHost,
    private readonly resources: Resources,
  ) {}

  /** What the app is given: the first node's proxy, as a configuration endpoint. */
  get seedUrl(): string {
    return `redis://127.0.0.1:${this.nodes[0].proxyPort}`;
  }

  static async start(entry: string, resources: Resources, options: { nodeTimeoutMs: number; primaries?: number }): Promise<ChaosCluster> {
    const primaries = options.primaries ?? 3;
    const dir = mkdtempSync(path.join(tmpdir(), 'chatbot-chaos-redis-'));
    resources.trackDirectory(dir);
    const proxies = ProxyHost.start(entry, resources);
    const nodes: RedisNode[] = [];
    for (let i = 0; i < primaries * 2; i += 1) {
      nodes.push(new RedisNode(i, await freePort(), await freePort(), await freePort(), dir, options.nodeTimeoutMs));
    }
    for (const node of nodes) await proxies.add(node.proxyPort, node.port);
    await Promise.all(nodes.map((node) => node.start(resources)));
    const cluster = new ChaosCluster(nodes, proxies, resources);
    resources.onCleanup('redis control connections', () => nodes.forEach((node) => node.disconnect()));

    for (const node of nodes.slice(1)) await nodes[0].call('CLUSTER', 'MEET', '127.0.0.1', node.proxyPort, node.busPort);
    const perPrimary = Math.ceil(SLOTS / primaries);
    for (let i = 0; i < primaries; i += 1) {
      await nodes[i].call('CLUSTER', 'ADDSLOTSRANGE', i * perPrimary, Math.min(SLOTS, (i + 1) * perPrimary) - 1);
    }
    await cluster.until('every node knows the other five', 20_000, async () => {
      for (const node of nodes) if ((await cluster.viewOf(node)).nodes.length < nodes.length) return false;
      return true;
    });
    const ids = await Promise.all(nodes.map(async (node) => String(await node.call('CLUSTER', 'MYID'))));
    for (let i = 0; i < primaries; i += 1) await nodes[primaries + i].call('CLUSTER', 'REPLICATE', ids[i]);
    if (!(await cluster.waitHealthy(30_000))) throw new Error('the Redis Cluster did not become healthy within 30 s');

    // The slot function must agree with the server's, or "the hottest slot" would be a guess.
    for (const key of ['conv:0b7c1d4e-0000-4000-8000-000000000000:history', 'user:chaos-user-1:conversation_list', 'stream:{abc}:current']) {
      const expected = Number(await nodes[0].call('CLUSTER', 'KEYSLOT', key));
      if (keySlot(key) !== expected) throw new Error(`keySlot(${key}) = ${keySlot(key)}, Redis says ${expected}`);
    }
    return cluster;
  }

  private indexByPort(): Map<number, number> {
    return new Map(this.nodes.map((node) => [node.proxyPort, node.index]));
  }

  private async viewOf(node: RedisNode): Promise<Topology> {
    return parseClusterNodes(String(await node.call('CLUSTER', 'NODES')), this.indexByPort());
  }

  /** The cluster as a responsive primary sees it (falling back to any responsive node). */
  async topology(): Promise<Topology> {
    let fallback: Topology | undefined;
    for (const node of this.nodes) {
      if (!node.responsive) continue;
      try {
        const view = await this.viewOf(node);
        if (view.nodes.find((n) => n.index === node.index)?.primary) return view;
        fallback ??= view;
      } catch {
        // try the next one
      }
    }
    if (!fallback) throw new Error('no Redis node answers CLUSTER NODES');
    return fallback;
  }

  /** The node every responsive node says owns `slot`, once they agree; undefined while they do not. */
  async agreedOwner(slot: number): Promise<number | undefined> {
    const owners = new Set<number>();
    for (const node of this.nodes) {
      if (!node.responsive) continue;
      try {
        owners.add((await this.viewOf(node)).owner[slot]);
      } catch {
        return undefined;
      }
    }
    const [owner] = owners;
    return owners.size === 1 && owner >= 0 ? owner : undefined;
  }

  /**
   * Healthy: every node up and answering, every responsive node says `cluster_state:ok`, 3
   * primaries cover all slots, nobody is flagged failing, and every replica's link to its
   * primary is up (so a failover has something to promote).
   */
  async healthy(): Promise<boolean> {
    try {
      if (!this.nodes.every((node) => node.responsive)) return false;
      for (const node of this.nodes) if (!String(await node.call('CLUSTER', 'INFO')).includes('cluster_state:ok')) return false;
      const view = await this.topology();
      if (view.nodes.some((node) => node.failing) || view.primaries().length !== this.nodes.length / 2) return false;
      if (view.owner.some((owner) => owner < 0)) return false;
      for (const replica of view.nodes.filter((node) => !node.primary)) {
        const info = String(await this.nodes[replica.index].call('INFO', 'replication'));
        if (!info.includes('master_link_status:up')) return false;
      }
      return true;
    } catch {
      return false;
    }
  }

  async waitHealthy(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await this.healthy()) return true;
      await sleep(200);
    }
    return false;
  }

  private async until(what: string, timeoutMs: number, condition: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await condition().catch(() => false)) return;
      await sleep(100);
    }
    throw new Error(`Redis Cluster: ${what} did not happen within ${timeoutMs} ms`);
  }

  /** Restarts a node that was killed; it rejoins from its nodes.conf (as a replica, once it learns it lost its slots). */
  restart(node: RedisNode): Promise<void> {
    return node.start(this.resources);
  }
}
