/**
 * `npm start`: the whole API on a laptop. Embedded Postgres and Redis unless DATABASE_URL /
 * REDIS_URL say otherwise, migrations, every API function of the route table behind the API Gateway emulator.
 */
import { assertSafeBinding, getLocalJwtSecret, signLocalToken } from './auth';
import { readOidcSettings } from '../layer/src/http/token-verifier';
import { prepareLocalEnvironment, type LocalEnvironment } from './environment';
import { installLambdaRuntimeGlobals } from './lambda-runtime';
import { errorCodes, LocalStartError } from './start-error';

async function main(): Promise<void> {
  const started = Date.now();
  // Before anything slow starts: refusing takes a moment, not the embedded database's start-up.
  assertSafeBinding(process.env.HOST ?? '127.0.0.1', getLocalJwtSecret());
  try {
    readOidcSettings(process.env);
  } catch (error) {
    throw new LocalStartError(`${(error as Error).message}: fix or unset it (docs/local.md lists every variable).`, { cause: error });
  }
  // Before any handler module loads: the streaming handler needs `awslambda` at import time.
  installLambdaRuntimeGlobals();
  const environment = await prepareLocalEnvironment();
  let closing: Promise<void> | undefined;
  let server: { url: string; close(): Promise<void> } | undefined;
  const shutdown = (signal: string) => {
    closing ??= (async () => {
      console.log(`\n${signal}: shutting down…`);
      // A stuck connection must not keep the process alive forever.
      setTimeout(() => process.exit(1), 10_000).unref();
      await server?.close().catch((error: unknown) => console.error(error));
      await environment.close();
      process.exit(0);
    })();
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));

  try {
    const { startLocalServer } = await import('./server');
    server = await startLocalServer().catch((error: unknown) => {
      throw listenError(error) ?? error;
    });
    await environment.announce(server.url);
  } catch (error) {
    await environment.close();
    throw error;
  }
  console.log(banner(server.url, environment, Date.now() - started));
}

/** PORT / HOST problems a person can fix, as one line. */
function listenError(error: unknown): LocalStartError | undefined {
  const port = process.env.PORT ?? '3000';
  const host = process.env.HOST ?? '127.0.0.1';
  const codes = errorCodes(error);
  if (error instanceof Error && error.message.startsWith('Invalid configuration:')) {
    return new LocalStartError(`${error.message}: fix or unset it (docs/local.md lists every variable).`, { cause: error });
  }
  if (codes.includes('EADDRINUSE')) {
    const next = Number(port) > 0 && Number(port) < 65535 ? Number(port) + 1 : 3001;
    return new LocalStartError(`PORT ${port} is already in use on ${host} (another npm start?): stop it, or pick another port: PORT=${next} npm start (PORT=0 takes any free one).`, { cause: error });
  }
  if (codes.includes('ERR_SOCKET_BAD_PORT')) return new LocalStartError(`PORT=${JSON.stringify(port)} is not a port number: use 1 to 65535, or 0 for any free port.`, { cause: error });
  if (codes.includes('EADDRNOTAVAIL') || codes.includes('ENOTFOUND')) {
    return new LocalStartError(`HOST=${JSON.stringify(host)} is not an address of this machine: unset it to listen on 127.0.0.1.`, { cause: error });
  }
  if (codes.includes('EACCES')) return new LocalStartError(`PORT ${port} needs privileges to listen on: use a port above 1023, e.g. PORT=3000.`, { cause: error });
  return undefined;
}

function banner(url: string, environment: LocalEnvironment, elapsedMs: number): string {
  const token = signLocalToken('demo-user');
  const lines = [
    '',
    `Chatbot API (local) listening on ${url}/backend-api (ready in ${(elapsedMs / 1000).toFixed(1)} s)`,
    `  web page : ${url}/  (signs in locally; or ${url}/#token=<jwt>)`,
    `  database : ${environment.database}${environment.appliedMigrations.length ? ` (applied ${environment.appliedMigrations.join(', ')})` : ''}`,
    `  cache    : ${environment.cache}`,
    `  model    : ${environment.model}`,
    process.env.OIDC_ISSUER?.trim()
      ? `  auth     : access tokens of ${process.env.OIDC_ISSUER.trim()} (aud ${process.env.OIDC_AUDIENCE ?? ''}) only, as the authMode=oidc authorizer checks them; local tokens are refused`
      : `  auth     : HS256 JWTs signed with LOCAL_JWT_SECRET${process.env.LOCAL_JWT_SECRET ? '' : ' (the documented default: local development only)'}`,
    '',
    'Try it (in another terminal):',
    `  TOKEN=${token}   # or: TOKEN=$(npm run --silent token -- demo-user)`,
    `  curl -N ${url}/backend-api/f/conversation -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\`,
    `    -d '{"action":"next","messages":[{"id":"m1","author":{"role":"user"},"content":{"content_type":"text","parts":["Hello there"]}}],"parent_message_id":"client-created-root"}'`,
    `  curl -s ${url}/backend-api/conversations -H "Authorization: Bearer $TOKEN"`,
    `  curl -si ${url}/backend-api/conversation/<conversation_id> -H "Authorization: Bearer $TOKEN"   # X-Cache: MISS, then HIT`,
    '',
    'Ctrl+C stops the server.',
  ];
  return lines.join('\n');
}

main().catch((error: unknown) => {
  // A problem the person can fix is one line; anything else is a bug, with its stack.
  if (error instanceof LocalStartError) console.error(`npm start: ${error.message}`);
  else console.error('Failed to start the local API:', error);
  process.exit(1);
});
