import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AssetHashType, DockerImage, Duration, RemovalPolicy, Token, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as triggers from 'aws-cdk-lib/triggers';
import { Construct } from 'constructs';
import type { FunctionEnvironment } from '../layer/src/contracts/environment';
import { envDefault } from '../layer/src/contracts/environment';
import { API_FUNCTIONS, GATEWAY_INTEGRATION_TIMEOUT_SECONDS, type ApiFunctionName, type ApiFunctionSpec } from '../layer/src/contracts/route-table';
import { migrationsDir, PREBUILT_DIR, PREBUILT_LAYOUT, prebuiltManifest } from './assets';

/** The repository's build script, loaded only when building from sources (the package ships its output instead). */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const sourceBuild = () => require('../scripts/build-layer') as typeof import('../scripts/build-layer');

/** Props for {@link Functions}. */
export interface FunctionsProps {
  /** The VPC the functions run in. */
  readonly vpc: ec2.IVpc;
  /** Subnets for the functions' network interfaces. */
  readonly subnets: ec2.SubnetSelection;
  /** Environment of every function: the database and observability. */
  readonly environment: FunctionEnvironment;
  /**
   * Environment of the API functions only (cache, CORS, limits). The jobs do without it, so that
   * migrate's version — and with it the deploy-time migration — changes only with what it uses.
   * @default {}
   */
  readonly apiEnvironment?: FunctionEnvironment;
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
  /** How long an API function waits for a new database connection (`DATABASE_CONNECT_TIMEOUT_MS`). @default the layer's default (3 s) */
  readonly requestConnectTimeout?: Duration;
  /** How long migrate and the purge job wait for a new database connection. @default Duration.seconds(10) */
  readonly jobConnectTimeout?: Duration;
  /**
   * Reserved concurrency of each streaming function: a ceiling on the replies that can run at
   * once (so they cannot take the account's whole concurrency) and a floor kept for them.
   * @default - none: they draw on the account's unreserved concurrency
   */
  readonly streamingReservedConcurrency?: number;
  /** How long a deleted conversation's rows are kept before the purge job removes them. @default 30 */
  readonly deletedRetentionDays?: number;
  /**
   * Text search configuration of conversation search, applied by migrate (the queries read it from the
   * database). Set on migrate only when not the default, so the default leaves its version as it was;
   * a change re-versions migrate, and the deploy re-runs it.
   * @default 'simple'
   */
  readonly searchTextConfig?: string;
  /**
   * Environment of a Lambda authorizer verifying an OpenID Connect issuer's tokens (`OIDC_*`);
   * when given, the `authorizer` function exists. It runs outside the VPC: it needs only the
   * issuer's JWKS on the internet, no database or cache.
   * @default - no authorizer function (the API uses Cognito)
   */
  readonly authorizerEnvironment?: FunctionEnvironment;
  /** Retention of the functions' log groups. @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** What happens to the log groups when the stack is deleted. @default RemovalPolicy.DESTROY */
  readonly removalPolicy?: RemovalPolicy;
}

/** Handler names, each a folder `lambdas/<name>/index.ts`: the API's functions and the two jobs. */
export type HandlerName = ApiFunctionName | 'migrate' | 'purge-deleted' | 'authorizer';

/** Path of a handler's entry file. */
export const handlerEntry = (name: HandlerName): string => path.join(sourceBuild().REPO_ROOT, 'lambdas', name, 'index.ts');

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
  const dir = migrationsDir();
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((file) => file.endsWith('.sql')).sort() : [];
  for (const file of files) {
    hash.update(file).update('\0').update(fs.readFileSync(path.join(dir, file))).update('\0');
  }
  return hash.digest('hex');
}

const callsModel = (spec: ApiFunctionSpec): boolean => spec.callsModel === true;

/** Longest a buffered (non-streaming) function may run: under the gateway's integration timeout, so the caller sees its answer. */
export const MAX_BUFFERED_TIMEOUT = Duration.seconds(GATEWAY_INTEGRATION_TIMEOUT_SECONDS - 1);
/** Time a buffered function keeps for its work after the slowest connect it waits for. */
const WORK_AFTER_CONNECT = Duration.seconds(5);
/** How long migrate and the purge job may run. */
const JOB_TIMEOUT = Duration.minutes(5);

/**
 * Timeout of a buffered API function: the route table's, raised so that a slow connect still
 * leaves time for the work, never past the gateway's integration timeout.
 */
