import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AssetHashType, DockerImage, Duration, RemovalPolicy, Token, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as triggers from 'aws-cdk-lib/triggers';
import { Construct } from 'constructs';
import type { FunctionEnvironment } from '../layer/src/contracts/environment';
import { API_FUNCTIONS, type ApiFunctionName, type ApiFunctionSpec } from '../layer/src/contracts/route-table';
import { buildLayer, listMigrationFiles, MIGRATIONS_DIR, REPO_ROOT } from '../scripts/build-layer';

/** Props for {@link Functions}. */
export interface FunctionsProps {
  /** The VPC the functions run in. */
  readonly vpc: ec2.IVpc;
  /** Subnets for the functions' network interfaces. */
  readonly subnets: ec2.SubnetSelection;
  /** Environment shared by every function (database, cache, CORS, observability). */
  readonly environment: FunctionEnvironment;
  /** Extra environment of the functions that call the model (the route table's `callsModel`): the provider settings. @default {} */
  readonly modelEnvironment?: FunctionEnvironment;
  /** Secrets only the functions that call the model read (e.g. an OpenAI-compatible API key). @default [] */
  readonly modelSecrets?: readonly secretsmanager.ISecret[];
  /** Bedrock model / inference-profile ARNs the functions that call the model may stream from. @default [] (no Bedrock access) */
  readonly bedrockModelArns?: readonly string[];
  /** Whether the function subnets route to the internet; if so the functions may call out on 443. @default false */
  readonly internetEgress?: boolean;
  /** Memory of each function in MB (CPU scales with it). @default 1024 */
  readonly memorySize?: number;
  /** Timeout of the streaming functions: post-conversation, which streams the model's reply, and resume-conversation, which follows it. @default the route table's (5 minutes) */
  readonly postConversationTimeout?: Duration;
  /** How long a deleted conversation's rows are kept before the purge job removes them. @default 30 */
  readonly deletedRetentionDays?: number;
  /** Retention of the functions' log groups. @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** What happens to the log groups when the stack is deleted. @default RemovalPolicy.DESTROY */
  readonly removalPolicy?: RemovalPolicy;
}

/** Handler names, each a folder `lambdas/<name>/index.ts`: the API's functions and the two jobs. */
export type HandlerName = ApiFunctionName | 'migrate' | 'purge-deleted';

/** Path of a handler's entry file. */
export const handlerEntry = (name: HandlerName): string => path.join(REPO_ROOT, 'lambdas', name, 'index.ts');

/**
 * esbuild options of every handler bundle. The layer is CJS and found through
 * NODE_PATH (/opt/nodejs/node_modules), which only `require()` consults, so the
 * handlers are CJS too and leave `@chatbot/shared` to the layer.
 */
export const HANDLER_BUNDLING: nodejs.BundlingOptions = {
  minify: true,
  sourceMap: true,
  format: nodejs.OutputFormat.CJS,
  target: 'node24',
  externalModules: ['@chatbot/shared'],
  forceDockerBundling: false,
  // esbuild's per-bundle size report adds nothing to a synth; its warnings and errors still show.
  logLevel: nodejs.LogLevel.WARNING,
};

/** SHA-256 of the migration files: part of the migrate function's config, so a new migration re-runs the trigger. */
export function hashMigrations(): string {
  const hash = crypto.createHash('sha256');
  for (const file of listMigrationFiles()) {
    hash.update(file).update('\0').update(fs.readFileSync(path.join(MIGRATIONS_DIR, file))).update('\0');
  }
  return hash.digest('hex');
}

const callsModel = (spec: ApiFunctionSpec): boolean => spec.callsModel === true;

/** CloudFormation logical id of a function: `get-conversation` → `GetConversation`. */
export const logicalIdOf = (name: HandlerName): string => name.replace(/(^|-)([a-z])/g, (_, __, letter: string) => letter.toUpperCase());

/**
 * The shared layer (`@chatbot/shared`: cache service, DB client, migrations), one
 * function per entry of the route table's `API_FUNCTIONS`, the migrate function and the
 * scheduled purge of deleted conversations, all in the VPC behind one security group
 * that allows no egress until the stack opens specific ports.
 */
