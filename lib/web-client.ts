import { DefaultStackSynthesizer, Duration, Lazy, Names, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import { Construct } from 'constructs';
import { webClientFiles } from './assets';
import { API_SCOPE } from './api';
import { contentSecurityPolicy, type PagePolicyOptions } from '../web/security-headers';

/** Props for {@link WebClient}. */
export interface WebClientProps {
  /** What happens to the bucket and its files when the stack is deleted. @default RemovalPolicy.DESTROY */
  readonly removalPolicy?: RemovalPolicy;
  /** CloudFront edge locations to pay for. @default cloudfront.PriceClass.PRICE_CLASS_100 */
  readonly priceClass?: cloudfront.PriceClass;
}

/**
 * The CloudFront Function (JavaScript runtime 2.0) in front of the bucket: a share link,
 * `/share/<share_id>`, is the page itself (it reads the share from its address), so its request
 * is rewritten to `/index.html`. Anything else under `/share/` is left alone (a 403 from the
 * private bucket, as for any missing file). Exported for the test that runs it.
 */
export const SHARE_LINK_REWRITE = `function handler(event) {
  var request = event.request;
  if (/^\\/share\\/[0-9A-Fa-f-]{36}$/.test(request.uri)) request.uri = '/index.html';
  return request;
}`;

/** What {@link WebClient.connect} needs from the API. */
export interface WebClientApi {
  /** Base URL of the REST API stage (the page appends `/backend-api/...`). */
  readonly url: string;
  /**
   * `https://<host>` of the API, which the page's Content-Security-Policy lets it connect to.
   * Pass the API's host without the stage: the stage depends on the CORS origins, hence on the
   * distribution, and the distribution's header policy cannot depend back on it.
   */
  readonly origin: string;
  /** The pool whose tokens the API's authorizer accepts. */
  readonly userPool: cognito.IUserPool;
  /**
   * The scope the page asks for, one the API's methods accept in an access token.
   * @default - the API's resource-server scope when the pool has it (a pool the stack created), else `aws.cognito.signin.user.admin`
   */
  readonly apiScope?: cognito.OAuthScope;
}

/**
 * The reference web client (web/) on a private S3 bucket behind CloudFront with origin access
 * control, signing in through Cognito managed login (authorization code + PKCE). Two steps,
 * because the API's CORS origins need the distribution before the API exists, and the page's
 * `config.json` needs the API: construct, pass {@link origin} to the API, then {@link connect}.
 */
export class WebClient extends Construct {
  /** The private bucket holding the page. */
  public readonly bucket: s3.Bucket;
  /** The distribution serving it. */
  public readonly distribution: cloudfront.Distribution;
  /** Security headers on every response: CSP (complete once connected), HSTS, frame and content-type options. */
  public readonly responseHeadersPolicy: cloudfront.ResponseHeadersPolicy;
  /** The viewer-request function that serves the page at `/share/<share_id>` ({@link SHARE_LINK_REWRITE}). */
  public readonly shareLinkRewrite: cloudfront.Function;
  /** `https://<distribution domain>`: the origin the API must allow. */
  public readonly origin: string;
  /** The managed-login app client, once connected. */
  public userPoolClient?: cognito.UserPoolClient;
  /** The Cognito prefix domain hosting managed login, once connected. */
  public userPoolDomain?: cognito.UserPoolDomain;

  private cspSources?: PagePolicyOptions;

  constructor(scope: Construct, id: string, props: WebClientProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.DESTROY;

    this.bucket = new s3.Bucket(this, 'Bucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy,
      autoDeleteObjects: removalPolicy === RemovalPolicy.DESTROY,
    });

    // The page keeps its access token in localStorage: a script injected from anywhere could read it,
    // so only the page's own script runs, and it may talk to the API and Cognito only.
    this.responseHeadersPolicy = new cloudfront.ResponseHeadersPolicy(this, 'SecurityHeaders', {
      comment: 'Chatbot web client: CSP, HSTS, no framing, no sniffing',
      securityHeadersBehavior: {
        contentSecurityPolicy: {
          // Filled in by connect(), which knows the API and the login domain.
          contentSecurityPolicy: Lazy.string({ produce: () => contentSecurityPolicy(this.cspSources) }),
          override: true,
        },
        strictTransportSecurity: { accessControlMaxAge: Duration.days(730), includeSubdomains: true, override: true },
        frameOptions: { frameOption: cloudfront.HeadersFrameOption.DENY, override: true },
        contentTypeOptions: { override: true },
        referrerPolicy: { referrerPolicy: cloudfront.HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN, override: true },
      },
    });
    /** Serves the page at a share link's address. */
    this.shareLinkRewrite = new cloudfront.Function(this, 'ShareLinkRewrite', {
      comment: 'Chatbot web client: /share/<id> is the page (index.html)',
      code: cloudfront.FunctionCode.fromInline(SHARE_LINK_REWRITE),
      runtime: cloudfront.FunctionRuntime.JS_2_0,
    });
    this.distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: 'Chatbot reference web client',
      defaultRootObject: 'index.html',
      priceClass: props.priceClass ?? cloudfront.PriceClass.PRICE_CLASS_100,
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      defaultBehavior: {
        origin: origins.S3BucketOrigin.withOriginAccessControl(this.bucket),
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: this.responseHeadersPolicy,
        allowedMethods: cloudfront.AllowedMethods.ALLOW_GET_HEAD,
        compress: true,
        functionAssociations: [{ function: this.shareLinkRewrite, eventType: cloudfront.FunctionEventType.VIEWER_REQUEST }],
      },
    });
    this.origin = `https://${this.distribution.distributionDomainName}`;

    Validations.of(this.bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'The bucket only holds the public page, read through CloudFront (OAC); nothing in it is private and access is in the CloudFront metrics.',
    });
    Validations.of(this.distribution).acknowledge(
      { id: 'AwsSolutions-CFR1', reason: 'A public chat page: no geographic restriction is wanted.' },
      { id: 'AwsSolutions-CFR2', reason: 'Static files only; the API behind it has its own throttling. Attach a WAF web ACL per deployment when needed.' },
      { id: 'AwsSolutions-CFR3', reason: 'Static files only; access logs would record nothing the API access logs do not.' },
      {
        id: 'AwsSolutions-CFR4',
        reason: 'The default *.cloudfront.net certificate cannot pin a minimum TLS version; a custom domain with its own certificate can (TLSv1.2_2021).',
      },
    );
  }

  /**
   * Adds managed login for the page (a Cognito prefix domain and an app client with the
   * authorization code grant + PKCE, callback and logout URLs = the distribution) and writes
   * the page with its `config.json` to the bucket.
   */
  connect(api: WebClientApi): void {
    if (this.userPoolClient) throw new Error(`WebClient ${this.node.path}: connect() was already called; one web client serves one API`);
    const stack = Stack.of(this);
    // Prefix domains are global per Region: the stack's unique name plus the account keeps them apart.
    const domainPrefix = `${Names.uniqueResourceName(this, { maxLength: 30, separator: '-' }).toLowerCase().replace(/[^a-z0-9-]/g, '')}-${stack.account}`;
    this.userPoolDomain = new cognito.UserPoolDomain(this, 'LoginDomain', {
      userPool: api.userPool,
      cognitoDomain: { domainPrefix },
      managedLoginVersion: cognito.ManagedLoginVersion.NEWER_MANAGED_LOGIN,
    });
    const pageUrl = `${this.origin}/`;
    // The API takes access tokens carrying its scope; the page asks for exactly what the client allows.
    const scopes = [cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, api.apiScope ?? defaultApiScope(api.userPool)];
    this.userPoolClient = new cognito.UserPoolClient(this, 'LoginClient', {
      userPool: api.userPool,
      // A browser app cannot keep a secret: PKCE protects the code instead.
      generateSecret: false,
      authFlows: {},
      oAuth: {
        flows: { authorizationCodeGrant: true },
        scopes,
        callbackUrls: [pageUrl],
        logoutUrls: [pageUrl],
      },
      supportedIdentityProviders: [cognito.UserPoolClientIdentityProvider.COGNITO],
      preventUserExistenceErrors: true,
      idTokenValidity: Duration.hours(1),
      accessTokenValidity: Duration.hours(1),
      refreshTokenValidity: Duration.days(30),
    });
    // A scope named as a string (`apiScope`) carries no reference: the resource server must exist first all the same.
    const resourceServer = api.userPool.node.tryFindChild('ResourceServer');
    if (resourceServer) this.userPoolClient.node.addDependency(resourceServer);
    // Managed login (version 2) serves its pages only to clients with a branding style.
    new cognito.CfnManagedLoginBranding(this, 'LoginBranding', {
      userPoolId: api.userPool.userPoolId,
      clientId: this.userPoolClient.userPoolClientId,
      useCognitoProvidedValues: true,
    });

    const files = webClientFiles();
    const cognitoDomain = `${this.userPoolDomain.domainName}.auth.${stack.region}.amazoncognito.com`;
    // The prefix, not the domain resource: the header policy must not wait for the login domain.
    this.cspSources = { apiOrigin: api.origin, cognitoDomain: `${domainPrefix}.auth.${stack.region}.amazoncognito.com` };
    new s3deploy.BucketDeployment(this, 'Deployment', {
      destinationBucket: this.bucket,
      distribution: this.distribution,
      distributionPaths: ['/*'],
      // Small files that change with every deploy: revalidate instead of caching for a day.
      cacheControl: [s3deploy.CacheControl.noCache()],
      sources: [
        ...[...files].map(([name, file]) => s3deploy.Source.data(name.slice(1), file.body.toString('utf8'))),
        s3deploy.Source.jsonData('config.json', {
          apiUrl: api.url,
          auth: 'cognito',
          cognitoDomain,
          clientId: this.userPoolClient.userPoolClientId,
          scope: scopes.map((scope) => scope.scopeName).join(' '),
        }),
      ],
    });
    // The deployment's handler is a stack-wide singleton CDK manages (runtime and policy included).
    const handler = stack.node.children.find((child) => child.node.id.startsWith('Custom::CDKBucketDeployment'));
    if (handler) {
      Validations.of(handler).acknowledge(
        {
          id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
          reason: 'CDK\'s bucket-deployment handler: the AWS-maintained minimum to write its own logs.',
        },
        ...[
          'Action::s3:GetBucket*',
          'Action::s3:GetObject*',
          'Action::s3:List*',
          'Action::s3:Abort*',
          'Action::s3:DeleteObject*',
          `Resource::<${stack.getLogicalId(this.bucket.node.defaultChild as s3.CfnBucket)}.Arn>/*`,
          `Resource::${assetBucketObjects(stack)}`,
          'Resource::*',
        ].map((finding) => ({
          id: `AwsSolutions-IAM5[${finding}]`,
          reason:
            'CDK\'s bucket-deployment handler copies the page from the CDK asset bucket into this bucket (object wildcards on exactly those two) and invalidates the distribution (cloudfront:CreateInvalidation has no resource scoping CDK uses).',
        })),
        { id: 'AwsSolutions-L1', reason: 'The runtime of CDK\'s bucket-deployment handler is chosen by aws-cdk-lib and moves with it.' },
      );
    }
  }
}