export function bufferedTimeout(spec: ApiFunctionSpec, connectWait: Duration): Duration {
  const seconds = Math.max(spec.timeoutSeconds, Math.ceil(connectWait.plus(WORK_AFTER_CONNECT).toSeconds()));
  return Duration.seconds(Math.min(seconds, MAX_BUFFERED_TIMEOUT.toSeconds()));
}

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
  public readonly apiFunctions: Readonly<Record<ApiFunctionName, lambda.Function>>;
  /** POST /backend-api/f/conversation and /backend-api/conversation (response streaming): the one that calls the model. */
  public readonly postConversation: lambda.Function;
  /** Hard-deletes conversations soft-deleted longer ago than the retention; run by {@link purgeSchedule}. */
  public readonly purgeDeleted: lambda.Function;
  /**
   * Where a failed purge run lands: Lambda's on-failure record once its retries are spent, or
   * EventBridge's event when it could not invoke the function. A message here is a failed run.
   */
  public readonly purgeFailures: sqs.Queue;
  /** The daily schedule of {@link purgeDeleted}. */
  public readonly purgeSchedule: events.Rule;
  /** Applies the SQL migrations; invoked by {@link migrationTrigger} at deploy time. */
  public readonly migrate: lambda.Function;
  /** Runs `migrate` during `cdk deploy`; call `executeAfter` with everything it needs to reach the database. */
  public readonly migrationTrigger: triggers.Trigger;
  /** The API's functions. */
  public readonly apiHandlers: readonly lambda.Function[];
  /** The Lambda authorizer (`authorizerEnvironment` given): verifies OIDC access tokens, outside the VPC. */
  public readonly authorizer?: lambda.Function;
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
      code: PREBUILT_DIR
        ? // The package's layer, built by `npm pack` with the same script.
          lambda.Code.fromAsset(path.join(PREBUILT_DIR, PREBUILT_LAYOUT.layer))
        : lambda.Code.fromAsset(sourceBuild().REPO_ROOT, {
            // Hash what ships, not the sources: a dependency bump changes the bundle, hence the layer version.
            assetHashType: AssetHashType.OUTPUT,
            bundling: {
              local: {
                tryBundle(outputDir: string): boolean {
                  sourceBuild().buildLayer(outputDir);
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

    const requestConnectTimeout = props.requestConnectTimeout ?? Duration.millis(envDefault('DATABASE_CONNECT_TIMEOUT_MS'));
    const jobConnectTimeout = props.jobConnectTimeout ?? Duration.seconds(10);
    const prebuiltHandlers = prebuiltManifest()?.handlers;
    if (prebuiltHandlers) {
      const missing = [...Object.keys(API_FUNCTIONS), 'migrate', 'purge-deleted'].filter((name) => !prebuiltHandlers.includes(name));
      if (missing.length > 0) throw new Error(`Functions: the package's prebuilt handlers lack ${missing.join(', ')}; rebuild it (npm pack)`);
    }
    const make = (
      name: HandlerName,
      logicalId: string,
      options: {
        timeout: Duration;
        connectTimeout: Duration;
        environment?: FunctionEnvironment;
        description: string;
        reservedConcurrentExecutions?: number;
        /** Run in the VPC. @default true */
        inVpc?: boolean;
      },
    ): lambda.Function => {
      const inVpc = options.inVpc ?? true;
      // A function that gives up before its connect wait would time out instead of answering 503.
      if ((options.inVpc ?? true) && options.timeout.toMilliseconds() <= options.connectTimeout.toMilliseconds()) {
        throw new Error(
          `Functions: ${name} would time out (${options.timeout.toHumanString()}) before its database connect wait (${options.connectTimeout.toHumanString()}) ends`,
        );
      }
      const logGroup = new logs.LogGroup(this, `${logicalId}Logs`, {
        retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
        removalPolicy,
      });
      const common: lambda.FunctionOptions = {
        description: options.description,
        architecture: lambda.Architecture.ARM_64,
        memorySize: props.memorySize ?? 1024,
        timeout: options.timeout,
        reservedConcurrentExecutions: options.reservedConcurrentExecutions,
        layers: [this.layer],
        // Outside the VPC (the authorizer) a function reaches no database: it gets only its own environment.
        environment: inVpc
          ? { ...props.environment, ...options.environment, DATABASE_CONNECT_TIMEOUT_MS: String(options.connectTimeout.toMilliseconds()) }
          : { ...options.environment },
        ...(inVpc ? { vpc: props.vpc, vpcSubnets: props.subnets, securityGroups: [this.securityGroup] } : {}),
        tracing: lambda.Tracing.ACTIVE,
        loggingFormat: lambda.LoggingFormat.JSON,
        applicationLogLevelV2: lambda.ApplicationLogLevel.INFO,
        systemLogLevelV2: lambda.SystemLogLevel.WARN,
        logGroup,
      };
      const fn = prebuiltHandlers
        ? // The package's bundle of this handler (same esbuild options, built by `npm pack`).
          new lambda.Function(this, logicalId, {
            ...common,
            runtime,
            handler: 'index.handler',
            code: lambda.Code.fromAsset(path.join(PREBUILT_DIR!, PREBUILT_LAYOUT.handlers, name)),
          })
        : new nodejs.NodejsFunction(this, logicalId, {
            ...common,
            entry: handlerEntry(name),
            handler: 'handler',
            runtime,
            projectRoot: sourceBuild().REPO_ROOT,
            depsLockFilePath: path.join(sourceBuild().REPO_ROOT, 'package-lock.json'),
            bundling: HANDLER_BUNDLING,
          });
      Validations.of(fn).acknowledge(
        {
          id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
          reason: 'The AWS-maintained minimum for a function to write its own logs; it grants nothing beyond logs:CreateLogStream/PutLogEvents.',
        },
        ...(inVpc
          ? [
              {
                id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
                reason: 'Required for a function in a VPC to create and delete its ENIs; the EC2 network-interface actions do not support resource scoping.',
              },
            ]
          : []),
        {
          id: 'AwsSolutions-IAM5[Resource::*]',
          reason: 'Only xray:PutTraceSegments/PutTelemetryRecords (active tracing), which have no resource-level permissions.',
        },
      );
      return fn;
    };

    const apiFunctions = {} as Record<ApiFunctionName, lambda.Function>;
    for (const [name, spec] of Object.entries(API_FUNCTIONS) as [ApiFunctionName, (typeof API_FUNCTIONS)[ApiFunctionName]][]) {
      apiFunctions[name] = make(name, logicalIdOf(name), {
        // A follower must be able to last as long as the reply it follows.
        timeout: spec.streaming ? (props.postConversationTimeout ?? Duration.seconds(spec.timeoutSeconds)) : bufferedTimeout(spec, requestConnectTimeout),
        connectTimeout: requestConnectTimeout,
        environment: { ...props.apiEnvironment, ...(callsModel(spec) ? props.modelEnvironment : {}) },
        description: spec.description,
        reservedConcurrentExecutions: spec.streaming ? props.streamingReservedConcurrency : undefined,
      });
    }
    this.apiFunctions = apiFunctions;
    this.postConversation = apiFunctions['post-conversation'];
    this.migrate = make('migrate', 'Migrate', {
      timeout: JOB_TIMEOUT,
      connectTimeout: jobConnectTimeout,
      environment: {
        MIGRATIONS_SHA256: hashMigrations(),
        ...(props.searchTextConfig && props.searchTextConfig !== envDefault('SEARCH_TEXT_CONFIG') ? { SEARCH_TEXT_CONFIG: props.searchTextConfig } : {}),
      },
      description: 'Applies layer/migrations/*.sql at deploy time',
    });
    const retentionDays = props.deletedRetentionDays ?? 30;
    this.purgeDeleted = make('purge-deleted', 'PurgeDeleted', {
      timeout: JOB_TIMEOUT,
      connectTimeout: jobConnectTimeout,
      environment: { DELETED_RETENTION_DAYS: String(retentionDays) },
      description: `Hard-deletes conversations soft-deleted more than ${retentionDays} days ago`,
    });
    this.purgeFailures = new sqs.Queue(this, 'PurgeFailures', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // The longest SQS keeps a message: two weeks to look at a failure before it is gone.
      retentionPeriod: Duration.days(14),
      removalPolicy,
    });
    Validations.of(this.purgeFailures).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: "This queue is the purge job's failure destination itself; a person reads it, no consumer redrives it.",
    });
    // The schedule invokes asynchronously: Lambda retries a failed run twice, then records it here.
    this.purgeDeleted.configureAsyncInvoke({ retryAttempts: 2, onFailure: new destinations.SqsDestination(this.purgeFailures) });
    this.purgeSchedule = new events.Rule(this, 'PurgeSchedule', {
      description: 'Daily purge of conversations past their deletion retention',
      schedule: events.Schedule.rate(Duration.days(1)),
      // EventBridge's own retries cover only failing to invoke; such an event lands in the same queue.
      targets: [new targets.LambdaFunction(this.purgeDeleted, { retryAttempts: 2, deadLetterQueue: this.purgeFailures })],
    });
    this.apiHandlers = Object.values(apiFunctions);
    this.authorizer = props.authorizerEnvironment
      ? make('authorizer', 'Authorizer', {
          // Discovery and a JWKS fetch take at most 5 s each (the verifier's own timeouts); a verification with warm keys, milliseconds.
          timeout: Duration.seconds(15),
          connectTimeout: Duration.seconds(0),
          environment: props.authorizerEnvironment,
          description: 'Lambda authorizer: verifies OpenID Connect access tokens (OIDC_ISSUER) with jose',
          inVpc: false,
        })
      : undefined;

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
        for (const arn of props.bedrockModelArns.filter((candidate) => /^arn:[^:]+:bedrock:[^:]*\*/.test(candidate))) {
          Validations.of(fn).acknowledge({
            // cdk-nag prints an unresolved partition as <AWS::Partition>, a known one (env-specific stack) literally.
            id: `AwsSolutions-IAM5[Resource::${Token.isUnresolved(arn) ? arn.replace(/^arn:[^:]+:/, 'arn:<AWS::Partition>:') : arn}]`,
            reason: /:bedrock:\*:/.test(arn)
              ? 'A global (or not geography-bound) inference profile may route to this one model in any commercial Region.'
              : "A cross-Region inference profile routes to this one model in any Region of its geography; the wildcard covers that geography's Regions only.",
          });
        }
      }
    }

    this.migrationTrigger = new triggers.Trigger(this, 'MigrateTrigger', {
      handler: this.migrate,
      // Ties the trigger to the function's current version, which changes with the code, the layer, MIGRATIONS_SHA256
      // or the database settings (the jobs get no cache or CORS settings, so those leave it alone).
      executeOnHandlerChange: true,
      invocationType: triggers.InvocationType.REQUEST_RESPONSE,
      // Longer than migrate itself may run (its connect wait included), so the deploy never gives up on a running migration.
      timeout: JOB_TIMEOUT.plus(Duration.minutes(1)),
    });
  }
}

