/**
 * `npm start`: the whole API on a laptop. Embedded Postgres and Redis unless DATABASE_URL /
 * REDIS_URL say otherwise, migrations, the three handlers behind the API Gateway emulator.
 */
import { signLocalToken } from './auth';
import { prepareLocalEnvironment, type LocalEnvironment } from './environment';
import { installLambdaRuntimeGlobals } from './lambda-runtime';

async function main(): Promise<void> {
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
    server = await startLocalServer();
  } catch (error) {
    await environment.close();
    throw error;
  }
  console.log(banner(server.url, environment));
}

function banner(url: string, environment: LocalEnvironment): string {
  const token = signLocalToken('demo-user');
  const lines = [
    '',
    `Chatbot API (local) listening on ${url}/backend-api`,
    `  database : ${environment.database}${environment.appliedMigrations.length ? ` (applied ${environment.appliedMigrations.join(', ')})` : ''}`,
    `  cache    : ${environment.cache}`,
    `  model    : ${environment.model}`,
    `  auth     : HS256 JWTs signed with LOCAL_JWT_SECRET${process.env.LOCAL_JWT_SECRET ? '' : ' (the documented default: local development only)'}`,
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
  console.error('Failed to start the local API:', error);
  process.exit(1);
});
