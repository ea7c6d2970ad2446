/**
 * The package a team installs: `npm pack` (its prepack builds dist/ with scripts/build-package.ts),
 * installed into a temporary CDK app with a package.json of its own, outside this repository.
 * aws-cdk-lib and constructs come from this repository's node_modules as `file:` links (no network);
 * everything of chatbot-api comes from the tarball alone. The JavaScript app creates its own VPC and
 * a `ChatbotApi` in it and synthesizes; a TypeScript app is type-checked against the shipped .d.ts.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT } from '../../scripts/build-layer';

let dir: string;
let tarball: string;
let appDir: string;
let template: { Resources: Record<string, { Type: string; Properties?: Record<string, any> }> };
let appOutput: { url: unknown; badProps: string };
const timings: Record<string, number> = {};

const timed = <T>(name: string, run: () => T): T => {
  const started = Date.now();
  try {
    return run();
  } finally {
    timings[name] = (Date.now() - started) / 1000;
  }
};

const JS_APP = `
const { App, Stack } = require('aws-cdk-lib');
const ec2 = require('aws-cdk-lib/aws-ec2');
const { ChatbotApi } = require('chatbot-api');
const app = new App({ outdir: process.argv[2] });
const stack = new Stack(app, 'TeamStack', { env: { account: '123456789012', region: 'eu-west-1' } });
const vpc = new ec2.Vpc(stack, 'TeamVpc', {
  maxAzs: 2,
  natGateways: 1,
  subnetConfiguration: [
    { name: 'public', subnetType: ec2.SubnetType.PUBLIC },
    { name: 'app', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
    { name: 'data', subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
  ],
});
let badProps = '';
try {
  new ChatbotApi(new Stack(app, 'Bad'), 'Chat', { cache: { replicas: 9 }, domain: { domainName: 'api.example.com', certificateArn: 'nope' } });
} catch (error) {
  badProps = error.message;
}
const chat = new ChatbotApi(stack, 'Chat', { vpc, allowedOrigins: ['https://chat.example.com'], cache: { replicas: 0 } });
app.synth({ validateOnSynthesis: false });
process.stdout.write(JSON.stringify({ url: stack.resolve(chat.url), badProps }));
`;

const TS_APP = `
import { App, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { ChatbotApi, type ChatbotApiProps } from 'chatbot-api';
const app = new App();
const stack = new Stack(app, 'TeamStack');
const props: ChatbotApiProps = {
  vpc: new ec2.Vpc(stack, 'Vpc'),
  auth: { mode: 'cognito', userPoolId: 'eu-west-1_AbCdEf123' },
  cache: { mode: 'serverless', serverlessMaxStorageGb: 10 },
  database: { mode: 'aurora-serverless', auroraMaxAcu: 8 },
  domain: { domainName: 'api.example.com', certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/abc' },
  limits: { userTurnLimit: 100 },
};
const chat = new ChatbotApi(stack, 'Chat', props);
export const urls: string[] = [chat.url, chat.openAiUrl, chat.alarmTopic.topicArn, chat.api.restApi.restApiId];
`;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatbot-packed-'));
  // npm pack runs prepack (scripts/build-package.ts) first: the tarball is what a release would be.
  const packed = timed('pack', () =>
    execFileSync('npm', ['pack', '--json', '--pack-destination', dir], { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }),
  );
  tarball = path.join(dir, JSON.parse(packed.slice(packed.indexOf('[')))[0].filename);

  appDir = path.join(dir, 'team-app');
  fs.mkdirSync(appDir);
  const link = (name: string) => `file:${path.join(REPO_ROOT, 'node_modules', name)}`;
  fs.writeFileSync(
    path.join(appDir, 'package.json'),
    JSON.stringify({ name: 'team-app', version: '1.0.0', private: true, dependencies: { 'aws-cdk-lib': link('aws-cdk-lib'), constructs: link('constructs'), 'chatbot-api': `file:${tarball}` } }),
  );
  timed('install', () =>
    execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'], { cwd: appDir, stdio: 'pipe' }),
  );
  fs.writeFileSync(path.join(appDir, 'app.js'), JS_APP);
  fs.writeFileSync(path.join(appDir, 'app.ts'), TS_APP);
  const outdir = path.join(dir, 'cdk.out');
  const synth = timed('synth', () => spawnSync(process.execPath, ['app.js', outdir], { cwd: appDir, encoding: 'utf8' }));
  if (synth.status !== 0) throw new Error(`the team's app failed to synthesize:\n${synth.stderr}`);
  appOutput = JSON.parse(synth.stdout);
  template = JSON.parse(fs.readFileSync(path.join(outdir, 'TeamStack.template.json'), 'utf8'));
}, 300_000);

afterAll(() => {
  console.log(`[packed construct] tarball ${(fs.statSync(tarball).size / 1e6).toFixed(2)} MB; ${Object.entries(timings).map(([step, s]) => `${step} ${s.toFixed(1)} s`).join(', ')}`);
  fs.rmSync(dir, { recursive: true, force: true });
});

const ofType = (type: string) => Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);

it('the tarball holds compiled JS, declarations and the prebuilt code, and no TypeScript source', () => {
  const files = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).split('\n').filter(Boolean);
  expect(files).toEqual(expect.arrayContaining(['package/dist/index.js', 'package/dist/types/lib/index.d.ts', 'package/dist/assets/manifest.json']));
  expect(files.filter((file) => file.startsWith('package/dist/assets/handlers/') && file.endsWith('/index.js'))).toHaveLength(fs.readdirSync(path.join(REPO_ROOT, 'lambdas')).length);
  expect(files.some((file) => /\/migrations\/[^/]+\.sql$/.test(file))).toBe(true);
  expect(files.filter((file) => /\.ts$/.test(file) && !file.endsWith('.d.ts'))).toEqual([]);
  // Installing it pulls nothing from a registry: its only needs are the app's aws-cdk-lib and constructs.
  const manifest = JSON.parse(fs.readFileSync(path.join(appDir, 'node_modules', 'chatbot-api', 'package.json'), 'utf8'));
  expect(manifest.dependencies ?? {}).toEqual({});
  expect(Object.keys(manifest.peerDependencies).sort()).toEqual(['aws-cdk-lib', 'constructs']);
});

it("synthesizes in the team's app: everything in the team's VPC, none created", () => {
  expect(ofType('AWS::EC2::VPC').map(([id]) => id)).toEqual([expect.stringMatching(/^TeamVpc/)]);
  expect(ofType('AWS::EC2::VPCEndpoint')).toEqual([]);
  const functions = ofType('AWS::Lambda::Function').filter(([id]) => id.startsWith('ChatFunctions'));
  // Every handler but the OIDC authorizer, which exists with auth mode oidc only.
  expect(functions.length).toBe(fs.readdirSync(path.join(REPO_ROOT, 'lambdas')).filter((name) => name !== 'authorizer').length);
  for (const [, fn] of functions) {
    expect(fn.Properties!.Handler).toBe('index.handler');
    expect(fn.Properties!.VpcConfig.SubnetIds).toEqual([{ Ref: expect.stringMatching(/^TeamVpcappSubnet1/) }, { Ref: expect.stringMatching(/^TeamVpcappSubnet2/) }]);
  }
  const dataSubnets = [{ Ref: expect.stringMatching(/^TeamVpcdataSubnet1/) }, { Ref: expect.stringMatching(/^TeamVpcdataSubnet2/) }];
  expect(ofType('AWS::ElastiCache::SubnetGroup')[0][1].Properties!.SubnetIds).toEqual(dataSubnets);
  expect(ofType('AWS::RDS::DBSubnetGroup')[0][1].Properties!.SubnetIds).toEqual(dataSubnets);
  expect(ofType('AWS::ElastiCache::ReplicationGroup')[0][1].Properties!.ReplicasPerNodeGroup ?? 0).toBe(0);
  expect(ofType('AWS::ApiGateway::RestApi')).toHaveLength(1);
  expect(JSON.stringify(appOutput.url)).toContain('/backend-api');
});

it('validates props with the messages of the context, naming the prop', () => {
  expect(appOutput.badProps).toContain('"cache.replicas" (-c cacheReplicas) must be an integer from 0 to 5; got 9');
  expect(appOutput.badProps).toContain('"domain.certificateArn" (-c certificateArn) must be an ACM certificate ARN');
});

it('a TypeScript app type-checks against the shipped declarations, and a wrongly typed prop does not', () => {
  const tsc = path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const options = ['--noEmit', '--strict', '--skipLibCheck', '--module', 'commonjs', '--moduleResolution', 'node10', '--target', 'es2022', '--types', 'node', '--typeRoots', path.join(REPO_ROOT, 'node_modules', '@types')];
  fs.writeFileSync(path.join(appDir, 'bad.ts'), TS_APP.replace('serverlessMaxStorageGb: 10', "serverlessMaxStorageGb: 'ten'").replace("mode: 'cognito'", "mode: 'saml'"));
  // One compiler run for both files (loading aws-cdk-lib's declarations is most of its cost): app.ts must be clean.
  const result = timed('tsc', () => spawnSync(process.execPath, [tsc, ...options, 'app.ts', 'bad.ts'], { cwd: appDir, encoding: 'utf8' }));
  const errors = result.stdout.split('\n').filter((line) => /error TS\d+/.test(line));
  expect(errors.filter((line) => !line.startsWith('bad.ts'))).toEqual([]);
  expect(result.stdout).toContain("Type 'string' is not assignable to type 'number'");
  expect(result.stdout).toContain('"saml"');
}, 120_000);
