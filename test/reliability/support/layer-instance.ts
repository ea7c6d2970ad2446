/**
 * A separate copy of the handlers and the layer, as a separate Lambda container
 * would have: its own config, pg pool, ioredis client and counters. Built with
 * `jest.isolateModules`; the configuration is parsed while `env` overrides process.env and
 * stays cached in that copy, so instances pointed at different Redis servers coexist.
 */
import type * as Handlers from '../../support/handlers';
import type * as Shared from '@chatbot/shared/testing';

export type Env = Readonly<Record<string, string | undefined>>;

export interface LayerInstance {
  /** The handlers of this copy, invoked through the local Lambda emulator. */
  readonly api: typeof Handlers;
  /** This copy's raw handler functions, for events built by hand. */
  readonly handlers: { readonly get: unknown; readonly list: unknown; readonly post: unknown };
  /** The layer of this copy (its `redisStats`, `databaseStats`, `getCacheService`, ...). */
  readonly shared: typeof Shared;
  /** Closes this copy's Redis client and pg pool. */
  close(): Promise<void>;
}

const instances = new Set<LayerInstance>();

export function loadLayerInstance(env: Env = {}): LayerInstance {
  const saved = Object.fromEntries(Object.keys(env).map((name) => [name, process.env[name]]));
  const apply = (values: Env) => {
    for (const [name, value] of Object.entries(values)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
  apply(env);
  try {
    let api: typeof Handlers | undefined;
    let shared: typeof Shared | undefined;
    let handlers: LayerInstance['handlers'] | undefined;
    jest.isolateModules(() => {
      shared = require('@chatbot/shared/testing') as typeof Shared;
      api = require('../../support/handlers') as typeof Handlers;
      handlers = {
        get: require('../../../lambdas/get-conversation').handler,
        list: require('../../../lambdas/list-conversations').handler,
        post: require('../../../lambdas/post-conversation').handler,
      };
    });
    // The handlers already parsed it at load (CORS); this makes the snapshot explicit.
    shared!.getConfig();
    const instance: LayerInstance = {
      api: api!,
      handlers: handlers!,
      shared: shared!,
      async close() {
        instances.delete(instance);
        await Promise.all([shared!.closeRedis(), shared!.closeDatabase()]);
      },
    };
    instances.add(instance);
    return instance;
  } finally {
    apply(saved);
  }
}

/** Closes every instance still open (afterAll). */
export async function closeAllLayerInstances(): Promise<void> {
  await Promise.all([...instances].map((instance) => instance.close()));
}
