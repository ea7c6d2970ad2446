/**
 * Stand-ins for RDS and ElastiCache on a machine with nothing installed: PGlite (Postgres
 * compiled to WebAssembly) served over the Postgres wire protocol, and an in-process
 * Redis-protocol server. Both listen on 127.0.0.1 so the layer's unchanged `pg` and
 * `ioredis` code talks to them like to the real servers.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { LocalStartError } from './start-error';

/** A running embedded server. */
export interface EmbeddedService {
  /** Connection URL for the app (`postgres://…` or `redis://…`). */
  readonly url: string;
  /** What the banner shows. */
  readonly description: string;
  /** Records the API URL next to the data (the refusal message of a second opener shows it). */
  announce?(apiUrl: string): Promise<void>;
  close(): Promise<void>;
}

/** Options of {@link startEmbeddedPostgres}. */
export interface EmbeddedPostgresOptions {
  /** Directory that keeps the data between runs, or `memory://` for none. */
  readonly dataDir: string;
  /** Concurrent client connections; must be at least the app's pool size. */
  readonly maxConnections: number;
}

/** What the lock file next to a PGlite data directory holds. */
interface DataDirLock {
  readonly pid: number;
  readonly apiUrl?: string;
}

/**
 * Starts PGlite and serves it on a free local port (the first start initialises the data
 * directory: seconds to tens of seconds, by machine). A data directory is opened by one process
 * at a time: PGlite has no locking of its own and two writers would corrupt it, so a lock file
 * (`<dataDir>.lock`) makes a second opener — another `npm start`, `npm run seed` — refuse.
 * @throws LocalStartError when another live process holds the directory
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedService> {
  const [{ PGlite }, { PGLiteSocketServer }] = await Promise.all([import('@electric-sql/pglite'), import('@electric-sql/pglite-socket')]);
  const inMemory = options.dataDir.startsWith('memory://');
  const lockFile = inMemory ? undefined : `${options.dataDir.replace(/[/\\]+$/, '')}.lock`;
  if (lockFile) {
    await mkdir(options.dataDir, { recursive: true });
    await takeDataDirLock(lockFile, options.dataDir);
  }
  const release = async () => {
    if (lockFile) await rm(lockFile, { force: true });
  };
  try {
    const db = await PGlite.create(options.dataDir);
    const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: options.maxConnections });
    await server.start();
    return {
      url: `postgres://postgres@${server.getServerConn()}/postgres`,
      description: `embedded PGlite (${inMemory ? 'in memory' : options.dataDir}) on ${server.getServerConn()}`,
      announce: async (apiUrl) => {
        if (lockFile) await writeFile(lockFile, JSON.stringify({ pid: process.pid, apiUrl } satisfies DataDirLock));
      },
      close: async () => {
        await server.stop();
        await db.close();
        await release();
      },
    };
  } catch (error) {
    await release();
    throw error;
  }
}

async function takeDataDirLock(lockFile: string, dataDir: string): Promise<void> {
  let holder: DataDirLock | undefined;
  try {
    holder = JSON.parse(await readFile(lockFile, 'utf8')) as DataDirLock;
  } catch {
    holder = undefined;
  }
  if (holder && holder.pid !== process.pid && isAlive(holder.pid)) {
    const via = holder.apiUrl ? `use that server (npm run seed -- --url ${holder.apiUrl})` : 'use that server (npm run seed -- --url http://127.0.0.1:<its PORT>)';
    throw new LocalStartError(
      `The embedded database ${dataDir} is already open in process ${holder.pid} (a running npm start?): ${via}, stop it first, or give this one its own PGLITE_DATA_DIR (if process ${holder.pid} is something else, delete ${lockFile}).`,
    );
  }
  // Absent, unreadable or left by a process that is gone: ours now.
  await writeFile(lockFile, JSON.stringify({ pid: process.pid } satisfies DataDirLock));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
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
