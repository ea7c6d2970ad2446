/** Where the real local services are; CI and developers' machines start them before tests. */
export const ADMIN_DATABASE_URL = process.env.TEST_ADMIN_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** The URL of database `name` on the admin server. */
export function databaseUrl(name: string): string {
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

/** The copy of the run's database that Jest worker `worker` (JEST_WORKER_ID, from 1) uses. */
export function workerDatabaseName(runDatabase: string, worker: number | string): string {
  return `${runDatabase}_w${worker}`;
}
