/**
 * The package `chatbot-api`: the chat backend as constructs for a team's own CDK app.
 * Start with {@link ChatbotApi}; README.md, "Use it in your CDK app".
 */
export {
  ChatbotApi,
  configFromProps,
  validateProps,
  type ChatbotApiAuth,
  type ChatbotApiCacheProps,
  type ChatbotApiCognitoAuth,
  type ChatbotApiDatabaseProps,
  type ChatbotApiDomainProps,
  type ChatbotApiLimits,
  type ChatbotApiModelProps,
  type ChatbotApiOidcAuth,
  type ChatbotApiProps,
  type ChatbotApiSearchProps,
  type ChatbotApiShareProps,
} from './chatbot-api';
export { ChatbotApiStack, propsFromConfig, type ChatbotApiStackProps } from './chatbot-api-stack';
export { Api, type ApiDomainProps, type ApiProps } from './api';
export { Cache, type CacheProps } from './cache';
export { Database, type DatabaseProps } from './database';
export { ApiFirewall } from './firewall';
export { Functions, type FunctionsProps } from './functions';
export { Network, type NetworkProps } from './network';
export { Observability } from './observability';
export { WebClient, type WebClientProps } from './web-client';
export { DEFAULT_CONTEXT, loadStackConfig, StackConfigError, type CacheEngine, type CacheMode, type DatabaseMode, type StackConfig } from './stack-config';
