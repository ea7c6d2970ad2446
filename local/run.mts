/**
 * Runs a TypeScript entry point the way the deployed functions run: bundled by esbuild into
 * CommonJS for Node 24, with middy (ESM-only) and the layer's TypeScript source bundled in and
 * every other package loaded from node_modules. `node local/run.mts <entry.ts> [args…]`.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { build, type Plugin } from 'esbuild';

const root = path.resolve(import.meta.dirname, '..');
const [entry, ...args] = process.argv.slice(2);
if (!entry) {
  console.error('usage: node local/run.mts <entry.ts> [args…]');
  process.exit(2);
}

/** Bundles @middy/* and @chatbot/shared; leaves every other bare import to Node at runtime. */
const externalPackages: Plugin = {
  name: 'external-packages',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('@middy/') || args.path === '@chatbot/shared' || args.path.startsWith('@chatbot/shared/')) return undefined;
      return { path: args.path, external: true };
    });
  },
};

// `.build/<folder>/<name>.cjs`: local/main.ts and bench/main.ts get bundles of their own.
const source = path.relative(root, path.resolve(root, entry));
const outfile = path.join(root, '.build', source.replace(/\.[cm]?ts$/, '.cjs'));
await build({
  entryPoints: [path.resolve(root, entry)],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node24',
  sourcemap: 'linked',
  // The layer's middy import needs the "import" condition: middy exports nothing else.
  conditions: ['import', 'node'],
  plugins: [externalPackages],
  logLevel: 'warning',
});

process.setSourceMapsEnabled(true);
process.argv = [process.argv[0], outfile, ...args];
createRequire(import.meta.url)(outfile);
