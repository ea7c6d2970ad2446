/**
 * Secrets Manager reads, cached per container: secrets are fetched once at first use and
 * refetched only when a caller says the cached value stopped working (rotation). The SDK is
 * loaded on the first read, not at import: a function configured with plain URLs (local,
 * tests) never loads it, and a deployed one pays for it inside its first request, once.
 */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

type SecretsManagerModule = typeof import('@aws-sdk/client-secrets-manager');

let sdk: Promise<{ module: SecretsManagerModule; client: SecretsManagerClient }> | undefined;
const cache = new Map<string, Promise<string>>();

/** The secret's string value; `refresh` drops the cached copy first. */
export function getSecretString(secretId: string, options: { refresh?: boolean } = {}): Promise<string> {
  if (options.refresh) cache.delete(secretId);
  let pending = cache.get(secretId);
  if (!pending) {
    sdk ??= import('@aws-sdk/client-secrets-manager').then((module) => ({ module, client: new module.SecretsManagerClient({}) }));
    pending = sdk.then(async ({ module, client }) => {
      const out = await client.send(new module.GetSecretValueCommand({ SecretId: secretId }));
      if (out.SecretString === undefined) throw new Error(`Secret ${secretId} has no SecretString`);
      return out.SecretString;
    });
    // A failed fetch must not be cached, or one throttle would poison the container.
    pending.catch(() => cache.delete(secretId));
    cache.set(secretId, pending);
  }
  return pending;
}
