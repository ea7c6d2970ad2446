/**
 * An in-process TCP proxy in front of Postgres that a test can break on purpose:
 * `refuse` closes the listener and resets every open connection (the server is down),
 * `blackhole` accepts new connections and freezes open ones without forwarding a byte (a
 * network partition or a hung server), `forward` heals it. `handshakeDelayMs` holds each new
 * connection's first bytes (a server that takes its time to accept one, like a paused Aurora
 * writer resuming).
 */
import { createServer, Socket, type Server } from 'node:net';

export type ProxyMode = 'forward' | 'refuse' | 'blackhole';

interface Pair {
  readonly client: Socket;
  upstream?: Socket;
}

export class TcpProxy {
  private server: Server | undefined;
  private readonly pairs = new Set<Pair>();
  private currentMode: ProxyMode = 'forward';
  /** Connections accepted since start, for the report. */
  accepted = 0;
  /** Delay added to every chunk the target sends back (a slow network). @default 0 */
  latencyMs = 0;
  /** How long a new connection's first bytes are held before anything is forwarded (a slow accept). @default 0 */
  handshakeDelayMs = 0;

  constructor(
    readonly port: number,
    private target: { readonly host: string; readonly port: number },
  ) {}

  /**
   * Sends new connections to another server; open ones stay where they are — as a DNS name
   * (ElastiCache's primary endpoint) that now names another node does to clients already connected.
   */
  retarget(target: { readonly host: string; readonly port: number }): void {
    this.target = target;
  }

  get mode(): ProxyMode {
    return this.currentMode;
  }

  /** Listens (again) on the same port. */
  async listen(): Promise<void> {
    if (this.server) return;
    const server = createServer((client) => this.accept(client));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
  }

  async setMode(mode: ProxyMode): Promise<void> {
    this.currentMode = mode;
    if (mode === 'refuse') {
      await this.close();
    } else {
      await this.listen();
      // Frozen sockets stay frozen until their owner gives up on them; new ones are forwarded.
      if (mode === 'blackhole') for (const pair of this.pairs) freeze(pair);
    }
  }

  /** Stops listening and resets every open connection. */
  async close(): Promise<void> {
    // server.close() only calls back once every connection is gone, so drop them first.
    const closed = this.closeListener();
    for (const pair of this.pairs) this.drop(pair);
    await closed;
  }

  private accept(client: Socket): void {
    this.accepted += 1;
    const pair: Pair = { client };
    this.pairs.add(pair);
    client.on('error', () => this.drop(pair));
    client.on('close', () => this.drop(pair));
    if (this.currentMode === 'blackhole') {
      // Accept and never answer: the client's connect timeout is the only way out.
      client.pause();
      return;
    }
    if (this.handshakeDelayMs > 0) {
      // Held bytes stay buffered in the paused socket and go out once the target is connected.
      client.pause();
      const timer = setTimeout(() => this.pairs.has(pair) && this.connectUpstream(pair), this.handshakeDelayMs);
      client.once('close', () => clearTimeout(timer));
      return;
    }
    this.connectUpstream(pair);
  }

  private connectUpstream(pair: Pair): void {
    const { client } = pair;
    const upstream = new Socket();
    pair.upstream = upstream;
    upstream.on('error', () => this.drop(pair));
    upstream.on('close', () => this.drop(pair));
    upstream.connect(this.target.port, this.target.host, () => {
      client.pipe(upstream);
      upstream.on('data', (chunk: Buffer) => {
        if (this.latencyMs === 0) client.write(chunk);
        // Equal delays fire in order, so the byte stream stays intact.
        else setTimeout(() => client.writable && client.write(chunk), this.latencyMs);
      });
    });
  }

  private drop(pair: Pair): void {
    if (!this.pairs.delete(pair)) return;
    // Not resetAndDestroy(): on a socket already shutting down it leaves a handle that never
    // closes, and Node then spins at exit waiting for it.
    pair.client.destroy();
    pair.upstream?.destroy();
  }

  private async closeListener(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function freeze(pair: Pair): void {
  pair.client.unpipe();
  pair.upstream?.removeAllListeners('data');
  pair.client.pause();
  pair.upstream?.pause();
}
