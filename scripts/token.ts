/**
 * `npm run token -- <user> [--ttl <seconds>]`: prints a local API token (HS256, signed with
 * LOCAL_JWT_SECRET or its documented default) whose `sub` is the user id.
 */
import { DEFAULT_TOKEN_TTL_SECONDS, getLocalJwtMaxLifetimeSeconds, signLocalToken } from '../local/auth';

function main(argv: readonly string[]): void {
  const positional: string[] = [];
  let ttl = DEFAULT_TOKEN_TTL_SECONDS;
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i] === '--ttl') ttl = Number(argv[++i]);
    else positional.push(argv[i]);
  }
  const [user = 'demo-user'] = positional;
  if (!Number.isInteger(ttl) || ttl <= 0) {
    console.error('usage: npm run token -- <user> [--ttl <seconds>]');
    process.exit(2);
  }
  const maxLifetime = getLocalJwtMaxLifetimeSeconds();
  if (ttl > maxLifetime) {
    console.error(`--ttl ${ttl} is longer than the server accepts (LOCAL_JWT_MAX_LIFETIME_SECONDS=${maxLifetime}); use at most that, or raise the variable for both.`);
    process.exit(2);
  }
  process.stdout.write(`${signLocalToken(user, { expiresInSeconds: ttl })}\n`);
}

main(process.argv.slice(2));