/** Geography prefixes of cross-region inference profile ids (`us.anthropic...`). */
const INFERENCE_PROFILE_PREFIX = /^(us-gov|us|eu|apac|jp|au|ca|global)\.(.+)$/;

/**
 * The Regions each geography's cross-Region inference profiles may route to, as IAM Region patterns
 * (Amazon Bedrock, "Supported Regions and models for inference profiles"; the destinations of one
 * profile are a subset that varies by model and source Region, so each geography is covered whole).
 * `apac` includes Middle East (UAE). `ca` and `global` are not narrowed: a global profile routes to
 * any commercial Region, and no Canada list was found documented per geography.
 */
export const INFERENCE_PROFILE_REGIONS: Readonly<Record<string, readonly string[]>> = {
  us: ['us-*'],
  'us-gov': ['us-gov-*'],
  eu: ['eu-*'],
  apac: ['ap-*', 'me-central-1'],
  jp: ['ap-northeast-1', 'ap-northeast-3'],
  au: ['ap-southeast-2', 'ap-southeast-4'],
  ca: ['*'],
  global: ['*'],
};

/**
 * The ARNs `bedrock:InvokeModelWithResponseStream` must allow for a model id:
 * a foundation model in this region; or an inference profile plus the
 * foundation model in the Regions of the profile's geography; or an ARN as given.
 */
export function bedrockModelArns(modelId: string, partition: string, region: string, account: string): string[] {
  if (modelId.startsWith('arn:')) return [modelId];
  const profile = INFERENCE_PROFILE_PREFIX.exec(modelId);
  if (profile) {
    return [
      `arn:${partition}:bedrock:${region}:${account}:inference-profile/${modelId}`,
      ...INFERENCE_PROFILE_REGIONS[profile[1]].map((pattern) => `arn:${partition}:bedrock:${pattern}::foundation-model/${profile[2]}`),
    ];
  }
  return [`arn:${partition}:bedrock:${region}::foundation-model/${modelId}`];
}
