import { once } from 'node:events';
import { Readable, type Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import middy from '@middy/core';
import { executionModeStreamifyResponse } from '@middy/core/StreamifyResponse';
import {
  buildRestApiEvent,
  HttpResponseStream,
  installLambdaRuntimeGlobals,
  invokeHandler,
  isStreamingHandler,
  LambdaResponseStream,
  METADATA_PRELUDE_CONTENT_TYPE,
  type StreamedInvokeResult,
} from '../../local/lambda-runtime';

installLambdaRuntimeGlobals();

const awslambda = (globalThis as unknown as { awslambda: { streamifyResponse: <T>(h: T) => T; HttpResponseStream: typeof HttpResponseStream } }).awslambda;

/** Reads a streamed body, recording each chunk as it arrives. */
async function readChunks(body: Readable): Promise<string[]> {
  const chunks: string[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk as Buffer).toString('utf8'));
  return chunks;
}

function asStreamed(result: Awaited<ReturnType<typeof invokeHandler>>): StreamedInvokeResult {
  if (!result.streamed) throw new Error(`expected a streamed result, got ${JSON.stringify(result)}`);
  return result;
}

describe('installLambdaRuntimeGlobals', () => {
  it('is idempotent and marks streaming handlers like the runtime does', () => {
    // Prepare
    const before = awslambda;

    // Act
    installLambdaRuntimeGlobals();
    const handler = awslambda.streamifyResponse(async () => undefined);

    // Assess
    expect((globalThis as unknown as { awslambda: unknown }).awslambda).toBe(before);
    expect(isStreamingHandler(handler)).toBe(true);
    expect((handler as unknown as Record<symbol, unknown>)[Symbol.for('aws.lambda.runtime.handler.streaming')]).toBe('response');
    expect(isStreamingHandler(async () => undefined)).toBe(false);
  });
});

describe('HttpResponseStream.from', () => {
  it('writes the JSON prelude and 8 NUL bytes before the first body bytes', async () => {
    // Prepare
    const raw: Buffer[] = [];
    let contentType = '';
    const stream = new LambdaResponseStream((chunk, type, done) => {
      raw.push(chunk);
      contentType = type;
      done();
    });

    // Act
    const returned = HttpResponseStream.from(stream, { statusCode: 201, headers: { 'content-type': 'text/plain' } });
    returned.write('hello');
    returned.end();
    await once(returned, 'finish');

    // Assess
    expect(returned).toBe(stream);
    expect(contentType).toBe(METADATA_PRELUDE_CONTENT_TYPE);
    expect(Buffer.concat(raw)).toEqual(
      Buffer.concat([Buffer.from('{"statusCode":201,"headers":{"content-type":"text/plain"}}'), Buffer.alloc(8), Buffer.from('hello')]),
    );
    expect(() => stream.setContentType('text/html')).toThrow('too late');
  });
});

