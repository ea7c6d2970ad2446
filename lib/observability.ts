import { Annotations, Duration } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import type { Cache } from './cache';
import type { Database } from './database';
import type { ApiFirewall } from './firewall';
import { METRICS_NAMESPACE, SERVICE_NAME, type MetricName } from '../layer/src/contracts/metrics';

/** A function and its latency budget. */
export interface WatchedFunction {
  /** The function. */
  readonly function: lambda.IFunction;
  /** Alarm when p99 duration exceeds this. */
  readonly p99DurationThreshold: Duration;
}

/** A scheduled job: runs rarely, so a count of errors per period says nothing; a failed run does. */
export interface WatchedJob {
  /** The function. */
  readonly function: lambda.IFunction;
  /** Where a failed run (its retries spent) lands; one message is one failed run. */
  readonly failureQueue: sqs.IQueue;
  /** Alarm when p99 duration exceeds this (a run nearing its timeout). */
  readonly p99DurationThreshold: Duration;
}

/** Props for {@link Observability}. */
export interface ObservabilityProps {
  /** The cache whose memory, evictions, CPU and connections are watched. */
  readonly cache: Cache;
  /** The database whose CPU and connections are watched. */
  readonly database: Database;
  /** The API handlers by display name, each with the p99 duration that should raise an alarm. */
  readonly functions: Readonly<Record<string, WatchedFunction>>;
  /** Scheduled jobs by display name. @default {} */
  readonly jobs?: Readonly<Record<string, WatchedJob>>;
  /** The WAF web ACL on the API, whose blocked requests the dashboard shows. @default - none */
  readonly firewall?: ApiFirewall;
  /** The REST API. */
  readonly restApi: apigw.RestApi;
  /** EMF namespace of the functions' metrics. @default METRICS_NAMESPACE ('ChatbotApi') */
  readonly metricsNamespace?: string;
  /** Value of the `service` dimension of the functions' metrics. @default SERVICE_NAME ('chatbot-api') */
  readonly serviceName?: string;
  /** E-mail subscribed to the alarm topic. @default - no subscription (subscribe to the topic later) */
  readonly alarmEmail?: string;
  /** Alarm when the cache hit rate stays below this percentage. @default 50 */
  readonly minCacheHitRatePercent?: number;
  /** Alarm when database connections exceed this share of the engine's default max_connections. @default 0.7 */
  readonly databaseConnectionsAlarmRatio?: number;
  /** Alarm when a function is throttled more than this many times in each of two 5-minute periods out of three. @default 5 */
  readonly throttlesThreshold?: number;
  /**
   * Alarm when the account's concurrent Lambda executions (every function in the Region, this
   * stack's or not) reach this; past the account's quota every function is throttled.
   * @default 800 (80% of the default quota of 1,000)
   */
  readonly accountConcurrencyThreshold?: number;
}

/**
 * A dashboard and alarms: cache memory, evictions, CPU, connections and hit rate
 * (from the functions' EMF metrics), Lambda errors, throttles and p99 duration,
 * RDS CPU and connections, API 5XX. Alarms notify one SNS topic.
 */
export class Observability extends Construct {
  /** The dashboard. */
  public readonly dashboard: cloudwatch.Dashboard;
  /** Topic every alarm notifies (on alarm and on recovery). */
  public readonly alarmTopic: sns.Topic;
  /** All alarms. */
  public readonly alarms: readonly cloudwatch.Alarm[];
  /** Whether anyone is subscribed to {@link alarmTopic} (an `alarmEmail` was given). */
  public readonly hasSubscriber: boolean;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    const namespace = props.metricsNamespace ?? METRICS_NAMESPACE;
    const service = props.serviceName ?? SERVICE_NAME;
    const { cache, database } = props;
    const throttlesThreshold = props.throttlesThreshold ?? 5;
    const period = Duration.minutes(5);
    const alarms: cloudwatch.Alarm[] = [];

    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', { displayName: 'Chatbot API alarms', enforceSSL: true });
    this.hasSubscriber = props.alarmEmail !== undefined;
    if (props.alarmEmail) {
      this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
    } else {
      Annotations.of(this).addWarningV2(
        'chatbot:noAlarmSubscriber',
        'No alarmEmail: the alarm topic has no subscriber, so every alarm goes unheard. Deploy with -c alarmEmail=ops@example.com, or subscribe to the AlarmTopicArn output.',
      );
    }
    const alarm = (
      name: string,
      metric: cloudwatch.IMetric,
      options: Omit<cloudwatch.CreateAlarmOptions, 'alarmDescription'> & { readonly description: string },
    ): cloudwatch.Alarm => {
      const { description, ...alarmOptions } = options;
      const created = new cloudwatch.Alarm(this, name, {
        metric,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
        ...alarmOptions,
      });
      created.addAlarmAction(new actions.SnsAction(this.alarmTopic));
      created.addOkAction(new actions.SnsAction(this.alarmTopic));
      alarms.push(created);
      return created;
    };

