/** Metrics leave as CloudWatch EMF lines on stdout, one flush per invocation; logs are structured JSON. */
import type * as Handlers from '../support/handlers';

describe('observability', () => {
  it('publishes CacheMiss then CacheHit as EMF in the ChatbotApi namespace, and logs JSON with the request id', async () => {
    const saved = { ...process.env };
    process.env.POWERTOOLS_METRICS_DISABLED = 'false';
    process.env.POWERTOOLS_LOG_LEVEL = 'INFO';
    const lines: string[] = [];
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    let handlers!: typeof Handlers;
    let shared!: typeof import('@chatbot/shared/testing');
    jest.isolateModules(() => {
      handlers = require('../support/handlers');
      shared = require('@chatbot/shared/testing');
    });
    try {
      const userId = handlers.newUserId();
      const { conversationId } = await handlers.sendMessage(userId, 'count me');
      lines.length = 0;
      await handlers.getConversation(conversationId, userId);
      await handlers.getConversation(conversationId, userId);
      await handlers.getConversation('not-a-uuid', userId);
    } finally {
      write.mockRestore();
      process.env = saved;
      await shared.closeRedis();
      await shared.closeDatabase();
    }
    const records = lines.flatMap((line) => line.split('\n')).filter((l) => l.trim().startsWith('{')).map((l) => JSON.parse(l));
    const emf = records.filter((r) => r._aws);
    expect(emf.map((r) => Object.keys(r).filter((k) => k.startsWith('Cache')))).toEqual([['CacheMiss'], ['CacheHit']]);
    expect(emf[0]._aws.CloudWatchMetrics[0]).toMatchObject({ Namespace: 'ChatbotApi', Dimensions: [['service']] });
    expect(emf[0].service).toBe('chatbot-api');
    const requestLog = records.find((r) => r.message === 'Request failed');
    expect(requestLog).toMatchObject({ level: 'INFO', status: 422, code: 'validation_error', service: 'chatbot-api' });
    expect(requestLog.function_request_id).toEqual(expect.any(String));
  });
});
