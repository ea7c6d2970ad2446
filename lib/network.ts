import { RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/** Address range of the VPC; a literal so security-group rules can name it. */
export const VPC_CIDR = '10.40.0.0/16';

/** Props for {@link Network}. */
export interface NetworkProps {
  /**
   * An existing VPC (its network team's) to use instead of creating one: the functions go in its
   * private subnets with egress (or its isolated ones if it has none), the cache and the database in
   * its isolated subnets (or its private ones if it has none). Nothing is added to it: no endpoints,
   * no flow logs; the functions need a route (NAT) or interface endpoints for Secrets Manager,
   * Bedrock Runtime and CloudWatch Logs (docs/deploy.md, "Use an existing VPC").
   * @default - a new VPC as described above
   */
  readonly vpc?: ec2.IVpc;
  /** NAT gateways; with none the functions run in isolated subnets and reach AWS through interface endpoints only. @default 0 */
  readonly natGateways?: number;
  /** Availability zones to span. @default 2 */
  readonly maxAzs?: number;
  /** Create a Bedrock Runtime interface endpoint (needed when the model provider is Bedrock and there is no NAT). @default true */
  readonly bedrockEndpoint?: boolean;
  /** Retention of the VPC flow logs. @default logs.RetentionDays.ONE_MONTH */
  readonly flowLogRetention?: logs.RetentionDays;
  /** What happens to the flow log group when the stack is deleted. @default RemovalPolicy.DESTROY */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The VPC: isolated subnets for the cache and the database, the functions'
 * subnets (isolated, or private-with-egress when NAT is enabled), interface
 * endpoints for the AWS APIs the functions call, and flow logs.
 */
export class Network extends Construct {
  /** The VPC (created, or the one given). */
  public readonly vpc: ec2.IVpc;
  /** Whether the VPC was given rather than created here. */
  public readonly existing: boolean;
  /** Subnets the Lambda functions are placed in. */
  public readonly functionSubnets: ec2.SubnetSelection;
  /** Subnets for the cache and the database: never routable from or to the internet. */
  public readonly dataSubnets: ec2.SubnetSelection;
  /** Interface endpoints, so callers can open port 443 to them. */
  public readonly endpoints: readonly ec2.InterfaceVpcEndpoint[];
  /** Whether the function subnets have a route to the internet. */
  public readonly hasInternetEgress: boolean;

  constructor(scope: Construct, id: string, props: NetworkProps = {}) {
    super(scope, id);
    this.existing = props.vpc !== undefined;
    if (props.vpc) {
      const vpc = props.vpc;
      this.vpc = vpc;
      const hasIsolated = vpc.isolatedSubnets.length > 0;
      const hasPrivate = vpc.privateSubnets.length > 0;
      if (!hasIsolated && !hasPrivate) {
        throw new Error(`Network: the VPC ${vpc.vpcId} has no private or isolated subnets; the functions, cache and database never go in public subnets`);
      }
      this.dataSubnets = { subnetType: hasIsolated ? ec2.SubnetType.PRIVATE_ISOLATED : ec2.SubnetType.PRIVATE_WITH_EGRESS };
      this.functionSubnets = { subnetType: hasPrivate ? ec2.SubnetType.PRIVATE_WITH_EGRESS : ec2.SubnetType.PRIVATE_ISOLATED };
      this.hasInternetEgress = hasPrivate;
      this.endpoints = [];
      return;
    }
    const natGateways = props.natGateways ?? 0;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.DESTROY;
    this.hasInternetEgress = natGateways > 0;

    const subnetConfiguration: ec2.SubnetConfiguration[] = [
      { name: 'data', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
    ];
    if (this.hasInternetEgress) {
      subnetConfiguration.push(
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'app', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 24 },
      );
    }

    const vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(VPC_CIDR),
      maxAzs: props.maxAzs ?? 2,
      natGateways,
      subnetConfiguration,
      // Nothing here needs a default-open security group; CDK then strips its rules.
      restrictDefaultSecurityGroup: true,
    });
    this.vpc = vpc;
    this.dataSubnets = { subnetGroupName: 'data' };
    this.functionSubnets = this.hasInternetEgress ? { subnetGroupName: 'app' } : this.dataSubnets;

    const flowLogGroup = new logs.LogGroup(this, 'FlowLogs', {
      retention: props.flowLogRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy,
    });
    vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
      trafficType: ec2.FlowLogTrafficType.REJECT,
    });

    const endpointServices: Array<[string, ec2.InterfaceVpcEndpointAwsService]> = [
      ['SecretsManager', ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER],
    ];
    if (props.bedrockEndpoint ?? true) {
      endpointServices.push(['BedrockRuntime', ec2.InterfaceVpcEndpointAwsService.BEDROCK_RUNTIME]);
    }
    // An interface endpoint fails to create in an AZ whose endpoint service is absent (Bedrock Runtime is not
    // in every AZ). With a concrete account and region (what `cdk deploy` synthesizes) CDK looks the AZs up
    // and places the endpoint only there; an environment-agnostic template cannot know them.
    const { account, region } = Stack.of(this);
    const lookupSupportedAzs = !Token.isUnresolved(account) && !Token.isUnresolved(region);
    this.endpoints = endpointServices.map(([name, service]) => {
      const endpoint = vpc.addInterfaceEndpoint(name, {
        service,
        subnets: this.functionSubnets,
        privateDnsEnabled: true,
        open: false,
        lookupSupportedAzs,
      });
      // HTTPS from inside the VPC only: the secret-rotation function (its own security group) needs it too.
      endpoint.connections.allowFrom(ec2.Peer.ipv4(VPC_CIDR), ec2.Port.tcp(443), 'HTTPS from inside the VPC');
      return endpoint;
    });
  }
}
