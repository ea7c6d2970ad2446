/**
 * Per test file, before any module loads: this Jest worker's own copy of the run's database and
 * its own Redis key prefix (test/support/global-setup.ts), so suites that run at the same time in
 * other workers never see its rows or keys; quiet Powertools and the offline model.
 */
import { databaseUrl, workerDatabaseName } from './services';

const worker = process.env.JEST_WORKER_ID ?? '1';
if (process.env.TEST_DATABASE_NAME && process.env.TEST_RUN_ID) {
  process.env.DATABASE_URL = databaseUrl(workerDatabaseName(process.env.TEST_DATABASE_NAME, worker));
  process.env.CACHE_KEY_PREFIX = `test:${process.env.TEST_RUN_ID}:w${worker}:`;
}
process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
process.env.LLM_PROVIDER ??= 'local';

// CDK announces every asset it bundles on stderr ("Bundling asset ChatbotApi/…/Code/Stage...");
// the infra suites synthesize many stacks, and those lines would bury the test results.
const writeStderr = process.stderr.write.bind(process.stderr) as (...args: unknown[]) => boolean;
process.stderr.write = ((chunk: unknown, ...rest: unknown[]) =>
  typeof chunk === 'string' && /^Bundling asset \S+\.\.\.\n?$/.test(chunk) ? true : writeStderr(chunk, ...rest)) as typeof process.stderr.write;