describe('invokeHandler', () => {
  it('returns a buffered handler result as API Gateway would', async () => {
    // Prepare
    const handler = async (event: { path: string }) => ({
      statusCode: 200,
      headers: { 'Content-Type': 'application/json', 'X-Count': 3 },
      body: JSON.stringify({ path: event.path }),
    });

    // Act
    const result = await invokeHandler(handler, buildRestApiEvent({ method: 'GET', resource: '/x', path: '/x' }));

    // Assess
    expect(result).toEqual({ statusCode: 200, headers: { 'Content-Type': 'application/json', 'X-Count': '3' }, body: '{"path":"/x"}' });
  });

  it('answers 502 when a buffered handler throws or returns a malformed response', async () => {
    // Prepare
    const spy = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    const event = buildRestApiEvent({ method: 'GET', resource: '/x', path: '/x' });

    // Act
    const thrown = await invokeHandler(async () => {
      throw new Error('boom');
    }, event);
    const malformed = await invokeHandler(async () => ({ body: 'no status' }), event);
    spy.mockRestore();

    // Assess
    expect(thrown).toEqual({ statusCode: 502, headers: { 'content-type': 'application/json' }, body: '{"detail":{"message":"Internal server error","code":"internal_error"}}' });
    expect(malformed.statusCode).toBe(502);
  });

  it('refuses a buffered response over 6 MB with 502, as Lambda does, and passes one just under it', async () => {
    const spy = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    const event = buildRestApiEvent({ method: 'GET', resource: '/x', path: '/x' });
    const respond = (bodyBytes: number) => invokeHandler(async () => ({ statusCode: 200, headers: {}, body: 'x'.repeat(bodyBytes) }), event);

    const over = await respond(6 * 1024 * 1024);
    const under = await respond(6 * 1024 * 1024 - 100);
    const logged = spy.mock.calls.map((call) => String(call[1]));
    spy.mockRestore();

    expect(over.statusCode).toBe(502);
    expect(logged.some((line) => /Response payload size exceeded/.test(line))).toBe(true);
    expect(under.statusCode).toBe(200);
  });

  it('passes a Lambda context with a request id and a countdown', async () => {
    // Prepare
    let seen: { awsRequestId: string; functionName: string; remaining: number } | undefined;
    const handler = async (_event: unknown, context: { awsRequestId: string; functionName: string; getRemainingTimeInMillis(): number }) => {
      seen = { awsRequestId: context.awsRequestId, functionName: context.functionName, remaining: context.getRemainingTimeInMillis() };
      return { statusCode: 204, body: '' };
    };

    // Act
    await invokeHandler(handler, {}, { context: { functionName: 'get-conversation', timeoutMs: 10_000 } });

    // Assess
    expect(seen?.awsRequestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(seen?.functionName).toBe('get-conversation');
    expect(seen?.remaining).toBeGreaterThan(9_000);
    expect(seen?.remaining).toBeLessThanOrEqual(10_000);
  });

  it('parses the prelude of a streaming handler and delivers chunks as they are written', async () => {
    // Prepare
    const handler = awslambda.streamifyResponse(async (_event: unknown, responseStream: Writable) => {
      const stream = awslambda.HttpResponseStream.from(responseStream, {
        statusCode: 200,
        headers: { 'Content-Type': 'text/event-stream' },
        multiValueHeaders: { 'X-Multi': ['a', 'b'] },
      });
      for (const word of ['one', 'two', 'three']) {
        stream.write(`data: ${word}\n\n`);
        await sleep(30);
      }
      stream.end();
    });

    // Act
    const result = asStreamed(await invokeHandler(handler, {}));
    const arrivals: number[] = [];
    const chunks: string[] = [];
    for await (const chunk of result.body) {
      arrivals.push(Date.now());
      chunks.push(Buffer.from(chunk as Buffer).toString('utf8'));
    }

    // Assess
    expect(result.statusCode).toBe(200);
    expect(result.headers).toEqual({ 'Content-Type': 'text/event-stream' });
    expect(result.multiValueHeaders).toEqual({ 'X-Multi': ['a', 'b'] });
    expect(chunks).toEqual(['data: one\n\n', 'data: two\n\n', 'data: three\n\n']);
    expect(arrivals[2] - arrivals[0]).toBeGreaterThanOrEqual(40);
  });

  it('answers 200 application/octet-stream for a stream without a prelude', async () => {
    // Prepare
    const handler = awslambda.streamifyResponse(async (_event: unknown, responseStream: Writable) => {
      responseStream.write('raw bytes');
      responseStream.end();
    });

    // Act
    const result = asStreamed(await invokeHandler(handler, {}));

    // Assess
    expect(result.statusCode).toBe(200);
    expect(result.headers).toEqual({ 'content-type': 'application/octet-stream' });
    expect((await readChunks(result.body)).join('')).toBe('raw bytes');
  });

  it('answers 502 when a streaming handler fails before writing, and cuts the body when it fails later', async () => {
    // Prepare
    const spy = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    const early = awslambda.streamifyResponse(async () => {
      throw new Error('before any byte');
    });
    const late = awslambda.streamifyResponse(async (_event: unknown, responseStream: Writable) => {
      awslambda.HttpResponseStream.from(responseStream, { statusCode: 200, headers: {} }).write('partial');
      await sleep(10);
      throw new Error('mid-stream');
    });

    // Act
    const earlyResult = await invokeHandler(early, {});
    const lateResult = asStreamed(await invokeHandler(late, {}));
    const lateError = await readChunks(lateResult.body).catch((error: Error) => error);
    spy.mockRestore();

    // Assess
    expect(earlyResult).toMatchObject({ statusCode: 502, body: '{"detail":{"message":"Internal server error","code":"internal_error"}}' });
    expect(lateResult.statusCode).toBe(200);
    expect(lateError).toBeInstanceOf(Error);
    expect((lateError as Error).message).toBe('mid-stream');
  });

  it('tears down a middy streaming pipeline when the client goes away', async () => {
    // Prepare
    let produced = 0;
    let sourceDestroyed = false;
    let handlerError: unknown;
    const source = new Readable({
      read() {
        produced += 1;
        setTimeout(() => this.push(`data: ${produced}\n\n`), 20);
      },
      destroy(error, callback) {
        sourceDestroyed = true;
        callback(error);
      },
    });
    const handler = middy({ executionMode: executionModeStreamifyResponse }).handler(async () => ({
      statusCode: 200,
      headers: { 'Content-Type': 'text/event-stream' },
      body: source,
    }));
    const controller = new AbortController();
    const handlerDone = new Promise<void>((resolve) => {
      // Observe the handler's own promise: the runtime emulation does not swallow its outcome silently.
      const wrapped = async (event: unknown, stream: Writable, context: never) => {
        try {
          await (handler as unknown as (e: unknown, s: Writable, c: never) => Promise<void>)(event, stream, context);
        } catch (error) {
          handlerError = error;
        } finally {
          resolve();
        }
      };
      (wrapped as unknown as Record<symbol, string>)[Symbol.for('aws.lambda.runtime.handler.streaming')] = 'response';
      void invokeHandler(wrapped, {}, { signal: controller.signal }).then(async (result) => {
        const body = asStreamed(result).body;
        body.on('error', () => undefined);
        for await (const chunk of body) {
          expect(Buffer.from(chunk as Buffer).toString()).toMatch(/^data: \d+/);
          controller.abort();
        }
      }).catch(() => undefined);
    });

    // Act
    await handlerDone;

    // Assess
    expect(isStreamingHandler(handler)).toBe(true);
    expect(sourceDestroyed).toBe(true);
    expect((handlerError as NodeJS.ErrnoException | undefined)?.code).toBe('ECONNRESET');
  });

  it('rejects with the abort reason when the client goes away before the prelude', async () => {
    // Prepare
    const controller = new AbortController();
    const handler = awslambda.streamifyResponse(async () => {
      await sleep(50);
    });

    // Act
    const pending = invokeHandler(handler, {}, { signal: controller.signal });
    controller.abort(new Error('client gone'));

    // Assess
    await expect(pending).rejects.toThrow('client gone');
  });
});

describe('buildRestApiEvent', () => {
  it('builds a REST API proxy event with authorizer claims', () => {
    // Act
    const event = buildRestApiEvent({
      method: 'get',
      resource: '/backend-api/conversation/{conversation_id}',
      path: '/backend-api/conversation/abc',
      pathParameters: { conversation_id: 'abc' },
      query: { limit: '5', tag: ['a', 'b'] },
      headers: { 'Content-Type': 'application/json', 'User-Agent': 'jest', 'X-Many': ['1', '2'] },
      body: '{"x":1}',
      userId: 'user-1',
    });

    // Assess
    expect(event).toMatchObject({
      resource: '/backend-api/conversation/{conversation_id}',
      path: '/backend-api/conversation/abc',
      httpMethod: 'GET',
      headers: { 'Content-Type': 'application/json', 'User-Agent': 'jest', 'X-Many': '2' },
      multiValueHeaders: { 'Content-Type': ['application/json'], 'X-Many': ['1', '2'] },
      queryStringParameters: { limit: '5', tag: 'b' },
      multiValueQueryStringParameters: { limit: ['5'], tag: ['a', 'b'] },
      pathParameters: { conversation_id: 'abc' },
      body: '{"x":1}',
      isBase64Encoded: false,
      requestContext: {
        httpMethod: 'GET',
        resourcePath: '/backend-api/conversation/{conversation_id}',
        path: '/local/backend-api/conversation/abc',
        stage: 'local',
        authorizer: { claims: { sub: 'user-1' } },
        identity: { sourceIp: '127.0.0.1', userAgent: 'jest' },
      },
    });
    expect(event.requestContext.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('uses null for an absent query string, path parameters and body, and no claims without a user', () => {
    // Act
    const event = buildRestApiEvent({ method: 'GET', resource: '/backend-api/conversations', path: '/backend-api/conversations' });

    // Assess
    expect(event.queryStringParameters).toBeNull();
    expect(event.multiValueQueryStringParameters).toBeNull();
    expect(event.pathParameters).toBeNull();
    expect(event.body).toBeNull();
    expect(event.requestContext.authorizer).toBeUndefined();
  });

  it('base64-encodes a binary body', () => {
    // Act
    const event = buildRestApiEvent({ method: 'POST', resource: '/x', path: '/x', body: Buffer.from([0xff, 0x00, 0xfe]) });

    // Assess
    expect(event.isBase64Encoded).toBe(true);
    expect(Buffer.from(event.body ?? '', 'base64')).toEqual(Buffer.from([0xff, 0x00, 0xfe]));
  });
});
