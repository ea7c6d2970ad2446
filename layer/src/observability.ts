/**
 * Logger and metrics, created once per container and imported everywhere (the Powertools
 * way). Metrics are flushed per invocation by the `flushMetrics` middleware, and by the
 * streaming handler when its stream ends.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? 'chatbot-api';

export const logger = new Logger({ serviceName });

export const metrics = new Metrics({
  serviceName,
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'ChatbotApi',
  // Its "no metrics to publish" warnings go through our logger and its level, not bare console output.
  logger,
});

/** Every metric the layer emits; the stack's dashboard and alarms use these names. */
export type MetricName =
  | 'CacheHit'
  | 'CacheMiss'
  | 'CacheBypass'
  | 'CacheError'
  | 'CacheInvalidationFailed'
  /** A reader found another reader's fill lease and was then served its fill. */
  | 'CacheLeaseWait'
  /** A reader waited for another reader's fill in vain and loaded without filling. */
  | 'CacheLeaseWaitExpired'
  /** A hash key already held its maximum of fields; the read was served from Postgres, uncached. */
  | 'CacheFieldLimit'
  | 'ContextRebuilt'
  | 'ModelError'
  | 'ClientDisconnected'
  | 'TurnLimited'
  | 'TurnLimitBypassed'
  | 'ConversationTooLong'
  | 'ReplyStopped'
  | 'ReplyDeadline'
  | 'ReplyStreamError';

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
