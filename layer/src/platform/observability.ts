/**
 * Logger and metrics, created once per container and imported everywhere (the Powertools
 * way). Metrics are flushed per invocation by the `flushMetrics` middleware, and by the
 * streaming handler when its stream ends.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { METRICS_NAMESPACE, SERVICE_NAME, type MetricName } from '../contracts/metrics';

export type { MetricName };

// Read here, not through getConfig(): the logger must work before (and when) the configuration fails to parse.
const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? SERVICE_NAME;

export const logger = new Logger({ serviceName });

export const metrics = new Metrics({
  serviceName,
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? METRICS_NAMESPACE,
  // Its "no metrics to publish" warnings go through our logger and its level, not bare console output.
  logger,
});

/** Counts one occurrence of `name`. */
export function countMetric(name: MetricName, value = 1): void {
  metrics.addMetric(name, MetricUnit.Count, value);
}

/**
 * Writes the stored metrics as EMF when there are any (Powertools warns on an empty flush,
 * and a request that counted nothing is normal).
 */
export function publishMetricsIfAny(): void {
  if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
}
