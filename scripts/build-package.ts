/**
 * Builds what `npm pack` ships (run by the `prepack` script): the constructs of lib/ as one CommonJS
 * bundle `dist/index.js` (aws-cdk-lib and constructs left to the team's app), their declarations in
 * `dist/types/`, and every piece of code the constructs deploy, prebuilt into `dist/assets/`:
 * the shared layer (scripts/build-layer.ts, the same function a repository synth runs), one bundle per
 * handler (lib/functions.ts HANDLER_BUNDLING's options), and the web client's files.
 *
 * Prebuilt rather than bundled at the team's synth: their app then needs neither esbuild, Docker,
 * TypeScript, this repository's sources nor its lockfile, its synth takes seconds, and the code it
 * deploys is byte for byte what this build (and the packed-construct test) produced.
 *
 * `npx tsx scripts/build-package.ts` (or `npm pack`, which runs it).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { build, buildSync, type Plugin } from 'esbuild';
import type { PrebuiltManifest } from '../lib/assets';
import { buildLayer, REPO_ROOT } from './build-layer';
import { buildWebClientSync } from '../web/build';

const DIST = path.join(REPO_ROOT, 'dist');
const ASSETS = path.join(DIST, 'assets');
/** The handlers: every `lambdas/<name>/index.ts`. */
const HANDLERS = fs.readdirSync(path.join(REPO_ROOT, 'lambdas')).filter((name) => fs.existsSync(path.join(REPO_ROOT, 'lambdas', name, 'index.ts')));

/** Modules lib/ loads only when building from sources (lib/assets.ts): left out, never reached in the package. */
const sourceOnly: Plugin = {
  name: 'source-only',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /\/(scripts\/build-layer|web\/build)$/ }, (args) => ({ path: args.path, external: true }));
  },
};

export async function buildPackage(): Promise<{ files: number; bytes: number }> {
  fs.rmSync(DIST, { recursive: true, force: true });

  // 1. The constructs: one CJS file; a team's Node (20+) runs it, its own aws-cdk-lib and constructs resolve.
  await build({
    entryPoints: [path.join(REPO_ROOT, 'lib', 'index.ts')],
    outfile: path.join(DIST, 'index.js'),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    sourcemap: true,
    external: ['aws-cdk-lib', 'aws-cdk-lib/*', 'constructs'],
    plugins: [sourceOnly],
    absWorkingDir: REPO_ROOT,
    logLevel: 'warning',
  });

  // 2. Declarations for TypeScript apps.
  execFileSync(process.execPath, [path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(REPO_ROOT, 'tsconfig.package.json')], {
    cwd: REPO_ROOT,
    stdio: 'inherit',
  });

  // 3. The layer, exactly as a repository synth builds it.
  buildLayer(path.join(ASSETS, 'layer'));

  // 4. One bundle per handler, with the options NodejsFunction gets (lib/functions.ts HANDLER_BUNDLING).
  for (const name of HANDLERS) {
    buildSync({
      entryPoints: [path.join(REPO_ROOT, 'lambdas', name, 'index.ts')],
      outfile: path.join(ASSETS, 'handlers', name, 'index.js'),
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node24',
      minify: true,
      sourcemap: true,
      external: ['@chatbot/shared'],
      absWorkingDir: REPO_ROOT,
      logLevel: 'warning',
    });
  }

  // 5. The web client's files.
  const webFiles: Record<string, string> = {};
  for (const [urlPath, file] of buildWebClientSync()) {
    const name = urlPath.replace(/^\//, '');
    fs.mkdirSync(path.join(ASSETS, 'web'), { recursive: true });
    fs.writeFileSync(path.join(ASSETS, 'web', name), file.body);
    webFiles[urlPath] = name;
  }

  const manifest: PrebuiltManifest = { handlers: HANDLERS, webFiles };
  fs.writeFileSync(path.join(ASSETS, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);

  let files = 0;
  let bytes = 0;
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else {
        files += 1;
        bytes += fs.statSync(full).size;
      }
    }
  };
  walk(DIST);
  return { files, bytes };
}

if (require.main === module) {
  const started = Date.now();
  buildPackage().then(
    ({ files, bytes }) => console.log(`dist/: ${files} files, ${(bytes / 1e6).toFixed(1)} MB, built in ${((Date.now() - started) / 1000).toFixed(1)} s`),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
