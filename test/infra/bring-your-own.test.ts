/**
 * Bring your own network and domain: an existing VPC (`-c vpcId`, looked up; or the construct's
 * `vpc` prop) gets the functions, the cache and the database and no VPC is created; `-c userPoolId`
 * still imports the pool; a custom domain (`-c domainName -c certificateArn`, optional Route 53 zone)
 * becomes a regional TLS 1.2 API Gateway domain mapped to the stage, and the web client's config and
 * CSP name it. Missing halves of a pair fail the synth naming the flag.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { ChatbotApi } from '../../lib/chatbot-api';
import { ChatbotApiStack } from '../../lib/chatbot-api-stack';
import { cdkJsonContext, removeSynthOutputs, resourcesOfType, synthesize, unacknowledgedFindings, type Synthesized } from './support/synth';
import { CUSTOM_DOMAIN_PROFILE, EXAMPLE_DOMAIN } from './support/profiles';

const ENV = { account: '123456789012', region: 'eu-west-1' };
const VPC_ID = 'vpc-0123456789abcdef0';
const subnet = (id: string, az: string, cidr: string) => ({ subnetId: id, availabilityZone: az, cidr, routeTableId: `rtb-${id.slice(7)}` });
/** What `cdk synth` stores in cdk.context.json for Vpc.fromLookup({ vpcId }): the lookup answered, as in a real account. */
const LOOKUP = {
  [`vpc-provider:account=${ENV.account}:filter.vpc-id=${VPC_ID}:region=${ENV.region}:returnAsymmetricSubnets=true`]: {
    vpcId: VPC_ID,
    vpcCidrBlock: '10.9.0.0/16',
    availabilityZones: [],
    subnetGroups: [
      { name: 'public', type: 'Public', subnets: [subnet('subnet-0pub1', 'eu-west-1a', '10.9.0.0/24'), subnet('subnet-0pub2', 'eu-west-1b', '10.9.1.0/24')] },
      { name: 'app', type: 'Private', subnets: [subnet('subnet-0app1', 'eu-west-1a', '10.9.2.0/24'), subnet('subnet-0app2', 'eu-west-1b', '10.9.3.0/24')] },
      { name: 'data', type: 'Isolated', subnets: [subnet('subnet-0data1', 'eu-west-1a', '10.9.4.0/24'), subnet('subnet-0data2', 'eu-west-1b', '10.9.5.0/24')] },
    ],
  },
};

let looked: Synthesized;
let imported: Template;

beforeAll(() => {
  looked = synthesize({ vpcId: VPC_ID, userPoolId: 'eu-west-1_AbCdEf123', ...CUSTOM_DOMAIN_PROFILE, ...(LOOKUP as unknown as Record<string, string>) }, { env: ENV });

  // A team's VPC known only by ids, with isolated subnets only (no NAT): interface endpoints are theirs.
  const app = new App({ context: cdkJsonContext() });
  const stack = new Stack(app, 'Team', { env: ENV });
  const vpc = ec2.Vpc.fromVpcAttributes(stack, 'TeamVpc', {
    vpcId: 'vpc-0aaaabbbbccccdddd',
    vpcCidrBlock: '10.7.0.0/16',
    availabilityZones: ['eu-west-1a', 'eu-west-1b'],
    isolatedSubnetIds: ['subnet-0iso1', 'subnet-0iso2'],
    isolatedSubnetRouteTableIds: ['rtb-1', 'rtb-2'],
  });
  new ChatbotApi(stack, 'Chat', { vpc });
  imported = Template.fromStack(stack);
}, 300_000);

afterAll(() => removeSynthOutputs());

