/**
 * Stand-ins for RDS and ElastiCache on a machine with nothing installed: PGlite (Postgres
 * compiled to WebAssembly) served over the Postgres wire protocol, and an in-process
 * Redis-protocol server. Both listen on 127.0.0.1 so the layer's unchanged `pg` and
 * `ioredis` code talks to them like to the real servers.
 */
import { mkdir } from 'node:fs/promises';

/** A running embedded server. */
export interface EmbeddedService {
  /** Connection URL for the app (`postgres://…` or `redis://…`). */
  readonly url: string;
  /** What the banner shows. */
  readonly description: string;
  close(): Promise<void>;
}

/** Options of {@link startEmbeddedPostgres}. */
export interface EmbeddedPostgresOptions {
  /** Directory that keeps the data between runs, or `memory://` for none. */
  readonly dataDir: string;
  /** Concurrent client connections; must be at least the app's pool size. */
  readonly maxConnections: number;
}

/** Starts PGlite and serves it on a free local port (cold start takes a few seconds). */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedService> {
  const [{ PGlite }, { PGLiteSocketServer }] = await Promise.all([import('@electric-sql/pglite'), import('@electric-sql/pglite-socket')]);
  const inMemory = options.dataDir.startsWith('memory://');
  if (!inMemory) await mkdir(options.dataDir, { recursive: true });
  const db = await PGlite.create(options.dataDir);
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: options.maxConnections });
  await server.start();
  return {
    url: `postgres://postgres@${server.getServerConn()}/postgres`,
    description: `embedded PGlite (${inMemory ? 'in memory' : options.dataDir}) on ${server.getServerConn()}`,
    close: async () => {
      await server.stop();
      await db.close();
    },
  };
}

/** Starts an in-memory Redis-protocol server (js-redis-server) on a free local port. */
export async function startEmbeddedRedis(): Promise<EmbeddedService> {
  const { createRedisMock } = await import('js-redis-server');
  const mock = await createRedisMock({ port: 0 });
  const address = mock.addresses()[0] as unknown as { host: string; port: number };
  return {
    url: `redis://${address.host}:${address.port}`,
    description: `embedded js-redis-server (in memory) on ${address.host}:${address.port}`,
    close: () => mock.close(),
  };
}
