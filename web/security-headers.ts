/**
 * The page's security headers, one definition for every place that serves it: `npm start`
 * (local/web-assets.ts, through web/build.ts) and CloudFront (lib/web-client.ts). Pure: no imports.
 */

/** Where the page may connect besides its own origin. */
export interface PagePolicyOptions {
  /** Origin of the API when it is not the page's own (e.g. `https://abc.execute-api.eu-west-1.amazonaws.com`). */
  readonly apiOrigin?: string;
  /** Cognito managed-login domain (`<prefix>.auth.<region>.amazoncognito.com`), whose token endpoint the page calls. */
  readonly cognitoDomain?: string;
}

/**
 * The Content-Security-Policy the page is built for: its own script and stylesheet only (no
 * inline script or style, so an injected handler cannot run even past the sanitizer), requests
 * only to itself, the API and Cognito's token endpoint, no plugins, never framed. Sign-in and
 * sign-out are top-level navigations, which CSP does not restrict.
 */
export function contentSecurityPolicy(options: PagePolicyOptions = {}): string {
  const connect = ["'self'", options.apiOrigin, options.cognitoDomain && `https://${options.cognitoDomain}`].filter(Boolean).join(' ');
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src ${connect}`,
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "object-src 'none'",
  ].join('; ');
}

/** Headers a hosted copy of the page should send with it. */
export function securityHeaders(options: PagePolicyOptions = {}): Record<string, string> {
  return {
    'Content-Security-Policy': contentSecurityPolicy(options),
    'X-Frame-Options': 'DENY',
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
  };
}
