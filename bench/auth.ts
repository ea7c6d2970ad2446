/**
 * Bench section 15: what verifying a token costs per request. The OIDC verifier the deployed
 * `authMode=oidc` authorizer runs (layer/src/http/token-verifier.ts, `jose`), with a warm JWKS
 * from a local issuer (test/support/oidc-issuer.ts, over HTTP), against the path it replaced:
 * the hand-written HS256 verifier of the local sign-in (as it was before jose, kept here only as
 * the baseline), and that same sign-in now verified with jose. Also the first verification of
 * a container (discovery + JWKS fetch) and the JWKS fetches the whole run cost.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { signLocalToken, verifyLocalToken } from '../local/auth';
import { createOidcVerifier } from '../layer/src/http/token-verifier';
import { startLocalIssuer } from '../test/support/oidc-issuer';
import { markdownTable, ms, ratio } from './report';
import { interleaved, summarize, type Summary } from './stats';

const AUDIENCE = 'bench-api';
const SECRET = 'bench-secret';
const ROUNDS = { iterations: 2000, warmup: 200 };

/** The local sign-in's verifier before jose (local/auth.ts until this section was added): the baseline. */
function handWrittenHs256(token: string): string {
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((part) => !/^[A-Za-z0-9_-]*$/.test(part))) throw new Error('Malformed token');
  const json = (segment: string) => JSON.parse(Buffer.from(segment, 'base64url').toString('utf8')) as Record<string, unknown>;
  if (json(parts[0]).alg !== 'HS256') throw new Error('Unsupported token algorithm');
  const expected = Buffer.from(createHmac('sha256', SECRET).update(`${parts[0]}.${parts[1]}`).digest('base64url'));
  const actual = Buffer.from(parts[2]);
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) throw new Error('Invalid token signature');
  const claims = json(parts[1]);
  const now = Date.now() / 1000;
  if (typeof claims.exp !== 'number' || now > claims.exp + 30) throw new Error('Token expired');
  if (typeof claims.sub !== 'string' || claims.sub === '' || claims.sub.includes('\u0000') || !claims.sub.isWellFormed()) throw new Error('Token has no subject');
  return claims.sub;
}

export interface AuthBenchResult {
  readonly summaries: Record<string, Summary>;
  /** First verification of a fresh verifier: discovery, JWKS fetch, verify. */
  readonly coldFirst: Summary;
  readonly verifications: number;
  readonly jwksFetches: number;
  readonly discoveryFetches: number;
}

const HAND = 'HS256, hand-written (before)';
const JOSE_HS = 'HS256, jose (local sign-in now)';
const RS = 'RS256, jose, warm JWKS (authorizer)';
const ES = 'ES256, jose, warm JWKS (authorizer)';
const ED = 'EdDSA, jose, warm JWKS (authorizer)';

export async function measureAuth(log: (message: string) => void): Promise<AuthBenchResult> {
  const issuer = await startLocalIssuer(AUDIENCE);
  try {
    log('auth: verify cost per request');
    const verify = createOidcVerifier({ issuer: issuer.issuer, audience: AUDIENCE });
    const rs = await issuer.sign({ alg: 'RS256' });
    const es = await issuer.sign({ alg: 'ES256' });
    const ed = await issuer.sign({ alg: 'EdDSA' });
    const local = signLocalToken('bench-user', { secret: SECRET });
    const expect = (sub: string) => {
      if (sub !== 'oidc-user' && sub !== 'bench-user') throw new Error(`verified the wrong subject ${sub}`);
    };
    const summaries = await interleaved(
      [
        { name: HAND, run: async () => expect(handWrittenHs256(local)) },
        { name: JOSE_HS, run: async () => expect((await verifyLocalToken(local, { secret: SECRET })).sub) },
        { name: RS, run: async () => expect((await verify(rs)).sub) },
        { name: ES, run: async () => expect((await verify(es)).sub) },
        { name: ED, run: async () => expect((await verify(ed)).sub) },
      ],
      ROUNDS,
    );
    const verifications = (ROUNDS.iterations + ROUNDS.warmup) * 3;
    const jwksFetches = issuer.jwksFetches();
    const discoveryFetches = issuer.discoveryFetches();

    // A new container's first request: discovery + JWKS over HTTP (loopback here; the internet deployed), then the verification.
    const cold: number[] = [];
    for (let i = 0; i < 20; i += 1) {
      const fresh = createOidcVerifier({ issuer: issuer.issuer, audience: AUDIENCE });
      const start = performance.now();
      expect((await fresh(rs)).sub);
      cold.push(performance.now() - start);
    }
    return { summaries, coldFirst: summarize(cold), verifications, jwksFetches, discoveryFetches };
  } finally {
    await issuer.close();
  }
}

export function authSection(result: AuthBenchResult): string[] {
  const base = result.summaries[HAND].p50;
  const rows = [HAND, JOSE_HS, RS, ES, ED].map((name) => {
    const s = result.summaries[name];
    return [name, ms(s.p50), ms(s.p99), name === HAND ? '1×' : ratio(s.p50 / base)];
  });
  return [
    '## 15. Token verification per request (authMode=oidc authorizer, local sign-in)',
    `One verification in-process, ${ROUNDS.iterations} interleaved rounds after ${ROUNDS.warmup} warm-up. The authorizer's verifier (jose) with its JWKS ` +
      'already fetched, against the hand-written HS256 verifier the local sign-in had before jose. Deployed, API Gateway caches the ' +
      "authorizer's answer per token (`authorizerCacheTtl`, 300 s), so this cost is paid once per token per TTL, not per request.",
    markdownTable([['verifier', 'p50 ms', 'p99 ms', 'p50 vs before'], ...rows]),
    `JWKS fetches for ${result.verifications.toLocaleString('en-US')} OIDC verifications in one verifier (one container): ` +
      `**${result.jwksFetches}** (discovery documents: ${result.discoveryFetches}). A new container's first verification ` +
      `(discovery + JWKS over loopback HTTP, then verify): p50 ${ms(result.coldFirst.p50)} ms, p99 ${ms(result.coldFirst.p99)} ms (${result.coldFirst.n} containers).`,
  ];
}
