/**
 * cfn-lint (the CloudFormation linter, `pip install cfn-lint`) must report no errors on the
 * templates of the default, `cacheMode=serverless` and `stage=prod` synths, and of the
 * documented profiles (cache shards, Aurora Serverless v2 on dev and prod, WAF, SES and the
 * hosted web client, and the custom domain), and no warning but W3005 (the
 * redundant DependsOn CDK writes).
 *
 * Where cfn-lint is not on PATH the same synths run, and the test checks only what CDK
 * itself guarantees (a template of known resource types) and says that cfn-lint was not run.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { removeSynthOutputs, synthesize } from './support/synth';
import { AURORA_PROD_PROFILE, CUSTOM_DOMAIN_PROFILE, DEV_LOW_COST_PROFILE, OIDC_PROFILE, PROD_PROFILE, SCALE_PROFILE, WAF_PROFILE } from './support/profiles';

const COMBINATIONS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  default: {},
  'cacheMode-serverless': { cacheMode: 'serverless' },
  'stage-prod': PROD_PROFILE,
  'dev-low-cost': DEV_LOW_COST_PROFILE,
  'prod-scale': SCALE_PROFILE,
  'prod-aurora': AURORA_PROD_PROFILE,
  waf: WAF_PROFILE,
  // Any OpenID Connect issuer through the Lambda authorizer, no Cognito.
  oidc: OIDC_PROFILE,
  // The optional settings with template effects of their own: SES sender, one required scope, the hosted page.
  'cognito-ses-web-client': { selfSignUp: 'true', sesFromAddress: 'no-reply@example.com', apiScope: 'chatbot-api/conversations', webClient: 'true' },
  // The API on its own domain (regional, TLS 1.2) with a Route 53 alias, the web client pointed at it.
  'custom-domain': CUSTOM_DOMAIN_PROFILE,
};

const cfnLint = (() => {
  try {
    return execFileSync('cfn-lint', ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
})();

/** cfn-lint over some templates, without blocking the event loop (so two can run at once). */
function runCfnLint(files: string[]): Promise<{ stdout: string; status: number | null; error?: Error }> {
  return new Promise((resolve) => {
    const child = spawn('cfn-lint', ['--format', 'parseable', '--', ...files], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ stdout, status: null, error });
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ stdout, status, ...(signal ? { error: new Error(`cfn-lint killed by ${signal}`) } : {}) });
    });
  });
}

let dir: string;
const templates: Record<string, string> = {};

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatbot-cfn-lint-'));
  for (const [name, context] of Object.entries(COMBINATIONS)) {
    // Each synth overwrites the shared cloud assembly: keep a copy of every template.
    templates[name] = path.join(dir, `${name}.template.json`);
    fs.writeFileSync(templates[name], JSON.stringify(synthesize({ ...context }).json, null, 1));
  }
}, 240_000);

afterAll(() => {
  removeSynthOutputs(dir);
});

it(`templates of every documented combination have no cfn-lint errors (${cfnLint ?? 'cfn-lint not installed: CDK checks only'})`, async () => {
  if (!cfnLint) {
    console.warn('cfn-lint is not on PATH (pip install cfn-lint): only checking that the templates name known resource types.');
    for (const file of Object.values(templates)) {
      const { Resources } = JSON.parse(fs.readFileSync(file, 'utf8')) as { Resources: Record<string, { Type: string }> };
      for (const { Type } of Object.values(Resources)) expect(Type).toMatch(/^(AWS::\w+::\w+|Custom::\w+)$/);
    }
    return;
  }
  // Two processes, half the templates each: cfn-lint's start-up is a large part of its cost, and it uses one core.
  const files = Object.values(templates);
  const halves = [files.filter((_, i) => i % 2 === 0), files.filter((_, i) => i % 2 === 1)];
  const results = await Promise.all(halves.map((half) => runCfnLint(half)));
  const findings = results.flatMap((result) => result.stdout.split('\n').filter(Boolean));
  const errors = findings.filter((line) => /:E\d{4}:/.test(line));
  const warnings = findings.filter((line) => /:W\d{4}:/.test(line));
  if (warnings.length > 0) console.log(`[cfn-lint] ${warnings.length} warnings, e.g.\n${[...new Set(warnings.map((w) => w.replace(/^[^:]+:\d+:\d+:\d+:\d+:/, '')))].slice(0, 5).join('\n')}`);
  expect(results.map((result) => result.error)).toEqual([undefined, undefined]);
  expect(errors).toEqual([]);
  // The one accepted warning: W3005, a DependsOn CDK adds where a GetAtt already orders the resources.
  expect(warnings.filter((line) => !/:W3005:/.test(line))).toEqual([]);
  // Exit code bit 2 means errors; 4 and 8 are warnings and informational findings only.
  for (const result of results) expect((result.status ?? 0) & 2).toBe(0);
}, 330_000);
