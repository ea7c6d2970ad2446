/**
 * Builds the reference web client (web/src → one ES module) with esbuild, in memory: the local
 * server serves the result, the CDK construct writes it to a folder for the bucket deployment.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { build, buildSync, type BuildOptions } from 'esbuild';

/** One file of the built page. */
export interface WebFile {
  readonly body: Buffer;
  readonly contentType: string;
}

// Source and bundled copies of this module live at different depths: look upwards.
const WEB_ROOT = findWebRoot(__dirname);

function findWebRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    try {
      readFileSync(path.join(dir, 'web', 'index.html'));
      return path.join(dir, 'web');
    } catch {
      if (path.dirname(dir) === dir) return path.resolve('web');
    }
  }
}

const OPTIONS: BuildOptions = {
  entryPoints: [path.join(WEB_ROOT, 'src', 'main.ts')],
  bundle: true,
  format: 'esm',
  target: ['chrome120', 'firefox120', 'safari17'],
  minify: true,
  sourcemap: false,
  write: false,
  legalComments: 'none',
  logLevel: 'silent',
};

function files(script: Uint8Array): Map<string, WebFile> {
  return new Map<string, WebFile>([
    ['/index.html', { body: readFileSync(path.join(WEB_ROOT, 'index.html')), contentType: 'text/html; charset=utf-8' }],
    ['/style.css', { body: readFileSync(path.join(WEB_ROOT, 'style.css')), contentType: 'text/css; charset=utf-8' }],
    ['/app.js', { body: Buffer.from(script), contentType: 'text/javascript; charset=utf-8' }],
  ]);
}

export { contentSecurityPolicy, securityHeaders, type PagePolicyOptions } from './security-headers';

/** The page's files by URL path (`/index.html`, `/app.js`, `/style.css`). */
export async function buildWebClient(): Promise<Map<string, WebFile>> {
  const result = await build(OPTIONS);
  return files(result.outputFiles![0].contents);
}

/** The same, synchronously (CDK synthesis is synchronous). */
export function buildWebClientSync(): Map<string, WebFile> {
  const result = buildSync(OPTIONS);
  return files(result.outputFiles![0].contents);
}