export class Functions extends Construct {
  /** The ONE layer every function loads `@chatbot/shared` from. */
  public readonly layer: lambda.LayerVersion;
  /** The API's functions, by route-table name. */
  public readonly apiFunctions: Readonly<Record<ApiFunctionName, nodejs.NodejsFunction>>;
  /** POST /backend-api/f/conversation and /backend-api/conversation (response streaming): the one that calls the model. */
  public readonly postConversation: nodejs.NodejsFunction;
  /** Hard-deletes conversations soft-deleted longer ago than the retention; run by {@link purgeSchedule}. */
  public readonly purgeDeleted: nodejs.NodejsFunction;
  /** The daily schedule of {@link purgeDeleted}. */
  public readonly purgeSchedule: events.Rule;
  /** Applies the SQL migrations; invoked by {@link migrationTrigger} at deploy time. */
  public readonly migrate: nodejs.NodejsFunction;
  /** Runs `migrate` during `cdk deploy`; call `executeAfter` with everything it needs to reach the database. */
  public readonly migrationTrigger: triggers.Trigger;
  /** The API's functions. */
  public readonly apiHandlers: readonly nodejs.NodejsFunction[];
  /** The functions' security group. */
  public readonly securityGroup: ec2.SecurityGroup;
  /** Network access of all functions (open ports with `connections.allowTo`). */
  public readonly connections: ec2.Connections;

  constructor(scope: Construct, id: string, props: FunctionsProps) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.DESTROY;
    const runtime = lambda.Runtime.NODEJS_24_X;

