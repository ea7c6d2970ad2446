import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import {
  API_FUNCTIONS,
  API_ROUTES,
  CORS,
  CORS_ALLOW_METHODS,
  GATEWAY_ERRORS,
  gatewayErrorBody,
  isPublicRoute,
  type ApiFunctionName,
  type ApiRoute,
} from '../layer/src/contracts/route-table';

/** Props for {@link Api}. */
export interface ApiProps {
  /** The function behind each entry of the route table (`layer/src/route-table.ts`). */
  readonly functions: Readonly<Record<ApiFunctionName, lambda.IFunction>>;
  /** Stage name, the first path segment of the URL. @default 'v1' */
  readonly stageName?: string;
  /** CORS origins (`*` or full origins). @default ['*'] */
  readonly allowedOrigins?: readonly string[];
  /** Existing Cognito user pool id; when absent a pool and a web app client are created. @default - a new pool */
  readonly userPoolId?: string;
  /** Let anyone sign up to the created pool; off, an administrator creates each user. @default false */
  readonly selfSignUp?: boolean;
  /** Steady-state requests per second of the stage. @default 50 */
  readonly throttleRateLimit?: number;
  /** Burst capacity of the stage. @default 100 */
  readonly throttleBurstLimit?: number;
  /** Steady-state requests per second of each public (token-free) method, so anonymous traffic cannot use up the stage's. @default 20 */
  readonly publicThrottleRateLimit?: number;
  /** Burst capacity of each public method. @default 40 */
  readonly publicThrottleBurstLimit?: number;
  /** How long API Gateway waits for post-conversation's stream to finish. @default Duration.minutes(5) */
  readonly streamingTimeout?: Duration;
  /** Retention of the access logs. @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** What happens to the user pool and the log group when the stack is deleted. @default RemovalPolicy.DESTROY */
  readonly removalPolicy?: RemovalPolicy;
}

/** The resource server of the API in the user pool, and its one scope. */
export const API_RESOURCE_SERVER = 'chatbot-api';
export const API_SCOPE = 'conversations';

/**
 * The scopes a method accepts; an access token with any one of them is authorized. The
 * resource server's scope is what OAuth clients request; `aws.cognito.signin.user.admin` is
 * the scope Cognito puts in every access token from its own sign-in APIs (SRP in the
 * browser, `admin-initiate-auth` from the CLI), which cannot carry custom scopes. ID tokens
 * are refused: with scopes set, the authorizer accepts access tokens only.
 */
export const AUTHORIZATION_SCOPES: readonly string[] = [`${API_RESOURCE_SERVER}/${API_SCOPE}`, 'aws.cognito.signin.user.admin'];

/**
 * The REST API `/backend-api/...`: Cognito user-pool authorizer (access tokens) on every
 * method, CORS, stage throttling, JSON access logs, request validation, JSON
 * gateway errors, and response streaming for post-conversation.
 */
