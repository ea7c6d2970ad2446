/**
 * `npm run bench`: bundles `bench/main.ts` the way the functions are built (esbuild, CommonJS
 * for Node 24, middy and the layer's TypeScript source bundled in, every other package left to
 * node_modules) into `.build/bench/`, then runs it in this process.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { build, type Plugin } from 'esbuild';

const root = path.resolve(import.meta.dirname, '..');

/** middy ships ESM only and the layer is TypeScript source: both must be bundled; the rest stays external. */
const externalPackages: Plugin = {
  name: 'external-packages',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('@middy/') || args.path === '@chatbot/shared' || args.path.startsWith('@chatbot/shared/')) return undefined;
      return { path: args.path, external: true };
    });
  },
};

const outfile = path.join(root, '.build', 'bench', 'main.cjs');
await build({
  entryPoints: [path.join(root, 'bench', 'main.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node24',
  sourcemap: 'linked',
  plugins: [externalPackages],
  logLevel: 'warning',
});

process.setSourceMapsEnabled(true);
createRequire(import.meta.url)(outfile);
