/**
 * Secrets Manager reads, cached per container: secrets are fetched once at first use and
 * refetched only when a caller says the cached value stopped working (rotation).
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

let client: SecretsManagerClient | undefined;
const cache = new Map<string, Promise<string>>();

/** The secret's string value; `refresh` drops the cached copy first. */
export function getSecretString(secretId: string, options: { refresh?: boolean } = {}): Promise<string> {
  if (options.refresh) cache.delete(secretId);
  let pending = cache.get(secretId);
  if (!pending) {
    client ??= new SecretsManagerClient({});
    pending = client.send(new GetSecretValueCommand({ SecretId: secretId })).then((out) => {
      if (out.SecretString === undefined) throw new Error(`Secret ${secretId} has no SecretString`);
      return out.SecretString;
    });
    // A failed fetch must not be cached, or one throttle would poison the container.
    pending.catch(() => cache.delete(secretId));
    cache.set(secretId, pending);
  }
  return pending;
}
