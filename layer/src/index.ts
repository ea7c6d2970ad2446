/**
 * `@chatbot/shared`: the one Lambda layer the three handlers share. Imported by name; the
 * stack publishes it as one LayerVersion at /opt/nodejs/node_modules/@chatbot/shared.
 */
export * from './ai-service';
export * from './cache-service';
export * from './config';
export * from './conversation-repository';
export * from './conversation-service';
export * from './conversation-wire';
export * from './database';
export * from './errors';
export * from './http-middlewares';
export * from './migrations';
export * from './observability';
export * from './redis-client';
export * from './reply-stream';
export * from './secrets';
export * from './sse-response';
export * from './request-validation';
export * from './contracts/route-table';
export * from './turn-limiter';
