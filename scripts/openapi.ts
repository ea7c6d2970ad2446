/** `npm run openapi`: writes docs/openapi.json from the route table and the routes' schemas (`--check`: exit 1 when it is stale). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { serializeOpenApiDocument } from '../layer/src/contracts/openapi';
import { version } from '../package.json';

/** The repository root: the bundle runs from `.build/scripts/`, so walk up to the package.json named chatbot-api. */
function findRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest) && (JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: string }).name === 'chatbot-api') return dir;
    if (path.dirname(dir) === dir) throw new Error('no chatbot-api package.json above ' + start);
  }
}
const root = findRoot(__dirname);
const target = path.join(root, 'docs', 'openapi.json');
const text = serializeOpenApiDocument(version);
if (process.argv.includes('--check')) {
  const current = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : '';
  if (current !== text) {
    console.error('docs/openapi.json is stale: run npm run openapi');
    process.exit(1);
  }
  console.log('docs/openapi.json is up to date');
} else {
  fs.writeFileSync(target, text);
  console.log(`wrote docs/openapi.json (${Buffer.byteLength(text)} bytes, ${Object.keys((JSON.parse(text) as { paths: object }).paths).length} paths)`);
}
