import { Aws, Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import type * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as route53Targets from 'aws-cdk-lib/aws-route53-targets';
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
import { COGNITO_SIGN_IN_SCOPE } from './stack-config';

/** A Lambda authorizer verifying an OpenID Connect issuer's access tokens (`authMode=oidc`), instead of Cognito. */
export interface OidcAuthorizerOptions {
  /** The authorizer function (`lambdas/authorizer`): a TOKEN authorizer on the `Authorization` header. */
  readonly handler: lambda.IFunction;
  /** How long API Gateway caches its answer per token (0 = every request invokes it). @default Duration.minutes(5) */
  readonly resultsCacheTtl?: Duration;
}

/** Props for {@link Api}. */
export interface ApiProps {
  /** The function behind each entry of the route table (`layer/src/route-table.ts`). */
  readonly functions: Readonly<Record<ApiFunctionName, lambda.IFunction>>;
  /** Stage name, the first path segment of the URL. @default 'v1' */
  readonly stageName?: string;
  /** CORS origins (`*` or full origins). @default ['*'] */
  readonly allowedOrigins?: readonly string[];
  /**
   * Verify tokens with this Lambda authorizer (any OpenID Connect issuer) instead of Cognito: no
   * user pool is created or used, and the Cognito props below must be unset.
   * @default - a Cognito user pool authorizer
   */
  readonly oidcAuthorizer?: OidcAuthorizerOptions;
  /** Existing Cognito user pool id; when absent a pool and a web app client are created. @default - a new pool */
  readonly userPoolId?: string;
  /** Let anyone sign up to the created pool; off, an administrator creates each user. @default false */
  readonly selfSignUp?: boolean;
  /**
   * Send the created pool's e-mail (verification codes, password resets) through Amazon SES from
   * this verified address instead of Cognito's own sender, which is capped at about 50 e-mails a day.
   * @default - Cognito's own sender
   */
  readonly sesFromAddress?: string;
  /** ARN of the SES identity verifying `sesFromAddress` (a domain, or another Region or account). @default - the address's identity in this Region and account */
  readonly sesIdentityArn?: string;
  /**
   * The one scope every method requires in the access token. Set it to a scope only the API's own
   * app clients are allowed, so that other clients of a shared pool cannot call the API.
   * @default - {@link AUTHORIZATION_SCOPES}: the resource-server scope, or Cognito's sign-in scope
   */
  readonly apiScope?: string;
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
  /** A custom domain for the stage (regional, TLS 1.2, mapped at its root). @default - the execute-api URL only */
  readonly domain?: ApiDomainProps;
}

/** A custom domain of the API. */
export interface ApiDomainProps {
  /** The domain, e.g. `api.example.com`. */
  readonly domainName: string;
  /** An ACM certificate in the stack's Region covering it. */
  readonly certificate: acm.ICertificate;
  /** A Route 53 public hosted zone to add an alias A record for the domain to. @default - no record: point the domain at {@link Api.domainTarget} yourself */
  readonly hostedZone?: route53.IHostedZone;
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
export const AUTHORIZATION_SCOPES: readonly string[] = [`${API_RESOURCE_SERVER}/${API_SCOPE}`, COGNITO_SIGN_IN_SCOPE];

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
  /** Base URL of OpenAI's API on the same store, ending in `/v1`: what an OpenAI SDK or frontend takes as its base URL. */
  public readonly openAiApiUrl: string;
  /** The user pool whose tokens the API accepts; absent with an OIDC authorizer. */
  public readonly userPool?: cognito.IUserPool;
  /** The web app client, when the stack created the pool. */
  public readonly userPoolClient?: cognito.UserPoolClient;
  /** The authorizer attached to every routed method but the public ones. */
  public readonly authorizer: apigw.IAuthorizer;
  /** The scopes every routed method accepts (any one of them); empty with an OIDC authorizer, which checks its own. */
  public readonly authorizationScopes: readonly string[];
  /** The access log group. */
  public readonly accessLogGroup: logs.LogGroup;
  /** The custom domain, when one is given. */
  public readonly domainName?: apigw.DomainName;
  /** Where the custom domain must point (its regional domain name), when one is given: a CNAME or alias target. */
  public readonly domainTarget?: string;
  /** `https://<custom domain>` or the stage's URL without the trailing `/`: the base URL clients use. */
  public readonly baseUrl: string;

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);
    const allowedOrigins = props.allowedOrigins ?? ['*'];
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.DESTROY;
    const oidc = props.oidcAuthorizer;
    if (oidc && (props.userPoolId || props.selfSignUp || props.sesFromAddress || props.apiScope)) {
      throw new Error('Api: oidcAuthorizer replaces Cognito: userPoolId, selfSignUp, sesFromAddress and apiScope must be unset');
    }
    this.authorizationScopes = oidc ? [] : props.apiScope ? [props.apiScope] : AUTHORIZATION_SCOPES;
    if (props.sesIdentityArn && !props.sesFromAddress) throw new Error('Api: sesIdentityArn needs sesFromAddress');
    if (props.sesFromAddress && props.userPoolId) throw new Error('Api: sesFromAddress applies to a pool the construct creates, not to userPoolId');

    let tokenAuthorizer: apigw.TokenAuthorizer | undefined;
    if (oidc) {
      tokenAuthorizer = new apigw.TokenAuthorizer(this, 'OidcAuthorizer', {
        handler: oidc.handler,
        identitySource: apigw.IdentitySource.header('Authorization'),
        // The cache key is the header: one verification per token per TTL, answering for every route (the policy allows the whole stage).
        resultsCacheTtl: oidc.resultsCacheTtl ?? Duration.minutes(5),
        // Only something shaped like a JWT (Bearer or bare) reaches the function; anything else is the gateway's 401.
        validationRegex: '^([Bb][Ee][Aa][Rr][Ee][Rr] +)?[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$',
      });
    } else if (props.userPoolId) {
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
      if (props.sesFromAddress) {
        // Set on the resource: CDK's withSES derives the identity from the address and the stack's Region
        // only, and cannot name a domain identity in another account.
        (userPool.node.defaultChild as cognito.CfnUserPool).emailConfiguration = {
          emailSendingAccount: 'DEVELOPER',
          from: props.sesFromAddress,
          sourceArn: props.sesIdentityArn ?? `arn:${Aws.PARTITION}:ses:${Aws.REGION}:${Aws.ACCOUNT_ID}:identity/${props.sesFromAddress}`,
        };
      }
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
      // Registered for OAuth clients (the hosted web client's managed login, or any the deployer adds).
      userPool.addResourceServer('ResourceServer', { identifier: API_RESOURCE_SERVER, scopes: [apiScope] });
      this.userPoolClient = userPool.addClient('WebClient', {
        // A browser app cannot keep a client secret.
        generateSecret: false,
        // SRP for browsers; admin password auth only for callers with IAM rights to AdminInitiateAuth
        // (the deployer getting a token from the CLI, docs/deploy.md) — never reachable with just the client id.
        authFlows: { userSrp: true, adminUserPassword: true },
        // No OAuth: with it on, CDK's default callback (https://example.com) would receive authorization
        // codes through any login domain of the pool. The hosted web client has its own OAuth client.
        disableOAuth: true,
        preventUserExistenceErrors: true,
        idTokenValidity: Duration.hours(1),
        accessTokenValidity: Duration.hours(1),
        refreshTokenValidity: Duration.days(30),
      });
      this.userPool = userPool;
    }

    this.authorizer =
      tokenAuthorizer ??
      new apigw.CognitoUserPoolsAuthorizer(this, 'Authorizer', {
        cognitoUserPools: [this.userPool!],
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
            user: oidc ? F.contextAuthorizerPrincipalId() : F.contextAuthorizerClaims('sub'),
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
        authorizationType: oidc ? apigw.AuthorizationType.CUSTOM : apigw.AuthorizationType.COGNITO,
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
        reason: 'Every method requires a Cognito token and the stage is throttled; a WAF web ACL with a per-IP rate rule (billed per ACL, rule and request) is an opt-in: -c waf=true.',
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
      const method = this.resourceFor(route.path).addMethod(route.method, integrationOf(route.function), methodOptions(route, validator, jsonBodyModel, this.authorizationScopes));
      if (oidc && !isPublicRoute(route)) {
        Validations.of(method).acknowledge({
          id: 'AwsSolutions-COG4',
          reason: 'authMode=oidc: the method uses a Lambda (TOKEN) authorizer that verifies the configured OpenID Connect issuer\'s access tokens (signature against its JWKS, iss, aud, exp, scopes); there is no Cognito user pool.',
        });
      }
      if (isPublicRoute(route)) {
        Validations.of(method).acknowledge(
          { id: 'AwsSolutions-APIG4', reason: 'A public route of the route table (a share link anyone may read): no authorizer by design, its own method throttle.' },
          { id: 'AwsSolutions-COG4', reason: 'A public route of the route table (a share link anyone may read): no Cognito authorizer by design.' },
        );
      }
    }

    if (props.domain) {
      this.domainName = new apigw.DomainName(this, 'CustomDomain', {
        domainName: props.domain.domainName,
        certificate: props.domain.certificate,
        endpointType: apigw.EndpointType.REGIONAL,
        securityPolicy: apigw.SecurityPolicy.TLS_1_2,
      });
      // The stage at the domain's root: https://api.example.com/backend-api/...
      this.domainName.addBasePathMapping(this.restApi, { stage: this.restApi.deploymentStage });
      this.domainTarget = this.domainName.domainNameAliasDomainName;
      if (props.domain.hostedZone) {
        new route53.ARecord(this, 'CustomDomainAlias', {
          zone: props.domain.hostedZone,
          recordName: props.domain.domainName,
          target: route53.RecordTarget.fromAlias(new route53Targets.ApiGatewayDomain(this.domainName)),
        });
      }
      this.baseUrl = `https://${props.domain.domainName}`;
      this.backendApiUrl = `${this.baseUrl}/backend-api`;
      this.openAiApiUrl = `${this.baseUrl}/v1`;
    } else {
      this.baseUrl = this.restApi.urlForPath('/').replace(/\/$/, '');
      this.backendApiUrl = this.restApi.urlForPath('/backend-api');
      this.openAiApiUrl = this.restApi.urlForPath('/v1');
    }
  }

  /** The resource of a route-table path, creating the missing segments. */
  private resourceFor(path: string): apigw.IResource {
    return path
      .split('/')
      .filter(Boolean)
      .reduce<apigw.IResource>((parent, segment) => parent.getResource(segment) ?? parent.addResource(segment), this.restApi.root);
  }

  private addGatewayResponses(allowedOrigins: readonly string[]): void {
    // A gateway response header is a constant (or a copy of a request header): with several origins the
    // gateway cannot answer with the one that asked, and copying the caller's Origin would admit any site.
    // Then browsers cannot read these errors (docs/deploy.md); the functions' own responses still match the origin.
    const allowOrigin: Record<string, string> = allowedOrigins.length === 1 ? { 'Access-Control-Allow-Origin': `'${allowedOrigins[0]}'` } : {};
    for (const error of GATEWAY_ERRORS) {
      this.restApi.addGatewayResponse(`Error${error.type}`, {
        type: apigw.ResponseType.of(error.type),
        statusCode: error.overrideStatus ? String(error.status) : undefined,
        responseHeaders: {
          ...allowOrigin,
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
function methodOptions(route: ApiRoute, validator: apigw.IRequestValidator, jsonBodyModel: apigw.IModel, scopes: readonly string[]): apigw.MethodOptions {
  const parameters: Record<string, boolean> = {};
  for (const name of route.path.match(/\{([^}]+)\}/g) ?? []) parameters[`method.request.path.${name.slice(1, -1)}`] = true;
  for (const name of route.query ?? []) parameters[`method.request.querystring.${name}`] = false;
  if (route.jsonBody) parameters['method.request.header.Content-Type'] = true;
  return {
    // Per method, not in defaultMethodOptions: the CORS preflight methods (no authorizer) must not carry scopes.
    ...(isPublicRoute(route)
      ? { authorizationType: apigw.AuthorizationType.NONE, authorizer: undefined }
      : scopes.length > 0
        ? { authorizationScopes: [...scopes] }
        : {}),
    requestValidator: validator,
    requestParameters: parameters,
    ...(route.jsonBody ? { requestModels: { 'application/json': jsonBodyModel } } : {}),
  };
}
