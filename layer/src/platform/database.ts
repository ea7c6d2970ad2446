/**
 * PostgreSQL for Lambda: one small pool per container, created on first use outside the
 * handler; credentials from Secrets Manager (cached, refreshed on an auth failure) or
 * `DATABASE_URL`. Driver failures that mean "the database is not there" become a 503.
 */
import { Client, Pool, type ClientConfig, type QueryResult, type QueryResultRow } from 'pg';
import { getConfig, type DatabaseConfig } from './config';
import { DatabaseUnavailableError } from '../errors';
import { logger } from './observability';
import { traced } from './tracing';
import { getSecretString } from './secrets';

/** Anything that runs a query: the counted pool below, or a client. */
export interface Queryable {
  query<R extends QueryResultRow = QueryResultRow>(text: string, values?: unknown[]): Promise<QueryResult<R>>;
}

interface RdsSecret {
  readonly username: string;
  readonly password: string;
  readonly host?: string;
  readonly port?: number;
  readonly dbname?: string;
}

/** Queries sent since start; the benchmarks and tests read it to count round trips. */
export const databaseStats = { queries: 0 };

let poolPromise: Promise<Pool> | undefined;

async function readRdsSecret(secretArn: string, refresh = false): Promise<RdsSecret> {
  return JSON.parse(await getSecretString(secretArn, { refresh })) as RdsSecret;
}

/** Where and as whom to connect: `DATABASE_URL`, or the RDS secret (+ `DATABASE_HOST`, the proxy). */
async function connectionConfig(config: DatabaseConfig): Promise<ClientConfig> {
  const ssl = config.ssl ? { rejectUnauthorized: true } : undefined;
  if (config.url) return { connectionString: config.url, ssl };
  const secretArn = config.secretArn as string;
  const secret = await readRdsSecret(secretArn);
  return {
    ssl,
    host: config.host ?? secret.host,
    port: config.host ? config.port : (secret.port ?? config.port),
    database: config.name ?? secret.dbname ?? 'chatbot',
    user: secret.username,
    // Called for every new connection, so a rotated password is picked up once the cache is refreshed.
    password: async () => (await readRdsSecret(secretArn)).password,
  };
}

async function createPool(config: DatabaseConfig): Promise<Pool> {
  const pool = new Pool({
    ...(await connectionConfig(config)),
    max: config.poolMax,
    connectionTimeoutMillis: config.connectTimeoutMs,
    // Server-side bound plus a client-side one, so a hung connection cannot hold the Lambda.
    statement_timeout: config.statementTimeoutMs,
    query_timeout: config.statementTimeoutMs + 1000,
    idleTimeoutMillis: 60_000,
  });
  // An idle client losing its connection must not crash the container.
  pool.on('error', (error) => logger.warn('Idle Postgres client failed', { error }));
  return pool;
}

/**
 * A connection of its own to the app's database with no statement or query timeout, for
 * work that may rightly outlast a request — a migration building an index on a big table.
 * Only the connect timeout applies. The caller ends it.
 */
export async function connectWithoutTimeouts(): Promise<Client> {
  const config = getConfig().database;
  const connect = async (): Promise<Client> => {
    const client = new Client({ ...(await connectionConfig(config)), connectionTimeoutMillis: config.connectTimeoutMs });
    await client.connect();
    return client;
  };
  try {
    return await connect();
  } catch (error) {
    // Refused: the secret rotated since this container read it, or a rotation is between its
    // setSecret and finishSecret steps. Read it afresh (user and password) and try once more.
    if (!isAuthFailure(error) || !config.secretArn) return translateDatabaseError(error);
    logger.warn('Postgres refused the credentials; retrying once with a freshly read secret', { code: (error as { code?: string }).code });
    await readRdsSecret(config.secretArn, true);
    return connect().catch(translateDatabaseError);
  }
}

/** The container's pool. */
export function getPool(): Promise<Pool> {
  poolPromise ??= createPool(getConfig().database).catch((error: unknown) => {
    poolPromise = undefined;
    throw new DatabaseUnavailableError(error);
  });
  return poolPromise;
}

/** SQLSTATEs and driver errors that mean the database is unreachable, overloaded or restarting. */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'EPIPE',
  '57P01', '57P02', '57P03', '53300', '57014', '08000', '08001', '08003', '08006',
]);

function isUnavailable(error: unknown): boolean {
  // Duck-typed, not `instanceof Error`: socket errors can come from another realm (vm contexts, bundles).
  if (typeof error !== 'object' || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return true;
  return typeof message === 'string' && /timeout|terminated|Connection ended|not queryable/i.test(message);
}

/** 28P01 wrong password; 28000 the login itself refused (e.g. a user name the server does not know). */
function isAuthFailure(error: unknown): boolean {
  const code = (error as { code?: string } | undefined)?.code;
  return code === '28P01' || code === '28000';
}

/** Turns driver failures into a 503; anything else (a bug, a constraint) propagates as is. */
export function translateDatabaseError(error: unknown): never {
  if (error instanceof DatabaseUnavailableError) throw error;
  if (isUnavailable(error)) throw new DatabaseUnavailableError(error);
  throw error;
}

async function withAuthRetry<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    const secretArn = getConfig().database.secretArn;
    if (!isAuthFailure(error) || !secretArn) return translateDatabaseError(error);
    logger.info('Postgres rejected the cached password; refreshing the secret');
    await readRdsSecret(secretArn, true);
    try {
      return await work();
    } catch (retryError) {
      return translateDatabaseError(retryError);
    }
  }
}

/**
 * A statement as a trace names it: its outermost verb and the table that verb works on
 * (`SELECT conversations`; a `WITH … INSERT INTO messages` is `INSERT messages`), never its values.
 */
export function statementName(text: string): string {
  let depth = 0;
  let verb: string | undefined;
  for (const token of text.matchAll(/[()]|\b(SELECT|INSERT|UPDATE|DELETE|FROM|INTO)\b(?=\s*([a-z_]*))/gi)) {
    if (token[0] === '(') depth += 1;
    else if (token[0] === ')') depth -= 1;
    else if (depth === 0) {
      const word = token[1].toUpperCase();
      if (!verb && word !== 'FROM' && word !== 'INTO') {
        verb = word;
        if (word === 'UPDATE' && token[2]) return `UPDATE ${token[2]}`;
      } else if (verb && (word === 'FROM' || word === 'INTO') && token[2]) return `${verb} ${token[2]}`;
    }
  }
  return verb ?? 'QUERY';
}

/** The pool as a `Queryable` that counts and times queries and maps availability errors to 503. */
export const db: Queryable = {
  async query<R extends QueryResultRow = QueryResultRow>(text: string, values?: unknown[]) {
    const pool = await getPool();
    databaseStats.queries += 1;
    return traced('postgres', statementName(text), () => withAuthRetry(() => pool.query<R>(text, values)));
  },
};

/** Closes the pool (tests, local server shutdown). */
export async function closeDatabase(): Promise<void> {
  const pending = poolPromise;
  poolPromise = undefined;
  if (pending) await (await pending.catch(() => undefined))?.end();
}