    const appMetric = (metricName: MetricName): cloudwatch.Metric =>
      new cloudwatch.Metric({ namespace, metricName, dimensionsMap: { service }, statistic: 'Sum', period });
    const cacheHitRate = new cloudwatch.MathExpression({
      expression: '100 * hit / (hit + miss)',
      usingMetrics: { hit: appMetric('CacheHit'), miss: appMetric('CacheMiss') },
      label: 'Cache hit rate %',
      period,
    });

    // Cache
    const cacheMemory = cache.metricMemoryUsagePercent();
    const cacheEvictions = cache.metricEvictions();
    const cacheCpu = cache.metricEngineCpuUtilization();
    const cacheConnections = cache.metricCurrConnections();
    const serverless = cache.mode === 'serverless';
    alarm('CacheMemoryAlarm', cacheMemory, {
      threshold: 80,
      evaluationPeriods: 3,
      description: 'Cache memory above 80%: evictions are next. Raise cacheNodeType (or serverlessMaxStorageGb).',
    });
    alarm('CacheEvictionsAlarm', cacheEvictions, {
      threshold: 100,
      evaluationPeriods: 2,
      description: 'The cache evicts keys because memory is full; the hit rate will fall. Raise cacheNodeType.',
    });
    if (!serverless) {
      alarm('CacheCpuAlarm', cacheCpu, {
        threshold: 80,
        evaluationPeriods: 3,
        description: 'The cache engine thread is above 80% CPU. Use a larger node type or add replicas for reads.',
      });
    }
    alarm('CacheConnectionsAlarm', cacheConnections, {
      threshold: 5000,
      evaluationPeriods: 2,
      description: 'Unusually many cache connections (each warm Lambda container holds one).',
    });
    alarm('CacheInvalidationFailedAlarm', appMetric('CacheInvalidationFailed'), {
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      description:
        'A writer could not delete cache keys it invalidated: other containers may serve a pre-write body until its TTL (CACHE_TTL_SECONDS) ends. Check cache connectivity.',
    });
    alarm('CacheHitRateAlarm', cacheHitRate, {
      threshold: props.minCacheHitRatePercent ?? 50,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 6,
      description: 'Cache hit rate low for 30 minutes: check CacheError metrics, evictions and memory.',
    });

    // The per-user turn limit is what keeps an open sign-up from spending the model budget;
    // while Redis cannot count, turns are served uncounted (fail-open), so say so when it lasts.
    alarm('TurnLimitBypassedAlarm', appMetric('TurnLimitBypassed'), {
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      description: 'Turns served without the per-user limit for 15 minutes (Redis unreachable from post-conversation): the model budget is unprotected. Check cache connectivity.',
    });

    // Functions
    const functionEntries = Object.entries(props.functions);
    for (const [name, { function: fn, p99DurationThreshold }] of functionEntries) {
      alarm(`${name}ErrorsAlarm`, fn.metricErrors({ period, statistic: 'Sum' }), {
        threshold: 5,
        evaluationPeriods: 1,
        description: `${name} failed invocations (errors the handler did not turn into HTTP responses).`,
      });
      // One throttle is a blip the client retries; sustained throttling across periods is what needs a person.
      alarm(`${name}ThrottlesAlarm`, fn.metricThrottles({ period, statistic: 'Sum' }), {
        threshold: throttlesThreshold,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        description: `${name} throttled more than ${throttlesThreshold} times in 2 of the last 3 five-minute periods: account or reserved concurrency exhausted.`,
      });
      alarm(`${name}DurationAlarm`, fn.metricDuration({ period, statistic: 'p99' }), {
        threshold: p99DurationThreshold.toMilliseconds(),
        evaluationPeriods: 3,
        description: `${name} p99 duration above ${p99DurationThreshold.toHumanString()} for 15 minutes.`,
      });
    }