/**
 * The CDK asset bucket's objects as cdk-nag names them: each part literal when the stack
 * knows it (`cdk synth` with only a default Region knows the Region and the partition, not the account).
 */
function assetBucketObjects(stack: Stack): string {
  const qualifier = DefaultStackSynthesizer.DEFAULT_QUALIFIER;
  const known = (value: string, placeholder: string) => (Token.isUnresolved(value) ? placeholder : value);
  const partition = known(stack.partition, '<AWS::Partition>');
  const account = known(stack.account, '<AWS::AccountId>');
  const region = known(stack.region, '<AWS::Region>');
  return `arn:${partition}:s3:::cdk-${qualifier}-assets-${account}-${region}/*`;
}

/** The API's resource-server scope when the pool has it (Api adds it to a pool it creates), else the Cognito one. */
function defaultApiScope(userPool: cognito.IUserPool): cognito.OAuthScope {
  const resourceServer = userPool.node.tryFindChild('ResourceServer');
  if (!(resourceServer instanceof cognito.UserPoolResourceServer)) return cognito.OAuthScope.COGNITO_ADMIN;
  // A reference to the resource server: CloudFormation creates it before the client that allows its scope.
  return cognito.OAuthScope.resourceServer(resourceServer, new cognito.ResourceServerScope({ scopeName: API_SCOPE, scopeDescription: API_SCOPE }));
}
