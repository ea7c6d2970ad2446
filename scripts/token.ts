/**
 * `npm run token -- <user> [--ttl <seconds>]`: prints a local API token (HS256, signed with
 * LOCAL_JWT_SECRET or its documented default) whose `sub` is the user id.
 */
import { DEFAULT_TOKEN_TTL_SECONDS, getLocalJwtMaxLifetimeSeconds, signLocalToken } from '../local/auth';

const USAGE = 'usage: npm run token -- <user> [--ttl <seconds>]';

function fail(problem: string): never {
  console.error(`npm run token: ${problem}\n${USAGE}`);
  process.exit(2);
}

function main(argv: readonly string[]): void {
  const positional: string[] = [];
  let ttl = DEFAULT_TOKEN_TTL_SECONDS;
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i] === '--ttl') {
      const value = argv[++i];
      if (value === undefined) fail('--ttl needs a number of seconds, e.g. --ttl 3600');
      ttl = /^\d+$/.test(value) ? Number(value) : Number.NaN;
      if (!Number.isSafeInteger(ttl) || ttl <= 0) fail(`--ttl must be a whole number of seconds above 0 (the token's lifetime); got ${JSON.stringify(value)}`);
    } else if (argv[i].startsWith('-')) {
      fail(`unknown option ${JSON.stringify(argv[i])}`);
    } else {
      positional.push(argv[i]);
    }
  }
  if (positional.length > 1) fail(`one user at a time; got ${positional.length}: ${positional.join(' ')}`);
  const [user = 'demo-user'] = positional;
  const maxLifetime = getLocalJwtMaxLifetimeSeconds();
  if (ttl > maxLifetime) {
    fail(`--ttl ${ttl} is longer than the server accepts (LOCAL_JWT_MAX_LIFETIME_SECONDS=${maxLifetime}); use at most that, or raise the variable for both.`);
  }
  process.stdout.write(`${signLocalToken(user, { expiresInSeconds: ttl })}\n`);
}

main(process.argv.slice(2));
