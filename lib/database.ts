import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as rds from 'aws-cdk-lib/aws-rds';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

/** Props for {@link Database}. */
export interface DatabaseProps {
  /** The VPC to place the instance and the proxy in. */
  readonly vpc: ec2.IVpc;
  /** Isolated subnets for the instance and the proxy. */
  readonly subnets: ec2.SubnetSelection;
  /** Instance class without the `db.` prefix. @default 't4g.micro' */
  readonly instanceType?: string;
  /** Allocated storage in GB; autoscaling may grow it up to 5x. @default 20 */
  readonly allocatedStorageGb?: number;
  /** Name of the application database. @default 'chatbot' */
  readonly databaseName?: string;
  /** Port of the instance; only the proxy connects to it, clients use the proxy's 5432. @default 5433 */
  readonly instancePort?: number;
  /** Standby in a second AZ. @default false */
  readonly multiAz?: boolean;
  /** Refuse `DeleteDBInstance` until turned off. @default false */
  readonly deletionProtection?: boolean;
  /** What happens to the instance when the stack is deleted (SNAPSHOT keeps a final snapshot). @default RemovalPolicy.DESTROY */
  readonly removalPolicy?: RemovalPolicy;
  /** Automated backup retention. @default Duration.days(7) */
  readonly backupRetention?: Duration;
  /** Rotation period of the generated master password. @default Duration.days(30) */
  readonly rotationPeriod?: Duration;
}

/** The port RDS Proxy listens on for PostgreSQL (fixed by the service). */
export const PROXY_PORT = 5432;

/**
 * RDS PostgreSQL with generated, rotated credentials in Secrets Manager, reached
 * only through an RDS Proxy that requires TLS (many short-lived Lambda
 * containers share the proxy's pooled connections instead of exhausting the
 * instance's).
 */
export class Database extends Construct {
  /** The PostgreSQL instance. */
  public readonly instance: rds.DatabaseInstance;
  /** The proxy clients connect to. */
  public readonly proxy: rds.DatabaseProxy;
  /** Credentials `{username,password,host,port,dbname,engine}`, as RDS generates them. */
  public readonly secret: secretsmanager.ISecret;
  /** Name of the application database. */
  public readonly databaseName: string;
  /** Network access to the proxy on 5432. */
  public readonly connections: ec2.Connections;

  constructor(scope: Construct, id: string, props: DatabaseProps) {
    super(scope, id);
    this.databaseName = props.databaseName ?? 'chatbot';
    const instancePort = props.instancePort ?? 5433;

    const instanceSecurityGroup = new ec2.SecurityGroup(this, 'InstanceSecurityGroup', {
      vpc: props.vpc,
      description: 'PostgreSQL instance: reachable only from its RDS Proxy and the rotation function',
      allowAllOutbound: false,
    });
    const proxySecurityGroup = new ec2.SecurityGroup(this, 'ProxySecurityGroup', {
      vpc: props.vpc,
      description: 'RDS Proxy: reachable only from the chatbot functions on 5432',
      allowAllOutbound: false,
    });

    this.instance = new rds.DatabaseInstance(this, 'Instance', {
      engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_17 }),
      instanceType: new ec2.InstanceType(props.instanceType ?? 't4g.micro'),
      vpc: props.vpc,
      vpcSubnets: props.subnets,
      securityGroups: [instanceSecurityGroup],
      credentials: rds.Credentials.fromGeneratedSecret('chatbot_admin'),
      databaseName: this.databaseName,
      port: instancePort,
      storageType: rds.StorageType.GP3,
      allocatedStorage: props.allocatedStorageGb ?? 20,
      maxAllocatedStorage: (props.allocatedStorageGb ?? 20) * 5,
      storageEncrypted: true,
      multiAz: props.multiAz ?? false,
      deletionProtection: props.deletionProtection ?? false,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.DESTROY,
      backupRetention: props.backupRetention ?? Duration.days(7),
      autoMinorVersionUpgrade: true,
      publiclyAccessible: false,
    });
    this.secret = this.instance.secret!;
    if (!(props.multiAz ?? false)) {
      Validations.of(this.instance).acknowledge({
        id: 'AwsSolutions-RDS3',
        reason: 'Non-production stage: a single-AZ instance halves the cost; stage=prod turns Multi-AZ on.',
      });
    }
    if (!(props.deletionProtection ?? false)) {
      Validations.of(this.instance).acknowledge({
        id: 'AwsSolutions-RDS10',
        reason: 'Non-production stage: the stack must be deletable; stage=prod turns deletion protection (and a final snapshot) on.',
      });
    }

    this.proxy = this.instance.addProxy('Proxy', {
      secrets: [this.secret],
      vpc: props.vpc,
      vpcSubnets: props.subnets,
      securityGroups: [proxySecurityGroup],
      requireTLS: true,
    });
    proxySecurityGroup.connections.allowTo(this.instance, ec2.Port.tcp(instancePort), 'RDS Proxy to PostgreSQL');

    // The proxy reads the secret on every new backend connection, so rotation needs no redeploy.
    this.instance.addRotationSingleUser({
      automaticallyAfter: props.rotationPeriod ?? Duration.days(30),
      vpcSubnets: props.subnets,
    });

    this.connections = new ec2.Connections({
      securityGroups: [proxySecurityGroup],
      defaultPort: ec2.Port.tcp(PROXY_PORT),
    });
  }

  /** Lets `grantee` read the credentials it presents to the proxy. */
  public grantConnect(grantee: iam.IGrantable): iam.Grant {
    return this.secret.grantRead(grantee);
  }

  /** CPU of the instance. */
  public metricCpuUtilization(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.instance.metricCPUUtilization({ period: Duration.minutes(5), ...props });
  }

  /** Connections open on the instance (the proxy's pooled backends). */
  public metricDatabaseConnections(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.instance.metricDatabaseConnections({ period: Duration.minutes(5), ...props });
  }
}
