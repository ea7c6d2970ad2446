#!/usr/bin/env node
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ChatbotApiStack } from '../lib/chatbot-api-stack';

const app = new App();
new ChatbotApiStack(app, 'ChatbotApi', {
  description: 'Serverless ChatGPT-style chat backend: API Gateway, Lambda, ElastiCache, RDS PostgreSQL',
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
// Every finding must be fixed or acknowledged with a reason; an unacknowledged error fails synth.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
