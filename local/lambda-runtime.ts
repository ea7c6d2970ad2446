/**
 * An emulation of the parts of the AWS Lambda Node.js runtime and of API Gateway's REST
 * proxy integration that the handlers depend on, so they run unchanged on a laptop and in
 * tests: the `awslambda` globals used by response streaming, a Lambda `context`, REST (v1)
 * proxy events, and an invoker that turns a handler's output into what API Gateway sends.
 *
 * Byte-level behaviour follows aws-lambda-nodejs-runtime-interface-client
 * (`src/stream/http-response-stream.ts`, `src/stream/response-stream.ts`,
 * `src/utils/globals.ts`): `HttpResponseStream.from` switches the stream's content type to
 * `application/vnd.awslambda.http-integration-response` and installs a hook that writes the
 * JSON prelude and 8 NUL bytes just before the first write.
 */
import { randomUUID } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
// Brings in @types/aws-lambda's `declare global { namespace awslambda { ... } }`, the type of
// the globals installed below, so handler code type-checks against the real declarations.
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { gatewayError, gatewayErrorBody } from '../layer/src/contracts/route-table';

/** Content type that tells API Gateway a JSON prelude precedes the body (runtime constant). */
export const METADATA_PRELUDE_CONTENT_TYPE = 'application/vnd.awslambda.http-integration-response';
const DELIMITER_LEN = 8;
const DEFAULT_STREAM_CONTENT_TYPE = 'application/octet-stream';
/** The runtime marks streaming handlers with this symbol whose value is `'response'`. */
const HANDLER_STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const HANDLER_HIGHWATERMARK = Symbol.for('aws.lambda.runtime.handler.streaming.highWaterMark');
const STREAM_RESPONSE = 'response';
/** What API Gateway answers (502, its DEFAULT_5XX gateway response) when the integration fails or returns a malformed response. */
const INTERNAL_SERVER_ERROR_BODY = gatewayErrorBody(gatewayError('DEFAULT_5XX'));

/** Lambda's limit on a buffered (request-response) invocation's response payload: 6 MB. */
export const MAX_BUFFERED_RESPONSE_BYTES = 6 * 1024 * 1024;

type WriteHook = (write: (chunk: string | Uint8Array) => void) => void;

/**
 * The writable the runtime passes to a streaming handler. Like the real one (an HTTP request
 * to the Runtime API), non-buffer chunks are JSON-stringified and the content type can only be
 * set before the first write.
 */
export class LambdaResponseStream extends Writable {
  /** Set by `HttpResponseStream.from`; runs once, right before the first write. */
  _onBeforeFirstWrite?: WriteHook;
  private contentType = DEFAULT_STREAM_CONTENT_TYPE;
  private writeCalled = false;

  constructor(
    private readonly sink: (chunk: Buffer, contentType: string, done: (error?: Error | null) => void) => void,
    highWaterMark?: number,
  ) {
    super({ highWaterMark, decodeStrings: true });
  }

  /** Sets the response content type; throws once writing has started, as the runtime does. */
  setContentType(contentType: string): void {
    if (this.writeCalled) throw new Error('Cannot set content-type, too late.');
    this.contentType = contentType;
  }

  override write(chunk: unknown, encoding?: BufferEncoding | ((error: Error | null | undefined) => void), callback?: (error: Error | null | undefined) => void): boolean {
    const data = typeof chunk === 'string' || chunk instanceof Uint8Array ? chunk : JSON.stringify(chunk);
    if (!this.writeCalled && typeof this._onBeforeFirstWrite === 'function') {
      this._onBeforeFirstWrite((ch) => super.write(ch));
    }
    this.writeCalled = true;
    // Writable's overloads do not survive forwarding a union, hence the narrowings.
    return typeof encoding === 'function' ? super.write(data, encoding) : super.write(data, encoding as BufferEncoding, callback);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.writeCalled = true;
    this.sink(chunk, this.contentType, done);
  }
}

/** `awslambda.HttpResponseStream`: the helper for HTTP integrations (API Gateway, function URLs). */
export class HttpResponseStream {
  /** Prepends `JSON.stringify(prelude)` and 8 NUL bytes to the body; returns the same stream. */
  static from(underlyingStream: Writable, prelude: Record<string, unknown>): Writable {
    const stream = underlyingStream as LambdaResponseStream;
    stream.setContentType(METADATA_PRELUDE_CONTENT_TYPE);
    const metadataPrelude = JSON.stringify(prelude);
    stream._onBeforeFirstWrite = (write) => {
      write(metadataPrelude);
      write(new Uint8Array(DELIMITER_LEN));
    };
    return stream;
  }
}

