import { Duration, RemovalPolicy, Size, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { envDefault } from '../layer/src/contracts/environment';
import type { DatabaseMode } from './stack-config';

/** Props for {@link Database}. */
export interface DatabaseProps {
  /** The VPC to place the database (and the proxy) in. */
  readonly vpc: ec2.IVpc;
  /** Isolated subnets for the database (and the proxy). */
  readonly subnets: ec2.SubnetSelection;
  /** One RDS PostgreSQL instance behind RDS Proxy, or an Aurora PostgreSQL Serverless v2 cluster. @default 'instance' */
  readonly mode?: DatabaseMode;
  /** Instance class without the `db.` prefix (instance mode). @default 't4g.micro' */
  readonly instanceType?: string;
  /** Allocated storage in GB; autoscaling may grow it up to 5x (instance mode). @default 20 */
  readonly allocatedStorageGb?: number;
  /** Minimum Aurora capacity in ACUs; 0 lets the writer pause when idle (aurora-serverless mode). @default 0 */
  readonly minCapacityAcu?: number;
  /** Maximum Aurora capacity in ACUs (aurora-serverless mode). @default 4 */
  readonly maxCapacityAcu?: number;
  /** Serverless v2 readers besides the writer, failover targets in other AZs (aurora-serverless mode). @default 0 */
  readonly readers?: number;
  /** Name of the application database. @default 'chatbot' */
  readonly databaseName?: string;
  /** Port of the database; in instance mode only the proxy connects to it (clients use the proxy's 5432). @default 5433 */
  readonly port?: number;
  /** Standby in a second AZ (instance mode; Aurora gets one through `readers`). @default false */
  readonly multiAz?: boolean;
  /** Refuse deletion until turned off. @default false */
  readonly deletionProtection?: boolean;
  /**
   * What happens to the instance or cluster when it is replaced (a `databaseMode` switch, a
   * create-only change) or removed with the stack. SNAPSHOT deletes it after a final snapshot.
   * @default RemovalPolicy.SNAPSHOT
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * What happens to both credential secrets. A snapshot restored into this stack later logs in
   * with the passwords it was taken with; elsewhere a new master password can be set on restore.
   * @default RemovalPolicy.RETAIN, or DESTROY when `removalPolicy` is DESTROY
   */
  readonly secretsRemovalPolicy?: RemovalPolicy;
  /** Automated backup retention. @default Duration.days(7) */
  readonly backupRetention?: Duration;
  /** Rotation period of the generated passwords. @default Duration.days(30) */
  readonly rotationPeriod?: Duration;
}

/** The port RDS Proxy listens on for PostgreSQL (fixed by the service). */
export const PROXY_PORT = 5432;
/** The RDS master user: migrations and rotation only. */
export const MASTER_DATABASE_USER = 'chatbot_admin';
/** The role the API functions connect as; `layer/migrations/004_app_role.sql` creates it with table-level grants only. */
export const APP_DATABASE_USER = 'chatbot_app';

/** How long a new connection may take, per database mode, for a request and for a job (migrate, purge). */
export interface ConnectWait {
  /** The API functions: the gateway's 29 s integration timeout bounds it. */
  readonly request: Duration;
  /** Deploy-time migrations and the daily purge: minutes to spare, and no one waiting. */
  readonly job: Duration;
}

/**
 * How long the first connection to a paused Aurora Serverless v2 writer waits for it to resume
 * ("about 15 seconds", Aurora's auto-pause documentation; docs/deploy.md, "Database modes").
 */
export const AURORA_RESUME_TIME = Duration.seconds(15);

/**
 * Connect waits per database mode: with Aurora, well past its resume time; RDS Proxy answers at
 * once and queues for a backend itself.
 */
export const CONNECT_WAITS: Readonly<Record<DatabaseMode, ConnectWait>> = {
  instance: { request: Duration.millis(envDefault('DATABASE_CONNECT_TIMEOUT_MS')), job: Duration.seconds(10) },
  'aurora-serverless': { request: Duration.seconds(20), job: Duration.seconds(30) },
};

/** Bytes per connection in RDS's default `max_connections = LEAST(DBInstanceClassMemory/9531392, 5000)`. */
const BYTES_PER_CONNECTION = 9_531_392;
const GIB = 1024 ** 3;
/** GiB per vCPU by instance family letter (m general purpose, r memory optimised, ...). */
const GIB_PER_VCPU: Record<string, number> = { c: 2, m: 4, r: 8, z: 8, x: 16 };
const BURSTABLE_GIB: Record<string, number> = { micro: 1, small: 2, medium: 4, large: 8, xlarge: 16, '2xlarge': 32 };

/** Memory of an RDS instance class (`t4g.micro`, `r7g.2xlarge`), from the published class sizes. */
export function instanceClassMemoryGib(instanceType: string): number {
  const [family, size] = instanceType.replace(/^db\./, '').split('.');
  if (family.startsWith('t')) return BURSTABLE_GIB[size] ?? 1;
  const vcpus = size === 'large' ? 2 : size === 'xlarge' ? 4 : Number(size.replace('xlarge', '')) * 4 || 2;
  return vcpus * (GIB_PER_VCPU[family[0]] ?? 4);
}

/**
 * RDS's default `max_connections` for a memory size. An upper bound: RDS computes it from
 * DBInstanceClassMemory, which is the class's memory less what the OS and RDS reserve.
 */
export function defaultMaxConnections(memoryGib: number): number {
  return Math.min(Math.floor((memoryGib * GIB) / BYTES_PER_CONNECTION), 5000);
}

/**
 * PostgreSQL with generated, rotated credentials in Secrets Manager and a separate
 * application role. `instance` mode: one RDS instance reached only through an RDS Proxy
 * that requires TLS (many short-lived Lambda containers share the proxy's pooled
 * connections). `aurora-serverless` mode: an Aurora Serverless v2 cluster the functions
 * reach directly over TLS, so that it can pause at 0 ACUs (a proxy keeps connections open,
 * which keeps the writer from pausing, and bills a minimum of its own).
 */
export class Database extends Construct {
  /** How the database is provisioned. */
  public readonly mode: DatabaseMode;
  /** The PostgreSQL instance (instance mode). */
  public readonly instance?: rds.DatabaseInstance;
  /** The Aurora cluster (aurora-serverless mode). */
  public readonly cluster?: rds.DatabaseCluster;
  /** The proxy the functions connect to (instance mode). */
  public readonly proxy?: rds.DatabaseProxy;
  /** Host the functions connect to: the proxy, or the cluster's writer endpoint. */
  public readonly endpointHost: string;
  /** Port the functions connect to. */
  public readonly endpointPort: number;
  /** Master credentials: read only by the migrate function and the rotation. */
  public readonly masterSecret: secretsmanager.ISecret;
  /** Credentials of {@link APP_DATABASE_USER}, the role the API functions use. */
  public readonly appSecret: secretsmanager.ISecret;
  /** Name of the application database. */
  public readonly databaseName: string;
  /** Network access to what the functions connect to (proxy or cluster). */
  public readonly connections: ec2.Connections;
  /**
   * True when clients reach the database itself, whose certificate is signed by the RDS CA
   * (not in Node's default trust store); false behind RDS Proxy, whose certificate is from ACM.
   */
  public readonly presentsRdsCertificate: boolean;
  /** RDS's default `max_connections` for the instance class or the maximum ACUs (an upper bound). */
  public readonly maxConnections: number;
  /** How long a client must be willing to wait for a new connection in this mode. */
  public readonly connectWait: ConnectWait;
  /** Initially allocated storage in bytes (instance mode; Aurora storage grows by itself). */
  public readonly allocatedStorageBytes?: number;
  /**
   * What a client needs in place before it can connect: the database (and proxy), both
   * secrets with their attachments, the security groups and their rules. Not the app secret's
   * rotation, which must wait for the app role's first login ({@link rotateAppSecretAfter}).
   */
  public readonly clientDependencies: readonly Construct[];

  /** The functions rotating the master and the app role's passwords (one serverless application each). */
  private readonly rotationFunctions: readonly lambda.IFunction[];

  constructor(scope: Construct, id: string, props: DatabaseProps) {
    super(scope, id);
    this.mode = props.mode ?? 'instance';
    this.databaseName = props.databaseName ?? 'chatbot';
    const port = props.port ?? 5433;
    this.connectWait = CONNECT_WAITS[this.mode];
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.SNAPSHOT;
    const secretRemovalPolicy = props.secretsRemovalPolicy ?? (removalPolicy === RemovalPolicy.DESTROY ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN);
    const deletionProtection = props.deletionProtection ?? false;
    const rotation = {
      automaticallyAfter: props.rotationPeriod ?? Duration.days(30),
      vpcSubnets: props.subnets,
      // The first rotation would otherwise run while the deploy's migration connects; between its
      // setSecret and finishSecret steps the password in the secret no longer works. It now runs
      // on schedule, after the deploy (the migration still retries once with a fresh secret).
      rotateImmediatelyOnUpdate: false,
    };

    const databaseSecurityGroup = new ec2.SecurityGroup(this, 'InstanceSecurityGroup', {
      vpc: props.vpc,
      // One text for both modes: a description is create-only, and a group replaced while the old
      // database still holds it cannot be deleted.
      description: 'PostgreSQL: reachable only from its clients (RDS Proxy, or the functions with Aurora) and the rotation functions',
      allowAllOutbound: false,
    });
    const masterCredentials = rds.Credentials.fromGeneratedSecret(MASTER_DATABASE_USER);
    const appSecret = new rds.DatabaseSecret(this, 'AppSecret', {
      username: APP_DATABASE_USER,
      dbname: this.databaseName,
      // The same characters the generated master password avoids (they break connection strings and shells).
      excludeCharacters: " %+~`#$&*()|[]{}:;<>?!'/@\"\\",
    });
    appSecret.applyRemovalPolicy(secretRemovalPolicy);

    let target: rds.DatabaseInstance | rds.DatabaseCluster;
    if (this.mode === 'instance') {
      const instanceType = props.instanceType ?? 't4g.micro';
      const allocatedStorageGb = props.allocatedStorageGb ?? 20;
      this.allocatedStorageBytes = Size.gibibytes(allocatedStorageGb).toBytes();
      const instance = new rds.DatabaseInstance(this, 'Instance', {
        // A full minor version: cfn-lint (W3691) reports the bare major '17' as not valid for new instances.
        // Minor upgrades then happen in place (autoMinorVersionUpgrade); bump this when AWS deprecates it.
        engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_17_9 }),
        instanceType: new ec2.InstanceType(instanceType),
        vpc: props.vpc,
        vpcSubnets: props.subnets,
        securityGroups: [databaseSecurityGroup],
        credentials: masterCredentials,
        databaseName: this.databaseName,
        port,
        storageType: rds.StorageType.GP3,
        allocatedStorage: allocatedStorageGb,
        maxAllocatedStorage: allocatedStorageGb * 5,
        storageEncrypted: true,
        multiAz: props.multiAz ?? false,
        deletionProtection,
        removalPolicy,
        backupRetention: props.backupRetention ?? Duration.days(7),
        autoMinorVersionUpgrade: true,
        publiclyAccessible: false,
      });
      this.instance = instance;
      target = instance;
      this.masterSecret = instance.secret!;
      this.maxConnections = defaultMaxConnections(instanceClassMemoryGib(instanceType));
      if (!(props.multiAz ?? false)) {
        Validations.of(instance).acknowledge({
          id: 'AwsSolutions-RDS3',
          reason: 'Non-production stage: a single-AZ instance halves the cost; stage=prod turns Multi-AZ on.',
        });
      }
      if (!deletionProtection) {
        Validations.of(instance).acknowledge({
          id: 'AwsSolutions-RDS10',
          reason: 'Non-production stage: the stack must be deletable (it leaves a final snapshot); stage=prod turns deletion protection on.',
        });
      }
    } else {
      const minCapacity = props.minCapacityAcu ?? 0;
      const maxCapacity = props.maxCapacityAcu ?? 4;
      const readers = props.readers ?? 0;
      const halfStep = (value: number) => Number.isInteger(value * 2);
      if (!halfStep(minCapacity) || minCapacity < 0 || minCapacity > 256) {
        throw new Error(`Database: minCapacityAcu must be 0 to 256 in steps of 0.5; got ${minCapacity}`);
      }
      if (!halfStep(maxCapacity) || maxCapacity < Math.max(1, minCapacity) || maxCapacity > 256) {
        throw new Error(`Database: maxCapacityAcu must be 1 to 256 in steps of 0.5 and at least minCapacityAcu; got ${maxCapacity}`);
      }
      if (!Number.isInteger(readers) || readers < 0 || readers > 15) {
        throw new Error(`Database: readers must be an integer from 0 to 15; got ${readers}`);
      }
      const cluster = new rds.DatabaseCluster(this, 'Cluster', {
        // Aurora PostgreSQL 17 allows a minimum of 0 ACUs (auto-pause); `aws rds describe-db-engine-versions`
        // reports it per version as ServerlessV2FeaturesSupport.MinCapacity (see docs/deploy.md).
        engine: rds.DatabaseClusterEngine.auroraPostgres({ version: rds.AuroraPostgresEngineVersion.VER_17_9 }),
        writer: rds.ClusterInstance.serverlessV2('Writer', { autoMinorVersionUpgrade: true, publiclyAccessible: false }),
        readers: Array.from({ length: readers }, (_, i) =>
          // Failover targets that follow the writer's capacity, so a promoted reader can carry the load.
          rds.ClusterInstance.serverlessV2(`Reader${i + 1}`, { scaleWithWriter: true, autoMinorVersionUpgrade: true, publiclyAccessible: false }),
        ),
        serverlessV2MinCapacity: minCapacity,
        serverlessV2MaxCapacity: maxCapacity,
        ...(minCapacity === 0 ? { serverlessV2AutoPauseDuration: Duration.minutes(5) } : {}),
        vpc: props.vpc,
        vpcSubnets: props.subnets,
        securityGroups: [databaseSecurityGroup],
        credentials: masterCredentials,
        defaultDatabaseName: this.databaseName,
        port,
        storageEncrypted: true,
        // Clients connect directly (no proxy): refuse anything but TLS.
        parameters: { 'rds.force_ssl': '1' },
        deletionProtection,
        removalPolicy,
        backup: { retention: props.backupRetention ?? Duration.days(7) },
      });
      this.cluster = cluster;
      target = cluster;
      this.masterSecret = cluster.secret!;
      this.maxConnections = defaultMaxConnections(2 * maxCapacity);
      Validations.of(cluster).acknowledge(
        {
          id: 'AwsSolutions-RDS6',
          reason: 'Clients authenticate with Secrets Manager passwords rotated every 30 days; IAM database auth would add a token call to every cold start.',
        },
        ...(deletionProtection
          ? []
          : [{ id: 'AwsSolutions-RDS10', reason: 'Non-production stage: the stack must be deletable (it leaves a final snapshot); stage=prod turns deletion protection on.' }]),
      );
    }
    // `secret` is the attachment (it adds host and port); the generated secret itself is the target's child.
    (target.node.findChild('Secret') as secretsmanager.Secret).applyRemovalPolicy(secretRemovalPolicy);
    // The app secret gets host, port and engine from the database, as the master secret does.
    const attachedAppSecret = appSecret.attach(target);
    this.appSecret = attachedAppSecret;

    // The proxy (and each direct client) reads the secret on every new connection, so rotation needs no redeploy.
    const masterRotation = target.addRotationSingleUser(rotation);
    // The app role changes its own password (PostgreSQL lets a role do that without privileges).
    const appRotation = new secretsmanager.SecretRotation(this, 'AppSecretRotation', {
      application: secretsmanager.SecretRotationApplication.POSTGRES_ROTATION_SINGLE_USER,
      secret: attachedAppSecret,
      target,
      vpc: props.vpc,
      excludeCharacters: " %+~`#$&*()|[]{}:;<>?!'/@\"\\",
      ...rotation,
    });

    // SecretRotation imports the function its serverless application creates by the application's output ARN.
    this.rotationFunctions = [masterRotation, appRotation].map((rotation) => rotation.node.findChild('RotationLambda') as lambda.IFunction);

    // The app secret and its attachment, without the rotation schedule CDK puts under the attachment.
    const appSecretResources = [appSecret.node.defaultChild as Construct, (attachedAppSecret as unknown as Construct).node.defaultChild as Construct];

    if (this.instance) {
      const proxySecurityGroup = new ec2.SecurityGroup(this, 'ProxySecurityGroup', {
        vpc: props.vpc,
        description: 'RDS Proxy: reachable only from the chatbot functions on 5432',
        allowAllOutbound: false,
      });
      this.proxy = this.instance.addProxy('Proxy', {
        // One secret per database user the proxy may log in as: the app role, and the master for migrations.
        secrets: [attachedAppSecret, this.masterSecret],
        vpc: props.vpc,
        vpcSubnets: props.subnets,
        securityGroups: [proxySecurityGroup],
        requireTLS: true,
      });
      proxySecurityGroup.connections.allowTo(this.instance, ec2.Port.tcp(port), 'RDS Proxy to PostgreSQL');
      // The proxy fetches credentials from Secrets Manager itself (through the VPC's interface endpoint).
      proxySecurityGroup.addEgressRule(ec2.Peer.ipv4(props.vpc.vpcCidrBlock), ec2.Port.tcp(443), 'RDS Proxy to the Secrets Manager endpoint');
      this.endpointHost = this.proxy.endpoint;
      this.endpointPort = PROXY_PORT;
      this.presentsRdsCertificate = false;
      this.connections = new ec2.Connections({ securityGroups: [proxySecurityGroup], defaultPort: ec2.Port.tcp(PROXY_PORT) });
      // The proxy is the instance's child; so are the master secret, its attachment and its rotation.
      this.clientDependencies = [this.instance, proxySecurityGroup, databaseSecurityGroup, ...appSecretResources];
    } else {
      this.endpointHost = this.cluster!.clusterEndpoint.hostname;
      this.endpointPort = port;
      this.presentsRdsCertificate = true;
      this.connections = new ec2.Connections({ securityGroups: [databaseSecurityGroup], defaultPort: ec2.Port.tcp(port) });
      this.clientDependencies = [this.cluster!, databaseSecurityGroup, ...appSecretResources];
    }
  }

  /**
   * Holds back the app secret's rotation schedule until `dependency` (the migration that gives
   * the app role its login) has run. Secrets Manager tests a new schedule's rotation function
   * right away, even when it does not rotate (`RotateImmediatelyOnUpdate: false` runs the
   * testSecret step), and that test logs in as the app role.
   */
  public rotateAppSecretAfter(dependency: Construct): void {
    // SecretRotation adds the schedule to the secret it rotates (here the attachment), not to itself.
    const schedule = (this.appSecret as unknown as Construct).node.tryFindChild('RotationSchedule');
    if (!schedule) throw new Error('Database: the app secret has no rotation schedule');
    schedule.node.addDependency(dependency);
  }

  /** Lets `grantee` read the application role's credentials (what the API functions connect with). */
  public grantConnect(grantee: iam.IGrantable): iam.Grant {
    return this.appSecret.grantRead(grantee);
  }

  /**
   * Lets `grantee` run migrations: the master credentials, and the application role's
   * (the migrate function sets that role's first password from its secret).
   */
  public grantMigrate(grantee: iam.IGrantable): iam.Grant {
    this.appSecret.grantRead(grantee);
    return this.masterSecret.grantRead(grantee);
  }

  /** CPU of the instance, or of the Aurora writer. */
  public metricCpuUtilization(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('CPUUtilization', { statistic: 'Average', ...props });
  }

  /** Connections open on the database (the proxy's pooled backends, or the functions' own). */
  public metricDatabaseConnections(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('DatabaseConnections', { statistic: 'Maximum', ...props });
  }

  /** Free storage in bytes (instance mode only; Aurora storage grows by itself). */
  public metricFreeStorageSpace(props?: cloudwatch.MetricOptions): cloudwatch.Metric | undefined {
    return this.instance ? this.metric('FreeStorageSpace', { statistic: 'Minimum', ...props }) : undefined;
  }

  /** Capacity used as a percentage of the maximum ACUs (aurora-serverless mode only). */
  public metricAcuUtilization(props?: cloudwatch.MetricOptions): cloudwatch.Metric | undefined {
    return this.cluster ? this.metric('ACUUtilization', { statistic: 'Maximum', ...props }) : undefined;
  }

  /**
   * Failed invocations of the two rotation functions. A failed step leaves the secret's AWSPENDING
   * version behind and the password unchanged; Secrets Manager retries on the next schedule only.
   */
  public metricRotationErrors(props?: cloudwatch.MetricOptions): cloudwatch.IMetric {
    const usingMetrics = Object.fromEntries(this.rotationFunctions.map((fn, i) => [`r${i}`, fn.metricErrors({ statistic: 'Sum', period: Duration.minutes(5), ...props })]));
    return new cloudwatch.MathExpression({
      expression: `SUM([${Object.keys(usingMetrics).join(',')}])`,
      usingMetrics,
      label: 'Secret rotation errors',
      period: props?.period ?? Duration.minutes(5),
    });
  }

  /**
   * Client connections open on the RDS Proxy (instance mode only): every warm function container
   * holds up to DATABASE_POOL_MAX of them. Published per minute per proxy node; their Sum is the total.
   */
  public metricProxyClientConnections(props?: cloudwatch.MetricOptions): cloudwatch.Metric | undefined {
    if (!this.proxy) return undefined;
    return new cloudwatch.Metric({
      namespace: 'AWS/RDS',
      metricName: 'ClientConnections',
      dimensionsMap: { ProxyName: this.proxy.dbProxyName },
      statistic: 'Sum',
      period: Duration.minutes(1),
      ...props,
    });
  }

  /** Any AWS/RDS metric of the instance or of the cluster. */
  public metric(metricName: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: 'AWS/RDS',
      metricName,
      dimensionsMap: this.instance
        ? { DBInstanceIdentifier: this.instance.instanceIdentifier }
        : { DBClusterIdentifier: this.cluster!.clusterIdentifier },
      period: Duration.minutes(5),
      ...props,
    });
  }
}
