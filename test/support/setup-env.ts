/** Per test file, before any module loads: quiet Powertools and the offline model. */
process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
process.env.LLM_PROVIDER ??= 'local';
