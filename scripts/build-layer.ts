import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildSync } from 'esbuild';

/** Repository root (this file lives in `scripts/`). */
export const REPO_ROOT = path.resolve(__dirname, '..');
/** The `@chatbot/shared` workspace package the layer is built from. */
export const LAYER_PACKAGE_DIR = path.join(REPO_ROOT, 'layer');
/** SQL migrations shipped inside the layer, next to `dist/`, where the runner resolves `../migrations`. */
export const MIGRATIONS_DIR = path.join(LAYER_PACKAGE_DIR, 'migrations');

/** Where inside the layer the package lands: Lambda puts `/opt/nodejs/node_modules` on NODE_PATH. */
const PACKAGE_PATH_IN_LAYER = path.join('nodejs', 'node_modules', '@chatbot', 'shared');

/**
 * SDKs that only some functions need. The layer's entry leaves them external, and each is
 * bundled on its own into the package's private `node_modules/<sdk>/index.js`, where that
 * entry's `require` finds it on first use: a function loads only the SDKs it calls — the read
 * handlers none, post-conversation only its model provider's. Still ONE layer and one package
 * (`@chatbot/shared`); the handlers import it exactly as before.
 */
export const LAZY_SDKS: readonly string[] = ['openai', '@aws-sdk/client-bedrock-runtime', '@aws-sdk/client-secrets-manager', 'jose'];

const commonOptions = () =>
  ({
    bundle: true,
    platform: 'node',
    target: 'node24',
    // CJS: handlers resolve the layer through NODE_PATH, which only require() honours.
    format: 'cjs',
    minify: true,
    sourcemap: true,
    absWorkingDir: REPO_ROOT,
    logLevel: 'warning',
    legalComments: 'none',
  }) as const;

/**
 * Builds the Lambda layer into `outDir` (the layer's root, i.e. what becomes `/opt`):
 * `nodejs/node_modules/@chatbot/shared/{package.json,dist/index.js,node_modules/<sdk>/index.js,migrations/*.sql}`.
 *
 * Synchronous because CDK's `ILocalBundling.tryBundle` is; the stack and the
 * packaging test both call this, so the test exercises the artifact that ships.
 */
export function buildLayer(outDir: string): void {
  const packageDir = path.join(outDir, PACKAGE_PATH_IN_LAYER);
  fs.mkdirSync(path.join(packageDir, 'dist'), { recursive: true });

  buildSync({
    ...commonOptions(),
    entryPoints: [path.join(LAYER_PACKAGE_DIR, 'src', 'index.ts')],
    outfile: path.join(packageDir, 'dist', 'index.js'),
    // pg's optional native binding is never installed; leave its require() to fail softly at runtime.
    external: ['pg-native', ...LAZY_SDKS],
    // `import()` becomes `require()`: an ESM import from CJS would see only a `default` export
    // of the CJS vendor bundles.
    supported: { 'dynamic-import': false },
  });
  for (const sdk of LAZY_SDKS) {
    const sdkDir = path.join(packageDir, 'node_modules', sdk);
    buildSync({
      ...commonOptions(),
      stdin: { contents: `module.exports = require(${JSON.stringify(sdk)});`, resolveDir: LAYER_PACKAGE_DIR, loader: 'js' },
      outfile: path.join(sdkDir, 'index.js'),
    });
    fs.writeFileSync(path.join(sdkDir, 'package.json'), `${JSON.stringify({ name: sdk, main: 'index.js' }, null, 2)}\n`);
  }

  fs.writeFileSync(
    path.join(packageDir, 'package.json'),
    `${JSON.stringify({ name: '@chatbot/shared', main: 'dist/index.js' }, null, 2)}\n`,
  );

  const migrationsOut = path.join(packageDir, 'migrations');
  fs.mkdirSync(migrationsOut, { recursive: true });
  for (const file of listMigrationFiles()) {
    fs.copyFileSync(path.join(MIGRATIONS_DIR, file), path.join(migrationsOut, file));
  }
}

/** The migration files in apply order. */
export function listMigrationFiles(): string[] {
  if (!fs.existsSync(MIGRATIONS_DIR)) return [];
  return fs
    .readdirSync(MIGRATIONS_DIR)
    .filter((file) => file.endsWith('.sql'))
    .sort();
}

// `npx tsx scripts/build-layer.ts <outDir>` builds the layer by hand, e.g. to inspect it.
if (require.main === module) {
  const outDir = path.resolve(process.argv[2] ?? path.join(REPO_ROOT, '.build', 'layer'));
  fs.rmSync(outDir, { recursive: true, force: true });
  buildLayer(outDir);
  console.log(`layer built in ${outDir}`);
}
