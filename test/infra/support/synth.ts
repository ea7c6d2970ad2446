import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, type Environment, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ChatbotApiStack } from '../../../lib/chatbot-api-stack';
import { REPO_ROOT } from '../../../scripts/build-layer';

/** The context `cdk deploy` starts from: cdk.json's knobs and feature flags. */
export function cdkJsonContext(): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'cdk.json'), 'utf8')).context;
}

export interface Synthesized {
  readonly stack: ChatbotApiStack;
  readonly template: Template;
  /** The template as plain JSON. */
  readonly json: { Resources: Record<string, CfnResource>; Outputs?: Record<string, unknown> };
  /** The cloud assembly directory (assets live in `asset.<hash>/`). */
  readonly assemblyDir: string;
  /** CDK's validation report, where cdk-nag puts every unacknowledged warning. */
  readonly validationReport: { pluginReports: Array<{ violations?: unknown[] }> };
}

export interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, any>;
  readonly DependsOn?: string[];
  readonly DeletionPolicy?: string;
  readonly UpdateReplacePolicy?: string;
}

// One outdir per test file: the asset cache is keyed by it, so each later synth reuses the bundles.
let sharedOutdir: string | undefined;

/** What a synth in a test does beyond building the template (each costs seconds per synth). */
export interface SynthesizeOptions {
  readonly outdir?: string;
  readonly env?: Environment;
  /**
   * Bundle the layer and the handlers (esbuild, about 9 s for a test file's first synth). Only the tests
   * that open the bundles need them; without, CDK skips bundling as `cdk synth --exclusively` does
   * for stacks it is not deploying (context `aws:cdk:bundling-stacks: []`): the template is the same
   * but for asset hashes.
   * @default false
   */
  readonly bundle?: boolean;
  /**
   * Run aws-cdk-lib's built-in CloudFormation validation, as `cdk synth` does (about 2 s to start
   * in each test file, 1.3 s per synth). cfn-lint runs on every documented profile in cfn-lint.test.ts;
   * the deploy-like synth of stack.test.ts runs this one.
   * @default false
   */
  readonly cloudFormationValidation?: boolean;
}

/**
 * Synthesizes the stack the way `bin/chatbot-api.ts` does (cdk.json context,
 * cdk-nag AwsSolutions as a validation plugin), with `-c`-style overrides as
 * strings. An unacknowledged cdk-nag error makes this throw.
 */
export function synthesize(overrides: Record<string, string> = {}, options: SynthesizeOptions = {}): Synthesized {
  sharedOutdir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'chatbot-cdk-'));
  const app = new App({
    outdir: options.outdir ?? sharedOutdir,
    analyticsReporting: false,
    builtinCloudFormationValidation: options.cloudFormationValidation ?? false,
    context: { ...cdkJsonContext(), ...(options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }), ...overrides },
  });
  const stack = new ChatbotApiStack(app, 'ChatbotApi', { env: options.env });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const assembly = app.synth();
  const template = Template.fromStack(stack);
  const validationReport = JSON.parse(fs.readFileSync(path.join(assembly.directory, 'validation-report.json'), 'utf8'));
  return { stack, template, json: template.toJSON() as Synthesized['json'], assemblyDir: assembly.directory, validationReport };
}

/**
 * The validation report's findings, less the stack's own deliberate deploy-time warnings
 * (`chatbot:*` annotations, e.g. "no alarmEmail"): cdk-nag findings and any other annotation remain.
 */
export function unacknowledgedFindings(s: Synthesized): unknown[] {
  return s.validationReport.pluginReports
    .flatMap((report) => (report.violations ?? []) as Array<{ ruleName?: string }>)
    .filter((violation) => !violation.ruleName?.startsWith('Annotation::chatbot:'));
}

/** Deletes the cloud assemblies this file's synths wrote (call from afterAll). */
export function removeSynthOutputs(...extra: string[]): void {
  for (const dir of [sharedOutdir, ...extra]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
  sharedOutdir = undefined;
}

/** Resources of one type, by logical id. */
export function resourcesOfType(json: Synthesized['json'], type: string): Array<[string, CfnResource]> {
  return Object.entries(json.Resources).filter(([, resource]) => resource.Type === type);
}

/** Replaces asset hashes (64 hex digits) so the snapshot does not depend on bundler output or the machine. */
export function normaliseTemplate(json: unknown): unknown {
  // Asset hashes, and the Lambda version ids CDK derives from them, change with any source edit.
  return JSON.parse(
    JSON.stringify(json)
      .replace(/[0-9a-f]{64}/g, '<HASH>')
      .replace(/CurrentVersion([0-9A-F]{8})[0-9a-f]{32}/g, 'CurrentVersion$1<HASH>'),
  );
}