    // Jobs: one failed run is worth a page, and their error counts per period could never reach a threshold.
    const jobEntries = Object.entries(props.jobs ?? {});
    for (const [name, job] of jobEntries) {
      alarm(`${name}FailedRunAlarm`, job.failureQueue.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum' }), {
        threshold: 1,
        evaluationPeriods: 1,
        description: `A ${name} run failed after its retries; the failure record (its error) is in queue ${job.failureQueue.queueName}. The alarm stays on until the queue is emptied.`,
      });
      alarm(`${name}DurationAlarm`, job.function.metricDuration({ period, statistic: 'p99' }), {
        threshold: job.p99DurationThreshold.toMilliseconds(),
        evaluationPeriods: 1,
        description: `${name} ran longer than ${job.p99DurationThreshold.toHumanString()}: it nears its timeout.`,
      });
    }

    // The account: every function in the Region shares its concurrency quota.
    const accountConcurrency = new cloudwatch.Metric({
      namespace: 'AWS/Lambda',
      metricName: 'ConcurrentExecutions',
      statistic: 'Maximum',
      period: Duration.minutes(1),
    });
    const accountConcurrencyThreshold = props.accountConcurrencyThreshold ?? 800;
    alarm('AccountConcurrencyAlarm', accountConcurrency, {
      threshold: accountConcurrencyThreshold,
      evaluationPeriods: 3,
      description: `The account runs ${accountConcurrencyThreshold}+ Lambda executions at once (all functions in the Region): near its quota every function is throttled. Check the streaming functions and the WAF rate rule, or raise the quota.`,
    });

    // Database
    alarm('DatabaseRotationErrorsAlarm', database.metricRotationErrors(), {
      threshold: 1,
      evaluationPeriods: 1,
      description: 'A database secret rotation failed: the password was not changed and the secret keeps a pending version. Read the rotation function\'s log.',
    });
    const proxyClients = database.metricProxyClientConnections();
    if (proxyClients) {
      alarm('ProxyClientConnectionsAlarm', proxyClients, {
        threshold: database.maxConnections,
        evaluationPeriods: 5,
        description:
          `More than ${database.maxConnections} client connections on the RDS Proxy for 5 minutes, more than the database's max_connections: ` +
          'pinned sessions would each hold one, and the rest queue (DatabaseConnectionsBorrowLatency). Raise dbInstanceType or find what holds them.',
      });
    }
    alarm('DatabaseCpuAlarm', database.metricCpuUtilization(), {
      threshold: 80,
      evaluationPeriods: 3,
      description: 'RDS CPU above 80%: raise dbInstanceType or look for a missing index.',
    });
    const connectionsThreshold = Math.floor(database.maxConnections * (props.databaseConnectionsAlarmRatio ?? 0.7));
    alarm('DatabaseConnectionsAlarm', database.metricDatabaseConnections(), {
      threshold: connectionsThreshold,
      evaluationPeriods: 2,
      description:
        `Database connections above ${connectionsThreshold}, near max_connections (at most ${database.maxConnections} for this ` +
        (database.mode === 'instance' ? 'instance class; RDS Proxy pools up to it).' : 'maximum ACU setting).') +
        ' New connections will be refused: raise dbInstanceType / auroraMaxAcu or find what holds connections.',
    });
    const freeStorage = database.metricFreeStorageSpace();
    if (freeStorage && database.allocatedStorageBytes) {
      // Storage autoscaling adds space below 10% free; still below it 15 minutes on means it cannot (maxAllocatedStorage reached).
      const minFreeBytes = Math.floor(database.allocatedStorageBytes * 0.1);
      alarm('DatabaseFreeStorageAlarm', freeStorage, {
        threshold: minFreeBytes,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: 3,
        description: `Database free storage below ${(minFreeBytes / 1024 ** 3).toFixed(1)} GiB for 15 minutes: storage autoscaling is at its cap. Raise dbAllocatedStorageGb.`,
      });
    }
    const acuUtilization = database.metricAcuUtilization();
    if (acuUtilization) {
      alarm('DatabaseCapacityAlarm', acuUtilization, {
        threshold: 90,
        evaluationPeriods: 3,
        description: 'Aurora Serverless v2 at over 90% of its maximum ACUs for 15 minutes: raise auroraMaxAcu.',
      });
    }

    // API
    alarm('Api5xxAlarm', props.restApi.metricServerError({ period, statistic: 'Sum' }), {
      threshold: 5,
      evaluationPeriods: 1,
      description: 'API Gateway returned 5XX responses.',
    });

    this.alarms = alarms;

    const fnMetrics = (pick: (fn: lambda.IFunction, name: string) => cloudwatch.IMetric): cloudwatch.IMetric[] =>
      functionEntries.map(([name, watched]) => pick(watched.function, name));
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(3),
      widgets: [
        [
          new cloudwatch.TextWidget({
            markdown:
              '# Chatbot API\nCache hit rate comes from the functions\' EMF metrics; memory %, evictions and CPU from ElastiCache. ' +
              'Tune the cache with `cdk deploy -c cacheNodeType=… -c cacheShards=…` (see docs/deploy.md).' +
              (cache.shards > 1 ? ` Cache alarms and graphs combine ${cache.watchedNodeCount} of the ${cache.shards}-shard group's nodes (the alarm metric-math limit).` : ''),
            width: 24,
            height: 2,
          }),
        ],
        [
          new cloudwatch.GraphWidget({ title: 'Cache hit rate %', left: [cacheHitRate], leftYAxis: { min: 0, max: 100 }, width: 8 }),
          new cloudwatch.GraphWidget({
            title: 'Cache hits / misses / errors',
            left: [appMetric('CacheHit'), appMetric('CacheMiss'), appMetric('CacheError'), appMetric('CacheBypass'), appMetric('CacheInvalidationFailed')],
            width: 8,
          }),
          new cloudwatch.GraphWidget({ title: serverless ? 'Cache memory % of cap' : 'Cache memory %', left: [cacheMemory], leftYAxis: { min: 0, max: 100 }, width: 8 }),
        ],
        [
          new cloudwatch.GraphWidget({ title: 'Cache evictions', left: [cacheEvictions], width: 8 }),
          new cloudwatch.GraphWidget({ title: serverless ? 'Cache ECPUs' : 'Cache engine CPU %', left: [cacheCpu], width: 8 }),
          new cloudwatch.GraphWidget({ title: 'Cache connections', left: [cacheConnections], width: 8 }),
        ],
        [
          new cloudwatch.GraphWidget({ title: 'Lambda errors', left: fnMetrics((fn, name) => fn.metricErrors({ period, label: name })), width: 8 }),
          new cloudwatch.GraphWidget({ title: 'Lambda throttles', left: fnMetrics((fn, name) => fn.metricThrottles({ period, label: name })), width: 8 }),
          new cloudwatch.GraphWidget({
            title: 'Lambda duration p99 (ms)',
            left: fnMetrics((fn, name) => fn.metricDuration({ period, statistic: 'p99', label: name })),
            width: 8,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'API requests / 4XX / 5XX',
            left: [
              props.restApi.metricCount({ period, statistic: 'Sum' }),
              props.restApi.metricClientError({ period, statistic: 'Sum' }),
              props.restApi.metricServerError({ period, statistic: 'Sum' }),
            ],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: database.mode === 'instance' ? 'RDS CPU % / free storage' : 'Aurora CPU % / ACU %',
            left: [database.metricCpuUtilization(), ...(acuUtilization ? [acuUtilization] : [])],
            right: freeStorage ? [freeStorage] : [],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: `Database connections (max_connections ≤ ${database.maxConnections})`,
            left: [database.metricDatabaseConnections()],
            leftAnnotations: [{ value: connectionsThreshold, label: 'alarm' }],
            width: 8,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Replies ended early / model errors',
            left: [appMetric('ClientDisconnected'), appMetric('ReplyStopped'), appMetric('ReplyDeadline'), appMetric('ModelError')],
            width: 12,
          }),
          // Recording failures make replies unresumable, never lost: a graph, not an alarm.
          new cloudwatch.GraphWidget({ title: 'Reply stream (resume) errors', left: [appMetric('ReplyStreamError')], width: 12 }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Cache fills: waits on another reader, waits given up, page cap',
            left: [appMetric('CacheLeaseWait'), appMetric('CacheLeaseWaitExpired'), appMetric('CacheFieldLimit')],
            width: 12,
          }),
          new cloudwatch.GraphWidget({
            title: 'Limits: turns refused, turns uncounted (Redis down), conversations too long',
            left: [appMetric('TurnLimited'), appMetric('TurnLimitBypassed'), appMetric('ConversationTooLong')],
            width: 12,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Account concurrent executions',
            left: [accountConcurrency.with({ label: 'Account concurrent executions' })],
            leftAnnotations: [{ value: accountConcurrencyThreshold, label: 'alarm' }],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Failed job runs (queued failure records)',
            left: jobEntries.map(([name, job]) => job.failureQueue.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum', label: name })),
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: props.firewall ? 'WAF: requests blocked by the per-IP rate rule' : 'Database secret rotation errors',
            left: props.firewall ? [props.firewall.metricBlockedRequests()] : [database.metricRotationErrors()],
            width: 8,
          }),
        ],
        [new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms, width: 24 })],
      ],
    });
  }
}
