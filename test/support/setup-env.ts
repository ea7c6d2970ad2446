/** Per test file, before any module loads: quiet Powertools and the offline model. */
process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
process.env.LLM_PROVIDER ??= 'local';

// CDK announces every asset it bundles on stderr ("Bundling asset ChatbotApi/…/Code/Stage...");
// the infra suites synthesize many stacks, and those lines would bury the test results.
const writeStderr = process.stderr.write.bind(process.stderr) as (...args: unknown[]) => boolean;
process.stderr.write = ((chunk: unknown, ...rest: unknown[]) =>
  typeof chunk === 'string' && /^Bundling asset \S+\.\.\.\n?$/.test(chunk) ? true : writeStderr(chunk, ...rest)) as typeof process.stderr.write;
