/**
 * A private PostgreSQL 15 for one chaos run: `initdb` + `pg_ctl` in a temp directory on a free
 * loopback port, so a fast restart or a mass `pg_terminate_backend` touches nothing else on
 * the machine. Postgres refuses to run as root: as root, the server runs as the `postgres`
 * system user (the temp directory is handed to it).
 */
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import type { Resources } from './cleanup';
import { freePort } from '../test/reliability/support/redis-server';

const BIN = process.env.CHAOS_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const DATABASE = 'chatbot';

/** Runs a command to its end (never blocking the event loop); rejects with its output on failure. */
export function run(command: string, args: readonly string[], options: { uid?: number; gid?: number; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { uid: options.uid, gid: options.gid, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += String(chunk)));
    child.stderr.on('data', (chunk) => (output += String(chunk)));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else reject(new Error(`${path.basename(command)} ${args.join(' ')} failed (${signal ?? code}): ${output.trim().slice(-2000)}`));
    });
  });
}

/** The uid/gid to run Postgres as: ours, unless we are root. */
function postgresOwner(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const lookup = (flag: string) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const uid = lookup('-u');
  const gid = lookup('-g');
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new Error('running as root, and there is no "postgres" user to run the private Postgres as');
  return { uid, gid };
}

function chownTree(dir: string, uid: number, gid: number): void {
  chownSync(dir, uid, gid);
  for (const entry of readdirSync(dir)) {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) chownTree(full, uid, gid);
    else chownSync(full, uid, gid);
  }
}

export class PrivatePostgres {
  private constructor(
    readonly port: number,
    private readonly dataDir: string,
    private readonly logFile: string,
    private readonly owner: { uid?: number; gid?: number },
  ) {}

  /** The app's database URL (superuser, trust auth on loopback only). */
  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${DATABASE}`;
  }

  static async start(resources: Resources): Promise<PrivatePostgres> {
    const root = mkdtempSync(path.join(tmpdir(), 'chatbot-chaos-pg-'));
    resources.trackDirectory(root);
    const owner = postgresOwner();
    if (owner.uid !== undefined) chownTree(root, owner.uid, owner.gid as number);
    const dataDir = path.join(root, 'data');
    const port = await freePort();
    await run(path.join(BIN, 'initdb'), ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale', 'C', '--no-sync'], { ...owner, timeoutMs: 120_000 });
    const server = new PrivatePostgres(port, dataDir, path.join(root, 'postgres.log'), owner);
    resources.trackPostgres({ pgCtl: path.join(BIN, 'pg_ctl'), dataDir, ...owner });
    // Loopback only, the socket in our own directory; durability settings are Postgres's (and RDS's) defaults.
    const options = `-p ${port} -c listen_addresses=127.0.0.1 -k ${root} -c max_connections=200`;
    await run(path.join(BIN, 'pg_ctl'), ['start', '-w', '-t', '60', '-D', dataDir, '-l', server.logFile, '-o', options], { ...owner, timeoutMs: 90_000 });
    await server.admin('postgres', (client) => client.query(`CREATE DATABASE ${DATABASE}`));
    return server;
  }

  /** Runs `work` on a connection of its own (a restart kills long-lived ones), then closes it. */
  async admin<T>(database: string, work: (client: Client) => Promise<T>): Promise<T> {
    const client = new Client({ host: '127.0.0.1', port: this.port, user: 'postgres', database, connectionTimeoutMillis: 5000 });
    client.on('error', () => undefined);
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** `pg_ctl restart -m fast`: every session is disconnected, the server stops and comes back. Resolves once it accepts connections. */
  async restartFast(): Promise<void> {
    await run(path.join(BIN, 'pg_ctl'), ['restart', '-m', 'fast', '-w', '-t', '60', '-D', this.dataDir, '-l', this.logFile], { ...this.owner, timeoutMs: 90_000 });
  }

  /** `pg_terminate_backend` of every client session but this one: what an RDS Proxy or a failover does to the app's connections. */
  async terminateAppConnections(): Promise<number> {
    return this.admin(DATABASE, async (client) => {
      const { rows } = await client.query<{ terminated: boolean }>(
        `SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity
          WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()`,
      );
      return rows.filter((row) => row.terminated).length;
    });
  }
}
