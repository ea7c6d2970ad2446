import { Aws, Duration, Fn, Names, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elasticache from 'aws-cdk-lib/aws-elasticache';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { CacheEngine, CacheMode } from './stack-config';

/** Props for {@link Cache}. */
export interface CacheProps {
  /** The VPC to place the cache in. */
  readonly vpc: ec2.IVpc;
  /** Subnets for the cache nodes (isolated). */
  readonly subnets: ec2.SubnetSelection;
  /** Node-based replication group or ElastiCache Serverless. @default 'replication-group' */
  readonly mode?: CacheMode;
  /** Engine. @default 'valkey' */
  readonly engine?: CacheEngine;
  /** Node type of the replication group. @default 'cache.t4g.small' */
  readonly nodeType?: string;
  /** Read replicas per shard; more than 0 turns on Multi-AZ with automatic failover. @default 1 */
  readonly replicas?: number;
  /** Shards of the replication group (1–500); more than 1 deploys it with cluster mode enabled. @default 1 */
  readonly shards?: number;
  /** TCP port of the replication group (serverless always listens on 6379). @default 6390 */
  readonly port?: number;
  /** Data storage cap of the serverless cache, in GB. @default 5 */
  readonly serverlessMaxStorageGb?: number;
  /**
   * What happens to the cache when it is replaced or removed (a knob change, or the stack's
   * deletion). SNAPSHOT deletes it after a final snapshot: the `Snapshot` policy for a replication
   * group; for a serverless cache, which that policy does not cover, its `FinalSnapshotName`. A
   * serverless cache is never retained: a kept cache holds its name, subnets and security group,
   * so a later create with the name fails and the stack's deletion cannot remove the group.
   * Anything but DESTROY also keeps the AUTH token secret.
   * @default RemovalPolicy.DESTROY
   */
  readonly removalPolicy?: RemovalPolicy;
}

const ENGINE_VERSIONS: Record<CacheEngine, string> = { valkey: '8.0', redis: '7.1' };
const SERVERLESS_MAJOR_VERSIONS: Record<CacheEngine, string> = { valkey: '8', redis: '7' };
/** Parameter groups with `cluster-enabled yes`, required by a group with more than one shard. */
const CLUSTER_PARAMETER_GROUPS: Record<CacheEngine, string> = { valkey: 'default.valkey8.cluster.on', redis: 'default.redis7.cluster.on' };
const SERVERLESS_PORT = 6379;
/** A CloudWatch alarm's metric math may combine at most 10 metrics. */
const MAX_ALARM_METRICS = 10;

/**
 * ElastiCache (Valkey or Redis OSS) with TLS in transit, encryption at rest and
 * an AUTH token generated into Secrets Manager: either a replication group sized by
 * node type, shards and replicas per shard (cluster mode enabled when there is more
 * than one shard), or a serverless cache. Clients learn whether to speak the cluster
 * protocol from {@link clusterMode}.
 */
export class Cache extends Construct {
  /** Host the functions connect to (primary or serverless endpoint). */
  public readonly endpointHost: string;
  /** Port the functions connect to. */
  public readonly endpointPort: number;
  /** Secret whose SecretString is the AUTH token (a plain string). */
  public readonly authSecret: secretsmanager.ISecret;
  /** Network access to the cache port. */
  public readonly connections: ec2.Connections;
  /** True when clients must speak the cluster protocol (serverless, or more than one shard). */
  public readonly clusterMode: boolean;
  /** How the cache is provisioned. */
  public readonly mode: CacheMode;
  /** Shards of the replication group (1 for serverless, which shards itself). */
  public readonly shards: number;
  /** Read replicas per shard (0 for a serverless cache, whose replication is not the client's to confirm). */
  public readonly replicas: number;
  /** Member nodes whose metrics the alarms combine (at most 10, the alarm metric-math limit). */
  public readonly watchedNodeCount: number;

  /** The node-based cache (replication-group mode). */
  public readonly replicationGroup?: elasticache.CfnReplicationGroup;
  /** The serverless cache (serverless mode). */
  public readonly serverlessCache?: elasticache.CfnServerlessCache;

  private readonly nodeIds: readonly string[];
  private readonly serverlessName?: string;
  private readonly serverlessMaxStorageGb: number;

  constructor(scope: Construct, id: string, props: CacheProps) {
    super(scope, id);
    this.mode = props.mode ?? 'replication-group';
    const engine = props.engine ?? 'valkey';
    const replicas = props.replicas ?? 1;
    this.replicas = props.mode === 'serverless' ? 0 : replicas;
    this.shards = this.mode === 'serverless' ? 1 : (props.shards ?? 1);
    if (!Number.isInteger(this.shards) || this.shards < 1 || this.shards > 500) {
      throw new Error(`Cache: shards must be an integer from 1 to 500; got ${this.shards}`);
    }
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.DESTROY;
    this.serverlessMaxStorageGb = props.serverlessMaxStorageGb ?? 5;
    this.clusterMode = this.mode === 'serverless' || this.shards > 1;
    this.endpointPort = this.mode === 'serverless' ? SERVERLESS_PORT : (props.port ?? 6390);

    this.authSecret = new secretsmanager.Secret(this, 'AuthToken', {
      description: 'ElastiCache AUTH token of the chatbot cache',
      // AUTH tokens allow 16-128 printable characters but not '@', '"' or '/'; letters and digits are always safe.
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
      // A snapshot restored later still needs the token it was taken with.
      removalPolicy: removalPolicy === RemovalPolicy.DESTROY ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    });
    Validations.of(this.authSecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'ElastiCache has no managed rotation for AUTH tokens (it takes a ModifyReplicationGroup with a ROTATE strategy); rotate by hand as docs/deploy.md describes.',
    });

    const securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'ElastiCache: reachable only from the chatbot functions on the cache port',
      allowAllOutbound: false,
    });
    this.connections = new ec2.Connections({
      securityGroups: [securityGroup],
      defaultPort: ec2.Port.tcp(this.endpointPort),
    });
    const subnetIds = props.vpc.selectSubnets(props.subnets).subnetIds;

    if (this.mode === 'serverless') {
      this.serverlessName = Names.uniqueResourceName(this, { maxLength: 40, separator: '-' }).toLowerCase();
      // Serverless caches authenticate through a user group; a user named "default" makes a plain
      // `AUTH <token>` (what the functions send) work exactly as with a replication group's AUTH token.
      const user = new elasticache.CfnUser(this, 'DefaultUser', {
        engine,
        userId: `${this.serverlessName}-default`.slice(0, 40),
        userName: 'default',
        accessString: 'on ~* +@all',
        passwords: [this.authSecret.secretValue.unsafeUnwrap()],
      });
      const userGroup = new elasticache.CfnUserGroup(this, 'UserGroup', {
        engine,
        userGroupId: `${this.serverlessName}-users`.slice(0, 40),
        // Ref of a user is its id; using it (not the literal) orders the creation.
        userIds: [user.ref],
      });
      const cache = new elasticache.CfnServerlessCache(this, 'ServerlessCache', {
        serverlessCacheName: this.serverlessName,
        description: 'Chatbot cache-aside and LLM context',
        engine,
        majorEngineVersion: SERVERLESS_MAJOR_VERSIONS[engine],
        securityGroupIds: [securityGroup.securityGroupId],
        subnetIds,
        userGroupId: userGroup.ref,
        cacheUsageLimits: { dataStorage: { maximum: this.serverlessMaxStorageGb, unit: 'GB' } },
      });
      if (removalPolicy === RemovalPolicy.SNAPSHOT) {
        // Snapshot names are unique per account and Region: the first part of the stack id's UUID keeps
        // stacks apart (a second removal within one stack needs the first snapshot deleted; docs/deploy.md).
        const stackUuid = Fn.select(2, Fn.split('/', Aws.STACK_ID));
        cache.finalSnapshotName = Fn.join('-', [this.serverlessName, 'final', Fn.select(0, Fn.split('-', stackUuid))]);
        cache.applyRemovalPolicy(RemovalPolicy.DESTROY);
      } else {
        cache.applyRemovalPolicy(removalPolicy);
      }
      this.serverlessCache = cache;
      this.endpointHost = cache.attrEndpointAddress;
      this.nodeIds = [];
      this.watchedNodeCount = 0;
      return;
    }

    const subnetGroup = new elasticache.CfnSubnetGroup(this, 'SubnetGroup', {
      description: 'Isolated subnets of the chatbot cache',
      subnetIds,
    });
    const replicationGroup = new elasticache.CfnReplicationGroup(this, 'ReplicationGroup', {
      replicationGroupDescription: 'Chatbot cache-aside and LLM context',
      engine,
      engineVersion: ENGINE_VERSIONS[engine],
      cacheNodeType: props.nodeType ?? 'cache.t4g.small',
      ...(this.clusterMode
        ? {
            // Cluster mode enabled: hash slots spread over the shards, each with its replicas.
            clusterMode: 'enabled',
            numNodeGroups: this.shards,
            replicasPerNodeGroup: replicas,
            cacheParameterGroupName: CLUSTER_PARAMETER_GROUPS[engine],
          }
        : { numCacheClusters: 1 + replicas }),
      // A cluster-mode-enabled group needs automatic failover whatever the replica count.
      automaticFailoverEnabled: replicas > 0 || this.clusterMode,
      multiAzEnabled: replicas > 0,
      port: this.endpointPort,
      cacheSubnetGroupName: subnetGroup.ref,
      securityGroupIds: [securityGroup.securityGroupId],
      atRestEncryptionEnabled: true,
      transitEncryptionEnabled: true,
      transitEncryptionMode: 'required',
      // A dynamic reference: the token never appears in the template, only where to resolve it.
      authToken: this.authSecret.secretValue.unsafeUnwrap(),
      autoMinorVersionUpgrade: true,
      snapshotRetentionLimit: 1,
    });
    replicationGroup.applyRemovalPolicy(removalPolicy);
    this.replicationGroup = replicationGroup;
    if (this.clusterMode) {
      // cacheShards N→M (both above 1) adds or removes shards in place instead of replacing the group.
      replicationGroup.cfnOptions.updatePolicy = { useOnlineResharding: true };
    }
    if (replicas === 0) {
      Validations.of(replicationGroup).acknowledge({
        id: 'AwsSolutions-AEC4',
        reason: 'cacheReplicas=0 was chosen explicitly: a single-node cache is a cost trade-off, and a cache outage only slows requests (they fall back to Postgres).',
      });
    }
    if (this.clusterMode) {
      // Clients discover the shards from the configuration endpoint (CLUSTER SLOTS).
      this.endpointHost = replicationGroup.attrConfigurationEndPointAddress;
      // Members of a cluster-mode-enabled group are <group id>-<shard 0001…>-<node 001…>. Alarm metric math takes
      // at most 10 metrics: the first node of as many shards as fit, then their replicas (a replica holds the
      // same keys as its primary, so memory and evictions track the shard whichever node is primary).
      const ids: string[] = [];
      for (let node = 1; node <= 1 + replicas; node++) {
        for (let shard = 1; shard <= this.shards; shard++) {
          ids.push(`${replicationGroup.ref}-${String(shard).padStart(4, '0')}-${String(node).padStart(3, '0')}`);
        }
      }
      this.nodeIds = ids.slice(0, MAX_ALARM_METRICS);
    } else {
      this.endpointHost = replicationGroup.attrPrimaryEndPointAddress;
      // Members of a cluster-mode-disabled group are named <group id>-001, -002, ...; metrics are per member.
      this.nodeIds = Array.from({ length: 1 + replicas }, (_, i) => `${replicationGroup.ref}-${String(i + 1).padStart(3, '0')}`);
    }
    this.watchedNodeCount = this.nodeIds.length;
  }

  /** Lets `grantee` read the AUTH token. */
  public grantReadAuthToken(grantee: iam.IGrantable): iam.Grant {
    return this.authSecret.grantRead(grantee);
  }

  /** Used memory as a percentage of the maximum (worst node; serverless: of the storage cap). */
  public metricMemoryUsagePercent(props?: cloudwatch.MetricOptions): cloudwatch.IMetric {
    if (this.serverlessName) {
      return new cloudwatch.MathExpression({
        expression: `100 * bytes / ${this.serverlessMaxStorageGb * 1e9}`,
        usingMetrics: { bytes: this.metric('BytesUsedForCache', { statistic: 'Maximum', ...props }) },
        label: 'Memory used (% of storage cap)',
        period: props?.period ?? Duration.minutes(5),
      });
    }
    return this.acrossNodes('DatabaseMemoryUsagePercentage', 'MAX', 'Memory used % (max node)', { statistic: 'Maximum', ...props });
  }

  /** Keys evicted because memory was full. */
  public metricEvictions(props?: cloudwatch.MetricOptions): cloudwatch.IMetric {
    return this.acrossNodes('Evictions', 'SUM', 'Evictions', { statistic: 'Sum', ...props });
  }

  /** Client connections (all nodes). */
  public metricCurrConnections(props?: cloudwatch.MetricOptions): cloudwatch.IMetric {
    return this.acrossNodes('CurrConnections', 'SUM', 'Connections', { statistic: 'Maximum', ...props });
  }

  /**
   * CPU of the engine thread (worst node). Serverless caches have no CPU metric —
   * they scale out instead — so this is their ElastiCache Processing Units (ECPU) count.
   */
  public metricEngineCpuUtilization(props?: cloudwatch.MetricOptions): cloudwatch.IMetric {
    if (this.serverlessName) {
      return this.metric('ElastiCacheProcessingUnits', { statistic: 'Sum', label: 'ECPUs', ...props });
    }
    return this.acrossNodes('EngineCPUUtilization', 'MAX', 'Engine CPU % (max node)', { statistic: 'Maximum', ...props });
  }

  /** Any AWS/ElastiCache metric of this cache (serverless) or of one member node. */
  public metric(metricName: string, props: cloudwatch.MetricOptions & { readonly nodeId?: string } = {}): cloudwatch.Metric {
    const { nodeId, ...options } = props;
    const dimensionsMap: Record<string, string> = this.serverlessName
      ? { clusterId: this.serverlessName }
      : { CacheClusterId: nodeId ?? this.nodeIds[0] };
    return new cloudwatch.Metric({
      namespace: 'AWS/ElastiCache',
      metricName,
      dimensionsMap,
      period: Duration.minutes(5),
      ...options,
    });
  }

  private acrossNodes(
    metricName: string,
    reducer: 'MAX' | 'SUM',
    label: string,
    props: cloudwatch.MetricOptions,
  ): cloudwatch.IMetric {
    if (this.serverlessName || this.nodeIds.length === 1) {
      return this.metric(metricName, { label, ...props });
    }
    const usingMetrics = Object.fromEntries(
      this.nodeIds.map((nodeId, i) => [`n${i}`, this.metric(metricName, { ...props, nodeId })]),
    );
    return new cloudwatch.MathExpression({
      expression: `${reducer}([${Object.keys(usingMetrics).join(',')}])`,
      usingMetrics,
      label,
      period: props.period ?? Duration.minutes(5),
    });
  }
}