describe('an existing VPC', () => {
  it('-c vpcId: no VPC, endpoint or flow log is created; the functions use the looked-up private subnets, data the isolated ones', () => {
    for (const type of ['AWS::EC2::VPC', 'AWS::EC2::Subnet', 'AWS::EC2::VPCEndpoint', 'AWS::EC2::FlowLog', 'AWS::EC2::NatGateway']) {
      expect([type, resourcesOfType(looked.json, type).length]).toEqual([type, 0]);
    }
    const functions = resourcesOfType(looked.json, 'AWS::Lambda::Function').filter(([id]) => id.startsWith('Functions'));
    expect(functions.length).toBeGreaterThan(10);
    for (const [, fn] of functions) expect(fn.Properties!.VpcConfig.SubnetIds).toEqual(['subnet-0app1', 'subnet-0app2']);
    expect(resourcesOfType(looked.json, 'AWS::ElastiCache::SubnetGroup')[0][1].Properties!.SubnetIds).toEqual(['subnet-0data1', 'subnet-0data2']);
    expect(resourcesOfType(looked.json, 'AWS::RDS::DBSubnetGroup')[0][1].Properties!.SubnetIds).toEqual(['subnet-0data1', 'subnet-0data2']);
    // Private subnets route out: the functions may call HTTPS anywhere (Secrets Manager, Bedrock, Logs through NAT).
    const sg = resourcesOfType(looked.json, 'AWS::EC2::SecurityGroup').find(([id]) => id.startsWith('FunctionsSecurityGroup'))![1];
    expect(sg.Properties!.SecurityGroupEgress).toEqual(expect.arrayContaining([expect.objectContaining({ CidrIp: '0.0.0.0/0', FromPort: 443, ToPort: 443 })]));
    expect(unacknowledgedFindings(looked)).toEqual([]);
  });

  it('-c vpcId is answered by the VPC lookup (cdk.context.json): nothing is left to look up', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(looked.assemblyDir, 'manifest.json'), 'utf8'));
    expect(manifest.missing ?? []).toEqual([]);
  });

  it('-c userPoolId still imports the pool: no pool is created', () => {
    expect(resourcesOfType(looked.json, 'AWS::Cognito::UserPool')).toEqual([]);
    const authorizer = resourcesOfType(looked.json, 'AWS::ApiGateway::Authorizer')[0][1];
    expect(JSON.stringify(authorizer.Properties!.ProviderARNs)).toContain('userpool/eu-west-1_AbCdEf123');
  });

  it('-c vpcId without an account and Region fails the synth naming the flag', () => {
    expect(() => synthesize({ vpcId: VPC_ID })).toThrow(/"vpcId" needs the stack's account and Region/);
    expect(() => synthesize({ vpcId: 'my-vpc' }, { env: ENV })).toThrow(/"vpcId" must be a VPC id such as vpc-0123456789abcdef0; got "my-vpc"/);
  });

  it('the vpc prop (Vpc.fromVpcAttributes, isolated subnets only): no VPC created, everything in the given subnets, HTTPS only inside the VPC', () => {
    imported.resourceCountIs('AWS::EC2::VPC', 0);
    imported.resourceCountIs('AWS::EC2::VPCEndpoint', 0);
    const functions = Object.entries(imported.findResources('AWS::Lambda::Function')).filter(([id]) => id.startsWith('ChatFunctions'));
    expect(functions.length).toBeGreaterThan(10);
    for (const [, fn] of functions) expect(fn.Properties.VpcConfig.SubnetIds).toEqual(['subnet-0iso1', 'subnet-0iso2']);
    imported.hasResourceProperties('AWS::ElastiCache::SubnetGroup', { SubnetIds: ['subnet-0iso1', 'subnet-0iso2'] });
    imported.hasResourceProperties('AWS::RDS::DBSubnetGroup', { SubnetIds: ['subnet-0iso1', 'subnet-0iso2'] });
    const sg = Object.entries(imported.findResources('AWS::EC2::SecurityGroup')).find(([id]) => id.startsWith('ChatFunctionsSecurityGroup'))![1];
    const egress = sg.Properties.SecurityGroupEgress as Array<{ CidrIp?: string; FromPort: number }>;
    expect(egress.filter((rule) => rule.CidrIp === '0.0.0.0/0')).toEqual([]);
    expect(egress).toEqual(expect.arrayContaining([expect.objectContaining({ CidrIp: '10.7.0.0/16', FromPort: 443 })]));
  });

  it('a VPC with only public subnets is refused', () => {
    const stack = new Stack(new App({ context: cdkJsonContext() }), 'Public', { env: ENV });
    const vpc = ec2.Vpc.fromVpcAttributes(stack, 'PublicVpc', { vpcId: 'vpc-0aaaabbbbccccdddd', availabilityZones: ['eu-west-1a'], publicSubnetIds: ['subnet-pub'] });
    expect(() => new ChatbotApi(stack, 'Chat', { vpc })).toThrow(/has no private or isolated subnets/);
  });
});

