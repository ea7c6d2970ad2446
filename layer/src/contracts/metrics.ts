/**
 * The metrics the functions emit (CloudWatch EMF through Powertools), by name: the layer counts
 * them, the stack's dashboard and alarms read them. Pure data.
 */
import { ENVIRONMENT } from './environment';

export const METRIC_NAMES = [
  'CacheHit',
  'CacheMiss',
  'CacheBypass',
  'CacheError',
  /** An invalidating DEL failed: the one cache failure that can leave stale data (it is retried). */
  'CacheInvalidationFailed',
  /** Invalidating DELs a primary applied but no replica confirmed in time (WAIT): re-deleted until one does. */
  'CacheInvalidationUnconfirmed',
  /** Failed or unconfirmed invalidations that did not fit their bounded set: those keys may be served stale until their TTL. */
  'CacheInvalidationDropped',
  /** A cache operation skipped a cluster node that had just failed (served from Postgres at once). */
  'CacheNodeSkipped',
  /** A Redis node answered READONLY (a failover demoted it): the container reconnected to the endpoint. */
  'CacheFailoverReconnect',
  /** A reader found another reader's fill lease and was then served its fill. */
  'CacheLeaseWait',
  /** A reader waited for another reader's fill in vain and loaded without filling. */
  'CacheLeaseWaitExpired',
  /** A hash key already held its maximum of fields; the read was served from Postgres, uncached. */
  'CacheFieldLimit',
  'ContextRebuilt',
  'ModelError',
  'ClientDisconnected',
  'TurnLimited',
  'TurnLimitBypassed',
  /** A stream refused: the user already held USER_MAX_LIVE_STREAMS. */
  'LiveStreamLimited',
  /** A stream served without counting it (Redis unavailable). */
  'LiveStreamLimitBypassed',
  'ConversationTooLong',
  'ReplyStopped',
  'ReplyDeadline',
  'ReplyStreamError',
  /** GET limits could not read the turn log (Redis down or failing): `remaining` was answered as null. */
  'TurnLogUnreadable',
  /** A reply was rated thumbs up (a new rating, or one changed to it). */
  'FeedbackThumbsUp',
  /** A reply was rated thumbs down. */
  'FeedbackThumbsDown',
] as const;

export type MetricName = (typeof METRIC_NAMES)[number];

/** The CloudWatch namespace and `service` dimension the functions publish under. */
export const METRICS_NAMESPACE = ENVIRONMENT.POWERTOOLS_METRICS_NAMESPACE.default;
export const SERVICE_NAME = ENVIRONMENT.POWERTOOLS_SERVICE_NAME.default;