    this.layer = new lambda.LayerVersion(this, 'SharedLayer', {
      description: '@chatbot/shared: config, database, redis client, cache service, repository, AI service, migrations',
      compatibleRuntimes: [runtime],
      compatibleArchitectures: [lambda.Architecture.ARM_64],
      code: lambda.Code.fromAsset(REPO_ROOT, {
        // Hash what ships, not the sources: a dependency bump changes the bundle, hence the layer version.
        assetHashType: AssetHashType.OUTPUT,
        bundling: {
          local: {
            tryBundle(outputDir: string): boolean {
              buildLayer(outputDir);
              return true;
            },
          },
          // Fallback only when local bundling cannot run; the repository (with node_modules) is mounted at /asset-input.
          image: DockerImage.fromRegistry('public.ecr.aws/sam/build-nodejs24.x'),
          command: ['bash', '-c', 'cd /asset-input && npx tsx scripts/build-layer.ts /asset-output'],
        },
      }),
    });

    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'Chatbot functions: egress only to the cache, the RDS Proxy and the VPC endpoints',
      allowAllOutbound: false,
    });
    if (props.internetEgress) {
      this.securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS to the model provider through NAT');
    }
    this.connections = this.securityGroup.connections;

    const make = (
      name: HandlerName,
      logicalId: string,
      options: { timeout: Duration; environment?: FunctionEnvironment; description: string },
    ): nodejs.NodejsFunction => {
      const logGroup = new logs.LogGroup(this, `${logicalId}Logs`, {
        retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
        removalPolicy,
      });
      const fn = new nodejs.NodejsFunction(this, logicalId, {
        description: options.description,
        entry: handlerEntry(name),
        handler: 'handler',
        runtime,
        architecture: lambda.Architecture.ARM_64,
        memorySize: props.memorySize ?? 1024,
        timeout: options.timeout,
        layers: [this.layer],
        projectRoot: REPO_ROOT,
        depsLockFilePath: path.join(REPO_ROOT, 'package-lock.json'),
        bundling: HANDLER_BUNDLING,
        environment: { ...props.environment, ...options.environment },
        vpc: props.vpc,
        vpcSubnets: props.subnets,
        securityGroups: [this.securityGroup],
        tracing: lambda.Tracing.ACTIVE,
        loggingFormat: lambda.LoggingFormat.JSON,
        applicationLogLevelV2: lambda.ApplicationLogLevel.INFO,
        systemLogLevelV2: lambda.SystemLogLevel.WARN,
        logGroup,
      });
      Validations.of(fn).acknowledge(
        {
          id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
          reason: 'The AWS-maintained minimum for a function to write its own logs; it grants nothing beyond logs:CreateLogStream/PutLogEvents.',
        },
        {
          id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
          reason: 'Required for a function in a VPC to create and delete its ENIs; the EC2 network-interface actions do not support resource scoping.',
        },
        {
          id: 'AwsSolutions-IAM5[Resource::*]',
          reason: 'Only xray:PutTraceSegments/PutTelemetryRecords (active tracing), which have no resource-level permissions.',
        },
      );
      return fn;
    };

    const apiFunctions = {} as Record<ApiFunctionName, nodejs.NodejsFunction>;
    for (const [name, spec] of Object.entries(API_FUNCTIONS) as [ApiFunctionName, (typeof API_FUNCTIONS)[ApiFunctionName]][]) {
      apiFunctions[name] = make(name, logicalIdOf(name), {
        // A follower must be able to last as long as the reply it follows.
        timeout: spec.streaming && props.postConversationTimeout ? props.postConversationTimeout : Duration.seconds(spec.timeoutSeconds),
        environment: callsModel(spec) ? props.modelEnvironment : undefined,
        description: spec.description,
      });
    }
    this.apiFunctions = apiFunctions;
    this.postConversation = apiFunctions['post-conversation'];
    this.migrate = make('migrate', 'Migrate', {
      timeout: Duration.minutes(5),
      environment: { MIGRATIONS_SHA256: hashMigrations() },
      description: 'Applies layer/migrations/*.sql at deploy time',
    });
    const retentionDays = props.deletedRetentionDays ?? 30;
    this.purgeDeleted = make('purge-deleted', 'PurgeDeleted', {
      timeout: Duration.minutes(5),
      environment: { DELETED_RETENTION_DAYS: String(retentionDays) },
      description: `Hard-deletes conversations soft-deleted more than ${retentionDays} days ago`,
    });
    this.purgeSchedule = new events.Rule(this, 'PurgeSchedule', {
      description: 'Daily purge of conversations past their deletion retention',
      schedule: events.Schedule.rate(Duration.days(1)),
      targets: [new targets.LambdaFunction(this.purgeDeleted, { retryAttempts: 2 })],
    });
    this.apiHandlers = Object.values(apiFunctions);

    const modelCallers = (Object.keys(API_FUNCTIONS) as ApiFunctionName[]).filter((name) => callsModel(API_FUNCTIONS[name])).map((name) => apiFunctions[name]);
    for (const secret of props.modelSecrets ?? []) for (const fn of modelCallers) secret.grantRead(fn);
    if (props.bedrockModelArns?.length) {
      for (const fn of modelCallers) {
        fn.addToRolePolicy(
          new iam.PolicyStatement({
            // ConverseStream authorises as InvokeModelWithResponseStream; nothing else is needed.
            actions: ['bedrock:InvokeModelWithResponseStream'],
            resources: [...props.bedrockModelArns],
          }),
        );
        for (const arn of props.bedrockModelArns.filter((candidate) => candidate.includes(':bedrock:*::'))) {
          Validations.of(fn).acknowledge({
            // cdk-nag prints an unresolved partition as <AWS::Partition>, a known one (env-specific stack) literally.
            id: `AwsSolutions-IAM5[Resource::${Token.isUnresolved(arn) ? arn.replace(/^arn:[^:]+:/, 'arn:<AWS::Partition>:') : arn}]`,
            reason: 'A cross-region inference profile may route to this one model in any region of its geography; the region cannot be narrowed.',
          });
        }
      }
    }

    this.migrationTrigger = new triggers.Trigger(this, 'MigrateTrigger', {
      handler: this.migrate,
      // Ties the trigger to the function's current version, which changes with the code, the layer or MIGRATIONS_SHA256.
      executeOnHandlerChange: true,
      invocationType: triggers.InvocationType.REQUEST_RESPONSE,
      timeout: Duration.minutes(5),
    });
  }
}

/** Geography prefixes of cross-region inference profile ids (`us.anthropic...`). */
const INFERENCE_PROFILE_PREFIX = /^(us|eu|apac|us-gov|jp|au|ca|global)\.(.+)$/;

/**
 * The ARNs `bedrock:InvokeModelWithResponseStream` must allow for a model id:
 * a foundation model in this region; or an inference profile plus the
 * foundation model in every region the profile may route to; or an ARN as given.
 */
export function bedrockModelArns(modelId: string, partition: string, region: string, account: string): string[] {
  if (modelId.startsWith('arn:')) return [modelId];
  const profile = INFERENCE_PROFILE_PREFIX.exec(modelId);
  if (profile) {
    return [
      `arn:${partition}:bedrock:${region}:${account}:inference-profile/${modelId}`,
      `arn:${partition}:bedrock:*::foundation-model/${profile[2]}`,
    ];
  }
  return [`arn:${partition}:bedrock:${region}::foundation-model/${modelId}`];
}