describe('a custom domain', () => {
  it('is a regional API Gateway domain with TLS 1.2, the stage mapped at its root, and a Route 53 alias', () => {
    const [, domain] = resourcesOfType(looked.json, 'AWS::ApiGateway::DomainName')[0];
    expect(domain.Properties).toMatchObject({
      DomainName: EXAMPLE_DOMAIN,
      RegionalCertificateArn: CUSTOM_DOMAIN_PROFILE.certificateArn,
      EndpointConfiguration: { Types: ['REGIONAL'] },
      SecurityPolicy: 'TLS_1_2',
    });
    const [, mapping] = resourcesOfType(looked.json, 'AWS::ApiGateway::BasePathMapping')[0];
    expect(mapping.Properties!.BasePath).toBeUndefined();
    expect(mapping.Properties!.Stage).toBeDefined();
    const [, record] = resourcesOfType(looked.json, 'AWS::Route53::RecordSet')[0];
    expect(record.Properties).toMatchObject({ Name: `${EXAMPLE_DOMAIN}.`, Type: 'A', HostedZoneId: CUSTOM_DOMAIN_PROFILE.hostedZoneId });
    expect(JSON.stringify(record.Properties!.AliasTarget)).toContain('RegionalDomainName');
  });

  it('the API URL outputs and the web client (config.json and CSP) use the domain', () => {
    expect(looked.json.Outputs).toMatchObject({
      ApiUrl: { Value: `https://${EXAMPLE_DOMAIN}/backend-api` },
      OpenAiBaseUrl: { Value: `https://${EXAMPLE_DOMAIN}/v1` },
    });
    const [, headers] = resourcesOfType(looked.json, 'AWS::CloudFront::ResponseHeadersPolicy')[0];
    expect(JSON.stringify(headers.Properties)).toContain(`connect-src 'self' https://${EXAMPLE_DOMAIN}`);
    const configs = fs
      .readdirSync(looked.assemblyDir)
      .filter((entry) => entry.startsWith('asset.') && fs.existsSync(path.join(looked.assemblyDir, entry, 'config.json')))
      .map((entry) => JSON.parse(fs.readFileSync(path.join(looked.assemblyDir, entry, 'config.json'), 'utf8')));
    expect(configs.map((config) => config.apiUrl)).toContain(`https://${EXAMPLE_DOMAIN}/`);
  });

  it.each([
    [{ domainName: EXAMPLE_DOMAIN }, /"certificateArn" is required with domainName/],
    [{ certificateArn: CUSTOM_DOMAIN_PROFILE.certificateArn }, /"domainName" is required with certificateArn/],
    [{ ...CUSTOM_DOMAIN_PROFILE, hostedZoneName: '' }, /"hostedZoneId" and "hostedZoneName" go together/],
    [{ ...CUSTOM_DOMAIN_PROFILE, hostedZoneName: 'example.org' }, /"hostedZoneName" must be the zone holding domainName/],
    [{ domainName: 'api_example', certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/x' }, /"domainName" must be a fully qualified domain name/],
  ])('%j fails the synth naming the flag', (context, message) => {
    expect(() => new ChatbotApiStack(new App({ context: { ...cdkJsonContext(), ...context } }), 'Bad')).toThrow(message);
  });
});