export class Api extends Construct {
  /** The REST API. */
  public readonly restApi: apigw.RestApi;
  /** Base URL of the backend API, ending in `/backend-api`. */
  public readonly backendApiUrl: string;
  /** The user pool whose tokens the API accepts. */
  public readonly userPool: cognito.IUserPool;
  /** The web app client, when the stack created the pool. */
  public readonly userPoolClient?: cognito.UserPoolClient;
  /** The authorizer attached to every non-preflight method. */
  public readonly authorizer: apigw.CognitoUserPoolsAuthorizer;
  /** The access log group. */
  public readonly accessLogGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);
    const allowedOrigins = props.allowedOrigins ?? ['*'];
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.DESTROY;

    if (props.userPoolId) {
      this.userPool = cognito.UserPool.fromUserPoolId(this, 'UserPool', props.userPoolId);
    } else {
      const userPool = new cognito.UserPool(this, 'UserPool', {
        // A paid model sits behind this API: nobody signs up unless the deployer opens it (-c selfSignUp=true).
        selfSignUpEnabled: props.selfSignUp ?? false,
        signInAliases: { email: true },
        autoVerify: { email: true },
        accountRecovery: cognito.AccountRecovery.EMAIL_ONLY,
        passwordPolicy: {
          minLength: 12,
          requireLowercase: true,
          requireUppercase: true,
          requireDigits: true,
          requireSymbols: true,
        },
        mfa: cognito.Mfa.OPTIONAL,
        mfaSecondFactor: { otp: true, sms: false },
        featurePlan: cognito.FeaturePlan.ESSENTIALS,
        removalPolicy,
        deletionProtection: removalPolicy !== RemovalPolicy.DESTROY,
      });
      Validations.of(userPool).acknowledge(
        {
          id: 'AwsSolutions-COG2',
          reason: 'MFA (TOTP) is optional so users of a public chat app can enrol themselves; the frontend may require it per user.',
        },
        {
          id: 'AwsSolutions-COG8',
          reason: 'The Plus plan (threat protection) is billed per active user; Essentials keeps sign-in free of that cost. Opt in per deployment.',
        },
      );
      const apiScope = new cognito.ResourceServerScope({ scopeName: API_SCOPE, scopeDescription: "Read and write the user's own conversations" });
      const resourceServer = userPool.addResourceServer('ResourceServer', { identifier: API_RESOURCE_SERVER, scopes: [apiScope] });
      this.userPoolClient = userPool.addClient('WebClient', {
        // A browser app cannot keep a client secret.
        generateSecret: false,
        // SRP for browsers; admin password auth only for callers with IAM rights to AdminInitiateAuth
        // (the deployer getting a token from the CLI, docs/deploy.md) — never reachable with just the client id.
        authFlows: { userSrp: true, adminUserPassword: true },
        oAuth: {
          flows: { authorizationCodeGrant: true },
          scopes: [
            cognito.OAuthScope.OPENID,
            cognito.OAuthScope.EMAIL,
            cognito.OAuthScope.resourceServer(resourceServer, apiScope),
          ],
        },
        preventUserExistenceErrors: true,
        idTokenValidity: Duration.hours(1),
        accessTokenValidity: Duration.hours(1),
        refreshTokenValidity: Duration.days(30),
      });
      this.userPool = userPool;
    }

    this.authorizer = new apigw.CognitoUserPoolsAuthorizer(this, 'Authorizer', {
      cognitoUserPools: [this.userPool],
      identitySource: apigw.IdentitySource.header('Authorization'),
      resultsCacheTtl: Duration.minutes(5),
    });

    this.accessLogGroup = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy,
    });

    const F = apigw.AccessLogField;
    this.restApi = new apigw.RestApi(this, 'RestApi', {
      description: 'ChatGPT-style chat backend (/backend-api)',
      endpointConfiguration: { types: [apigw.EndpointType.REGIONAL] },
      // Execution logs need the account-wide AWS::ApiGateway::Account pointing at a role. Deleting that resource
      // does not reset the account setting, so a destroyed dev stack would leave every API in the account and
      // region pointing at a deleted role: the role and the setting are kept on delete, whatever the stage.
      cloudWatchRole: true,
      cloudWatchRoleRemovalPolicy: RemovalPolicy.RETAIN,
      deployOptions: {
        stageName: props.stageName ?? 'v1',
        throttlingRateLimit: props.throttleRateLimit ?? 50,
        throttlingBurstLimit: props.throttleBurstLimit ?? 100,
        // Public methods (the route table's `public`): a throttle of their own; the stage's other settings repeated, as a method setting replaces them all.
        methodOptions: Object.fromEntries(
          API_ROUTES.filter(isPublicRoute).map((route) => [
            `${route.path}/${route.method}`,
            { throttlingRateLimit: props.publicThrottleRateLimit ?? 20, throttlingBurstLimit: props.publicThrottleBurstLimit ?? 40, metricsEnabled: true, loggingLevel: apigw.MethodLoggingLevel.ERROR, dataTraceEnabled: false },
          ]),
        ),
        tracingEnabled: true,
        metricsEnabled: true,
        loggingLevel: apigw.MethodLoggingLevel.ERROR,
        // Request/response bodies hold users' conversations: never log them.
        dataTraceEnabled: false,
        accessLogDestination: new apigw.LogGroupLogDestination(this.accessLogGroup),
        accessLogFormat: apigw.AccessLogFormat.custom(
          JSON.stringify({
            requestId: F.contextRequestId(),
            requestTime: F.contextRequestTime(),
            ip: F.contextIdentitySourceIp(),
            userAgent: F.contextIdentityUserAgent(),
            httpMethod: F.contextHttpMethod(),
            resourcePath: F.contextResourcePath(),
            path: F.contextPath(),
            status: F.contextStatus(),
            responseLength: F.contextResponseLength(),
            responseLatency: F.contextResponseLatency(),
            integrationLatency: F.contextIntegrationLatency(),
            integrationStatus: F.contextIntegrationStatus(),
            errorType: F.contextErrorResponseType(),
            errorMessage: F.contextErrorMessage(),
            user: F.contextAuthorizerClaims('sub'),
            xrayTraceId: F.contextXrayTraceId(),
          }),
        ),
      },
      defaultCorsPreflightOptions: {
        allowOrigins: [...allowedOrigins],
        allowMethods: [...CORS_ALLOW_METHODS],
        allowHeaders: [...CORS.allowHeaders],
        maxAge: Duration.seconds(CORS.maxAgeSeconds),
      },
      defaultMethodOptions: {
        authorizer: this.authorizer,
        authorizationType: apigw.AuthorizationType.COGNITO,
      },
    });

    this.addGatewayResponses(allowedOrigins);
    Validations.of(this.restApi).acknowledge(
      {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        reason: 'The AWS-maintained role API Gateway needs to write execution logs to CloudWatch Logs for the account.',
      },
      {
        id: 'AwsSolutions-APIG3',
        reason: 'Every method requires a Cognito token and the stage is throttled; a WAF web ACL (billed per ACL, rule and request) is an opt-in per deployment.',
      },
    );

    const validator = this.restApi.addRequestValidator('Validator', {
      validateRequestBody: true,
      validateRequestParameters: true,
    });
    // Deliberately loose: the many request variants ChatGPT clients send are validated (with 422s) by the handlers.
    const jsonBodyModel = this.restApi.addModel('JsonObjectBody', {
      contentType: 'application/json',
      schema: { schema: apigw.JsonSchemaVersion.DRAFT4, type: apigw.JsonSchemaType.OBJECT },
    });
    const integrations = new Map<ApiFunctionName, apigw.LambdaIntegration>();
    const integrationOf = (name: ApiFunctionName): apigw.LambdaIntegration => {
      let integration = integrations.get(name);
      if (!integration) {
        const spec = API_FUNCTIONS[name];
        integration = new apigw.LambdaIntegration(
          props.functions[name],
          spec.streaming
            ? {
                // STREAM makes CDK point the integration at the InvokeWithResponseStream API.
                responseTransferMode: apigw.ResponseTransferMode.STREAM,
                timeout: props.streamingTimeout ?? Duration.seconds(spec.timeoutSeconds),
              }
            : {},
        );
        integrations.set(name, integration);
      }
      return integration;
    };
    for (const route of API_ROUTES) {
      const method = this.resourceFor(route.path).addMethod(route.method, integrationOf(route.function), methodOptions(route, validator, jsonBodyModel));
      if (isPublicRoute(route)) {
        Validations.of(method).acknowledge(
          { id: 'AwsSolutions-APIG4', reason: 'A public route of the route table (a share link anyone may read): no authorizer by design, its own method throttle.' },
          { id: 'AwsSolutions-COG4', reason: 'A public route of the route table (a share link anyone may read): no Cognito authorizer by design.' },
        );
      }
    }

    this.backendApiUrl = this.restApi.urlForPath('/backend-api');
  }

  /** The resource of a route-table path, creating the missing segments. */
  private resourceFor(path: string): apigw.IResource {
    return path
      .split('/')
      .filter(Boolean)
      .reduce<apigw.IResource>((parent, segment) => parent.getResource(segment) ?? parent.addResource(segment), this.restApi.root);
  }

  private addGatewayResponses(allowedOrigins: readonly string[]): void {
    // With several origins the gateway cannot pick one itself; echoing the caller's Origin on an
    // error body (which carries no user data) lets the browser show the frontend the real error.
    const allowOrigin = allowedOrigins.length === 1 ? `'${allowedOrigins[0]}'` : 'method.request.header.Origin';
    for (const error of GATEWAY_ERRORS) {
      this.restApi.addGatewayResponse(`Error${error.type}`, {
        type: apigw.ResponseType.of(error.type),
        statusCode: error.overrideStatus ? String(error.status) : undefined,
        responseHeaders: {
          'Access-Control-Allow-Origin': allowOrigin,
          'Access-Control-Allow-Headers': `'${CORS.allowHeaders.join(',')}'`,
          'Access-Control-Expose-Headers': `'${CORS.exposeHeaders.join(',')}'`,
          'Vary': "'Origin'",
        },
        templates: { 'application/json': gatewayErrorBody(error) },
      });
    }
  }
}

/** Validation the gateway does before a function runs: declared query strings, a JSON Content-Type. */
function methodOptions(route: ApiRoute, validator: apigw.IRequestValidator, jsonBodyModel: apigw.IModel): apigw.MethodOptions {
  const parameters: Record<string, boolean> = {};
  for (const name of route.path.match(/\{([^}]+)\}/g) ?? []) parameters[`method.request.path.${name.slice(1, -1)}`] = true;
  for (const name of route.query ?? []) parameters[`method.request.querystring.${name}`] = false;
  if (route.jsonBody) parameters['method.request.header.Content-Type'] = true;
  return {
    // Per method, not in defaultMethodOptions: the CORS preflight methods (no authorizer) must not carry scopes.
    ...(isPublicRoute(route) ? { authorizationType: apigw.AuthorizationType.NONE, authorizer: undefined } : { authorizationScopes: [...AUTHORIZATION_SCOPES] }),
    requestValidator: validator,
    requestParameters: parameters,
    ...(route.jsonBody ? { requestModels: { 'application/json': jsonBodyModel } } : {}),
  };
}