/** A streaming handler as `awslambda.streamifyResponse` receives it. */
export type StreamingHandler<TEvent = unknown> = (event: TEvent, responseStream: Writable, context: Context) => Promise<unknown>;

/** The shape of the `awslambda` global the Lambda Node.js runtime installs. */
export interface LambdaRuntimeGlobals {
  readonly streamifyResponse: <T extends StreamingHandler<never>>(handler: T, options?: { highWaterMark?: number }) => T;
  readonly HttpResponseStream: typeof HttpResponseStream;
}

const runtimeGlobals: LambdaRuntimeGlobals = {
  streamifyResponse: (handler, options) => {
    const marked = handler as unknown as Record<symbol, unknown>;
    marked[HANDLER_STREAMING] = STREAM_RESPONSE;
    if (typeof options?.highWaterMark === 'number') marked[HANDLER_HIGHWATERMARK] = options.highWaterMark;
    return handler;
  },
  HttpResponseStream,
};

/**
 * Defines `globalThis.awslambda` as the Lambda runtime does. Must run before a module that
 * creates a streaming handler is imported (middy calls `awslambda.streamifyResponse` at load).
 * Idempotent; keeps an `awslambda` that is already there (the real runtime's).
 */
export function installLambdaRuntimeGlobals(): void {
  const g = globalThis as unknown as { awslambda?: Partial<LambdaRuntimeGlobals> };
  if (typeof g.awslambda?.streamifyResponse === 'function' && g.awslambda.HttpResponseStream) return;
  g.awslambda = { ...g.awslambda, ...runtimeGlobals };
}

/** True when the handler was wrapped by `awslambda.streamifyResponse`. */
export function isStreamingHandler(handler: unknown): boolean {
  return typeof handler === 'function' && (handler as unknown as Record<symbol, unknown>)[HANDLER_STREAMING] === STREAM_RESPONSE;
}

/** Options of {@link createLambdaContext}. */
export interface LambdaContextOptions extends Partial<Omit<Context, 'getRemainingTimeInMillis'>> {
  /** Function timeout that `getRemainingTimeInMillis` counts down from. @default 30000 */
  readonly timeoutMs?: number;
}

