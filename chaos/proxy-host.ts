/**
 * TCP proxies in front of the Redis Cluster nodes, in a process of their own (the load
 * generator's busy event loop must not add latency of its own to the Redis path). Each node
 * announces its proxy's port (`cluster-announce-port`), so CLUSTER SLOTS, MOVED and ASK send
 * every client through its node's proxy, while the cluster bus (`cluster-announce-bus-port`)
 * stays direct. A proxy adds a delay to every byte its node sends back when told to: the
 * "+50 ms on the Redis path" fault, on exactly one node.
 *
 * Unlike a per-chunk timer, the delay keeps the byte stream in order when it is switched on or
 * off mid-connection: a chunk never leaves before the one received ahead of it.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createServer, Socket } from 'node:net';
import type { Resources } from './cleanup';

class DelayingProxy {
  latencyMs = 0;

  constructor(
    readonly listenPort: number,
    private readonly targetPort: number,
  ) {}

  async listen(): Promise<void> {
    const server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.listenPort, '127.0.0.1', () => resolve());
    });
  }

  private accept(client: Socket): void {
    client.setNoDelay(true);
    client.pause();
    const upstream = new Socket();
    upstream.setNoDelay(true);
    // An error on either side tears both down; a clean end is passed on once what is in flight has been
    // delivered, as a network delivers the bytes a node sent before it died.
    const destroy = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', destroy);
    upstream.on('error', destroy);
    client.on('close', () => upstream.destroy());

    // Chunks from the node, each with the time it may leave; one timer drains them in order.
    const queue: { readonly at: number; readonly chunk: Buffer }[] = [];
    let lastAt = 0;
    let timer: NodeJS.Timeout | undefined;
    let upstreamEnded = false;
    const endIfDrained = () => {
      if (upstreamEnded && queue.length === 0) client.end();
    };
    const drain = () => {
      timer = undefined;
      const now = performance.now();
      while (queue.length > 0 && queue[0].at <= now) client.write(queue.shift()!.chunk);
      if (queue.length > 0) timer = setTimeout(drain, Math.max(0, queue[0].at - now));
      else endIfDrained();
    };
    upstream.on('data', (chunk: Buffer) => {
      const now = performance.now();
      const at = Math.max(now + this.latencyMs, lastAt);
      lastAt = at;
      if (queue.length === 0 && at <= now) {
        client.write(chunk);
        return;
      }
      queue.push({ at, chunk });
      timer ??= setTimeout(drain, Math.max(0, queue[0].at - now));
    });
    upstream.on('close', () => {
      upstreamEnded = true;
      endIfDrained();
    });
    upstream.connect(this.targetPort, '127.0.0.1', () => {
      client.pipe(upstream);
      client.resume();
    });
  }
}

type ProxyRequest =
  | { readonly id: number; readonly type: 'add'; readonly listenPort: number; readonly targetPort: number }
  | { readonly id: number; readonly type: 'latency'; readonly listenPort: number; readonly ms: number };

/** The proxy process: obeys add/latency requests from the orchestrator; exits when it goes away. */
export function runProxyHost(): void {
  const proxies = new Map<number, DelayingProxy>();
  process.on('message', async (request: ProxyRequest) => {
    try {
      if (request.type === 'add') {
        const proxy = new DelayingProxy(request.listenPort, request.targetPort);
        await proxy.listen();
        proxies.set(request.listenPort, proxy);
      } else {
        const proxy = proxies.get(request.listenPort);
        if (!proxy) throw new Error(`no proxy on :${request.listenPort}`);
        proxy.latencyMs = request.ms;
      }
      process.send?.({ id: request.id, ok: true });
    } catch (error) {
      process.send?.({ id: request.id, ok: false, error: (error as Error).message });
    }
  });
  process.on('disconnect', () => process.exit(0));
}

/** The orchestrator's handle on the proxy process. */
export class ProxyHost {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (reply: { id: number; ok: boolean; error?: string }) => {
      const waiter = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if (reply.ok) waiter?.resolve();
      else waiter?.reject(new Error(reply.error));
    });
    child.on('exit', () => {
      for (const waiter of this.pending.values()) waiter.reject(new Error('the proxy process exited'));
      this.pending.clear();
    });
  }

  static start(entry: string, resources: Resources): ProxyHost {
    const child = fork(entry, ['--role', 'proxy'], { detached: true, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: ['--enable-source-maps'] });
    resources.trackProcess(child, 'proxy process');
    return new ProxyHost(child);
  }

  private request(body: { type: 'add'; listenPort: number; targetPort: number } | { type: 'latency'; listenPort: number; ms: number }): Promise<void> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ ...body, id });
    });
  }

  add(listenPort: number, targetPort: number): Promise<void> {
    return this.request({ type: 'add', listenPort, targetPort });
  }

  setLatency(listenPort: number, ms: number): Promise<void> {
    return this.request({ type: 'latency', listenPort, ms });
  }
}
