import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Where the code the constructs deploy comes from: the repository's sources (bundled at synth with
 * esbuild, as `cdk deploy` in this repository does), or the prebuilt copies `npm pack` puts in the
 * package (`dist/assets/`, built by scripts/build-package.ts), so a team's CDK app synthesizes with
 * neither esbuild, Docker, TypeScript nor this repository's sources.
 *
 * The packaged `dist/index.js` is one esbuild bundle of lib/, so `__dirname` is `dist/` there, and
 * `lib/` (no `assets/` folder) in the repository.
 */
export const PREBUILT_DIR: string | undefined = (() => {
  const dir = path.join(__dirname, 'assets');
  return fs.existsSync(path.join(dir, 'manifest.json')) ? dir : undefined;
})();

/** What scripts/build-package.ts wrote into `dist/assets/manifest.json`. */
export interface PrebuiltManifest {
  /** Handler folder names under `handlers/`, each with `index.js`. */
  readonly handlers: readonly string[];
  /** The web client's files (URL path → file under `web/`). */
  readonly webFiles: Readonly<Record<string, string>>;
}

/** Layout of the prebuilt assets, relative to {@link PREBUILT_DIR}. */
export const PREBUILT_LAYOUT = {
  manifest: 'manifest.json',
  layer: 'layer',
  handlers: 'handlers',
  web: 'web',
  /** The migrations inside the built layer (what migrate applies). */
  migrations: path.join('layer', 'nodejs', 'node_modules', '@chatbot', 'shared', 'migrations'),
} as const;

/** The packaged manifest, or undefined in the repository. */
export function prebuiltManifest(): PrebuiltManifest | undefined {
  return PREBUILT_DIR ? JSON.parse(fs.readFileSync(path.join(PREBUILT_DIR, PREBUILT_LAYOUT.manifest), 'utf8')) : undefined;
}

/** Folder of the SQL migrations the migrate function applies: the package's copy, or layer/migrations. */
export function migrationsDir(): string {
  return PREBUILT_DIR ? path.join(PREBUILT_DIR, PREBUILT_LAYOUT.migrations) : path.resolve(__dirname, '..', 'layer', 'migrations');
}

/** The web client's files by URL path: the packaged copies, or built now from web/ (repository only). */
export function webClientFiles(): Map<string, { readonly body: Buffer }> {
  const manifest = prebuiltManifest();
  if (manifest && PREBUILT_DIR) {
    return new Map(Object.entries(manifest.webFiles).map(([urlPath, file]) => [urlPath, { body: fs.readFileSync(path.join(PREBUILT_DIR!, PREBUILT_LAYOUT.web, file)) }]));
  }
  // Loaded only here: the package build leaves web/build (and esbuild) out of the bundle.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { buildWebClientSync } = require('../web/build') as typeof import('../web/build');
  return buildWebClientSync();
}