/** A Lambda `context` with the fields Powertools and middy read. */
export function createLambdaContext(options: LambdaContextOptions = {}): Context {
  const { timeoutMs = 30_000, ...overrides } = options;
  const functionName = overrides.functionName ?? 'local-function';
  const deadline = Date.now() + timeoutMs;
  const unsupported = (name: string) => () => {
    throw new Error(`context.${name}() is deprecated and not emulated; return a value or reject instead`);
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `${new Date().toISOString().slice(0, 10).replaceAll('-', '/')}/[$LATEST]${randomUUID().replaceAll('-', '')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupported('done'),
    fail: unsupported('fail'),
    succeed: unsupported('succeed'),
    ...overrides,
  };
}

/** Input of {@link buildRestApiEvent}; only `method`, `resource` and `path` are required. */
export interface RestApiEventInput {
  /** HTTP method. */
  readonly method: string;
  /** The API Gateway resource template, e.g. `/backend-api/conversation/{conversation_id}`. */
  readonly resource: string;
  /** The request path without the stage. */
  readonly path: string;
  /** Values of the resource's `{placeholders}`. @default null */
  readonly pathParameters?: Record<string, string> | null;
  /** Query string; repeated keys as arrays. @default none (null in the event) */
  readonly query?: Record<string, string | readonly string[] | undefined>;
  /** Request headers as received; repeated headers as arrays. @default {} */
  readonly headers?: Record<string, string | readonly string[] | undefined>;
  /** Request body; a Buffer is base64-encoded unless it is valid UTF-8 text. @default null */
  readonly body?: string | Buffer | null;
  /** Marks a string body as already base64-encoded. @default false */
  readonly isBase64Encoded?: boolean;
  /** The authorizer's `sub` claim. @default no authorizer claims */
  readonly userId?: string;
  /** Extra authorizer claims (Cognito passes every claim as a string). @default {} */
  readonly claims?: Record<string, string>;
  /**
   * A Lambda authorizer's answer instead of Cognito's claims: `principalId` and the context,
   * which API Gateway puts side by side in `requestContext.authorizer`. @default none
   */
  readonly lambdaAuthorizer?: { readonly principalId: string; readonly context?: Record<string, string | number | boolean> };
  /** API Gateway stage name. @default 'local' */
  readonly stage?: string;
  /** Client address. @default '127.0.0.1' */
  readonly sourceIp?: string;
  /** API Gateway request id. @default a random UUID */
  readonly requestId?: string;
}

/** Builds an API Gateway REST API (payload v1) Lambda proxy event, as API Gateway sends it. */
export function buildRestApiEvent(input: RestApiEventInput): APIGatewayProxyEvent {
  const stage = input.stage ?? 'local';
  const { single: headers, multi: multiValueHeaders } = splitMultiValues(input.headers ?? {});
  const query = splitMultiValues(input.query ?? {});
  const hasQuery = Object.keys(query.single).length > 0;
  const userAgent = Object.entries(headers).find(([name]) => name.toLowerCase() === 'user-agent')?.[1] ?? null;
  const now = new Date();
  const { body, isBase64Encoded } = encodeBody(input.body, input.isBase64Encoded);
  const claims = input.userId === undefined ? undefined : { ...input.claims, sub: input.userId };
  return {
    resource: input.resource,
    path: input.path,
    httpMethod: input.method.toUpperCase(),
    headers,
    multiValueHeaders,
    // API Gateway sends null, not {}, when there is no query string.
    queryStringParameters: hasQuery ? query.single : null,
    multiValueQueryStringParameters: hasQuery ? query.multi : null,
    pathParameters: input.pathParameters ?? null,
    stageVariables: null,
    body,
    isBase64Encoded,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      authorizer: input.lambdaAuthorizer
        ? { ...input.lambdaAuthorizer.context, principalId: input.lambdaAuthorizer.principalId }
        : claims === undefined
          ? undefined
          : { claims },
      domainName: 'localhost',
      domainPrefix: 'localhost',
      extendedRequestId: randomUUID(),
      httpMethod: input.method.toUpperCase(),
      identity: {
        accessKey: null,
        accountId: null,
        apiKey: null,
        apiKeyId: null,
        caller: null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: input.sourceIp ?? '127.0.0.1',
        user: null,
        userAgent,
        userArn: null,
      },
      path: `/${stage}${input.path}`,
      protocol: 'HTTP/1.1',
      requestId: input.requestId ?? randomUUID(),
      requestTime: formatRequestTime(now),
      requestTimeEpoch: now.getTime(),
      resourceId: 'local',
      resourcePath: input.resource,
      stage,
    },
  };
}

/** A buffered (non-streaming) integration response, as API Gateway would send it. */
export interface BufferedInvokeResult {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly multiValueHeaders?: Record<string, string[]>;
  readonly body: string;
  readonly isBase64Encoded?: boolean;
  readonly streamed?: false;
}

/** A streamed integration response: status and headers from the prelude, then the body bytes. */
export interface StreamedInvokeResult {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly multiValueHeaders?: Record<string, string[]>;
  readonly cookies?: string[];
  readonly streamed: true;
  /** The bytes after the prelude, as the handler writes them; errors if the invocation fails mid-stream. */
  readonly body: Readable;
}

export type InvokeResult = BufferedInvokeResult | StreamedInvokeResult;

/** Options of {@link invokeHandler}. */
export interface InvokeOptions {
  /** Aborting emulates the client going away: the response stream is destroyed. */
  readonly signal?: AbortSignal;
  /** Overrides for the Lambda context. @default a fresh context (see createLambdaContext) */
  readonly context?: LambdaContextOptions;
  /** Called with errors the invocation raised after its result was handed over (logged by default). */
  readonly onLateError?: (error: unknown) => void;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyHandler = (...args: any[]) => unknown;

/**
 * Invokes a handler the way API Gateway's Lambda proxy integration does and resolves with the
 * response API Gateway would produce: buffered handlers resolve once they return; streaming
 * handlers resolve as soon as the prelude (status, headers) is known, while the body keeps
 * streaming. A handler that fails before responding yields 502 with the gateway's DEFAULT_5XX body.
 */
export async function invokeHandler(handler: unknown, event: unknown, options: InvokeOptions = {}): Promise<InvokeResult> {
  if (typeof handler !== 'function') throw new TypeError('handler is not a function');
  options.signal?.throwIfAborted();
  const context = createLambdaContext(options.context);
  return isStreamingHandler(handler)
    ? invokeStreaming(handler as AnyHandler, event, context, options)
    : invokeBuffered(handler as AnyHandler, event, context, options);
}

async function invokeBuffered(handler: AnyHandler, event: unknown, context: Context, options: InvokeOptions): Promise<InvokeResult> {
  let output: unknown;
  try {
    output = await abortable(
      new Promise((resolve, reject) => {
        // Callback-style handlers are still valid Lambda handlers.
        const callback = (error?: unknown, result?: unknown) => (error ? reject(error) : resolve(result));
        Promise.resolve(handler(event, context, callback)).then((result) => result !== undefined && resolve(result), reject);
      }),
      options.signal,
    );
  } catch (error) {
    if (options.signal?.aborted) throw error;
    logInvocationError(error);
    return internalServerError();
  }
  const result = output as { statusCode?: unknown; headers?: unknown; multiValueHeaders?: unknown; body?: unknown; isBase64Encoded?: unknown } | null;
  if (!result || typeof result !== 'object' || !Number.isInteger(Number(result.statusCode))) {
    logInvocationError(new Error(`Malformed Lambda proxy response: ${JSON.stringify(output)?.slice(0, 200)}`));
    return internalServerError();
  }
  // Lambda refuses a buffered response payload over 6 MB (the function errors; API Gateway answers 502).
  const payloadBytes = Buffer.byteLength(JSON.stringify(output), 'utf8');
  if (payloadBytes > MAX_BUFFERED_RESPONSE_BYTES) {
    logInvocationError(new Error(`Response payload size exceeded maximum allowed payload size (${payloadBytes} bytes > ${MAX_BUFFERED_RESPONSE_BYTES})`));
    return internalServerError();
  }
  return {
    statusCode: Number(result.statusCode),
    headers: stringifyHeaders(result.headers),
    ...(result.multiValueHeaders ? { multiValueHeaders: stringifyMultiValueHeaders(result.multiValueHeaders) } : {}),
    body: result.body == null ? '' : String(result.body),
    ...(result.isBase64Encoded ? { isBase64Encoded: true } : {}),
  };
}

function invokeStreaming(handler: AnyHandler, event: unknown, context: Context, options: InvokeOptions): Promise<InvokeResult> {
  return new Promise<InvokeResult>((resolve, reject) => {
    let settled = false;
    let pendingWrite: ((error?: Error | null) => void) | undefined;
    let preludeBuffer: Buffer | undefined = Buffer.alloc(0);
    const body = new Readable({
      read() {
        // Backpressure: the handler's write completes only when the reader wants more.
        const done = pendingWrite;
        pendingWrite = undefined;
        done?.();
      },
    });
    // A consumer that stopped reading must not crash the process when the body errors later.
    body.on('error', () => undefined);
    const settle = (result: InvokeResult) => {
      if (settled) return;
      settled = true;
      resolve(result);
    };
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      reject(error);
    };
    const pushBody = (chunk: Buffer, done: (error?: Error | null) => void) => {
      if (chunk.length === 0 || body.push(chunk)) done();
      else pendingWrite = done;
    };

    const responseStream = new LambdaResponseStream((chunk, contentType, done) => {
      if (preludeBuffer === undefined) return pushBody(chunk, done);
      if (contentType !== METADATA_PRELUDE_CONTENT_TYPE) {
        // No prelude: API Gateway answers 200 with the stream's own content type.
        preludeBuffer = undefined;
        settle({ statusCode: 200, headers: { 'content-type': contentType }, streamed: true, body });
        return pushBody(chunk, done);
      }
      preludeBuffer = Buffer.concat([preludeBuffer, chunk]);
      const end = preludeBuffer.indexOf(Buffer.alloc(DELIMITER_LEN));
      if (end === -1) return done();
      const rest = preludeBuffer.subarray(end + DELIMITER_LEN);
      const preludeText = preludeBuffer.subarray(0, end).toString('utf8');
      preludeBuffer = undefined;
      try {
        settle({ ...parsePrelude(preludeText), streamed: true, body });
      } catch (error) {
        logInvocationError(error);
        settle(internalServerError());
        return done(error as Error);
      }
      return pushBody(rest, done);
    }, (handler as unknown as Record<symbol, number | undefined>)[HANDLER_HIGHWATERMARK]);

    responseStream.on('finish', () => {
      if (!settled) {
        // Ended without a complete prelude: an empty 200, as for a stream with no bytes.
        settle({ statusCode: 200, headers: { 'content-type': DEFAULT_STREAM_CONTENT_TYPE }, streamed: true, body });
      }
      body.push(null);
    });
    // Without a listener, destroying the stream with an error would crash the process.
    responseStream.on('error', () => undefined);

    const onAbort = () => {
      const reason = options.signal?.reason;
      // The Runtime API connection drops: the real runtime calls `req.destroy(err)`.
      const error = Object.assign(new Error('aborted: the client closed the connection'), { code: 'ECONNRESET', cause: reason });
      responseStream.destroy(error);
      body.destroy();
      fail(reason ?? error);
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });

    let invocation: unknown;
    try {
      invocation = handler(event, responseStream, context);
    } catch (error) {
      invocation = Promise.reject(error);
    }
    Promise.resolve(invocation)
      .then(() => waitForStreamClosure(responseStream))
      .catch((error: unknown) => {
        if (options.signal?.aborted) return;
        if (!settled) {
          logInvocationError(error);
          settle(internalServerError());
          return;
        }
        (options.onLateError ?? logInvocationError)(error);
        // The real runtime reports the error in a trailer; API Gateway cuts the response short.
        body.destroy(error instanceof Error ? error : new Error(String(error)));
      })
      .finally(() => options.signal?.removeEventListener('abort', onAbort));
  });
}

/** The runtime waits for the response to be closed after the handler's promise settles. */
function waitForStreamClosure(stream: Writable): Promise<void> {
  if (stream.writableFinished) return Promise.resolve();
  return new Promise((resolve, reject) => {
    stream.once('finish', resolve);
    stream.once('close', () => (stream.writableFinished ? resolve() : reject(stream.errored ?? new Error('Response stream is not finished.'))));
  });
}

function parsePrelude(text: string): Omit<StreamedInvokeResult, 'streamed' | 'body'> {
  const prelude = JSON.parse(text) as { statusCode?: unknown; headers?: unknown; multiValueHeaders?: unknown; cookies?: unknown };
  const statusCode = prelude.statusCode === undefined ? 200 : Number(prelude.statusCode);
  if (!Number.isInteger(statusCode)) throw new Error(`Invalid statusCode in the response prelude: ${String(prelude.statusCode)}`);
  const cookies = Array.isArray(prelude.cookies) ? prelude.cookies.map(String) : undefined;
  return {
    statusCode,
    headers: stringifyHeaders(prelude.headers),
    ...(prelude.multiValueHeaders ? { multiValueHeaders: stringifyMultiValueHeaders(prelude.multiValueHeaders) } : {}),
    ...(cookies && cookies.length > 0 ? { cookies } : {}),
  };
}

function internalServerError(): InvokeResult {
  return { statusCode: 502, headers: { 'content-type': 'application/json' }, body: INTERNAL_SERVER_ERROR_BODY };
}

function logInvocationError(error: unknown): void {
  // Lambda logs an invocation failure to the function's log; so does the emulator.
  console.error('[lambda-runtime] invocation failed:', error);
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function stringifyHeaders(headers: unknown): Record<string, string> {
  if (!headers || typeof headers !== 'object') return {};
  return Object.fromEntries(
    Object.entries(headers as Record<string, unknown>)
      .filter(([, value]) => value !== undefined && value !== null)
      .map(([name, value]) => [name, String(value)]),
  );
}

function stringifyMultiValueHeaders(headers: unknown): Record<string, string[]> {
  if (!headers || typeof headers !== 'object') return {};
  return Object.fromEntries(
    Object.entries(headers as Record<string, unknown>).map(([name, values]) => [name, (Array.isArray(values) ? values : [values]).map(String)]),
  );
}

/** API Gateway REST puts the last value of a repeated key in the single-value map. */
function splitMultiValues(values: Record<string, string | readonly string[] | undefined>): {
  single: Record<string, string>;
  multi: Record<string, string[]>;
} {
  const single: Record<string, string> = {};
  const multi: Record<string, string[]> = {};
  // Own properties, as JSON.parse gives the Lambda: `single.__proto__ = x` would set the prototype instead.
  const define = <T>(target: Record<string, T>, name: string, value: T) =>
    Object.defineProperty(target, name, { value, enumerable: true, writable: true, configurable: true });
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined) continue;
    const list = typeof value === 'string' ? [value] : [...value];
    if (list.length === 0) continue;
    define(single, name, list[list.length - 1]);
    define(multi, name, list);
  }
  return { single, multi };
}

function encodeBody(body: string | Buffer | null | undefined, isBase64Encoded = false): { body: string | null; isBase64Encoded: boolean } {
  if (body === undefined || body === null) return { body: null, isBase64Encoded: false };
  if (typeof body === 'string') return { body, isBase64Encoded };
  const text = body.toString('utf8');
  return Buffer.from(text, 'utf8').equals(body) ? { body: text, isBase64Encoded: false } : { body: body.toString('base64'), isBase64Encoded: true };
}

/** API Gateway's `requestTime` format, e.g. `27/Nov/2025:15:15:00 +0000`. */
function formatRequestTime(date: Date): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(date.getUTCDate())}/${months[date.getUTCMonth()]}/${date.getUTCFullYear()}:${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`;
}
