/**
 * Resumable replies (issue 12) in the bench: what recording a reply costs the producer per
 * frame (recording on and off, interleaved), how soon a resume request gets its first frame,
 * and what one reply's stream holds in Redis.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { closeRedis, createChatModel, redisKeys, resetCacheService, resetConfig, setChatModel } from '@chatbot/shared/testing';
import { postRaw, resumeRaw } from '../test/support/handlers';
import { freePort } from '../test/reliability/support/redis-server';
import { TcpProxy } from '../test/reliability/support/tcp-proxy';
import { REDIS_URL } from './env';
import { bytes, count, markdownTable, ms, ratio } from './report';
import { interleaved, summarize, type Summary } from './stats';

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

interface StreamedReply {
  readonly conversationId: string;
  readonly token: string;
  readonly frames: number;
  /** Frames before the final patch: the token path. */
  readonly textFrames: number;
  /** First body byte to the final patch (the token path, without the reply's storage at the end). */
  readonly textMs: number;
  /** Process CPU time of the whole call. */
  readonly cpuMs: number;
}

/** Posts a v1 message and reads the whole stream, timing from its first byte to its end. */
async function streamReply(userId: string, text: string): Promise<StreamedReply> {
  let first: number | undefined;
  let patchAt: number | undefined;
  let seen = '';
  const cpu = process.cpuUsage();
  const body = {
    action: 'next',
    messages: [{ id: randomUUID(), author: { role: 'user' }, content: { content_type: 'text', parts: [text] } }],
    parent_message_id: randomUUID(),
    supported_encodings: ['v1'],
  };
  const result = await postRaw(body, userId, {
    onChunk: (chunk) => {
      first ??= nowMs();
      if (patchAt === undefined) {
        seen += chunk;
        if (seen.includes('"o":"patch"')) patchAt = nowMs();
      }
    },
  });
  const used = process.cpuUsage(cpu);
  if (result.statusCode !== 200) throw new Error(`POST answered ${result.statusCode}: ${result.body}`);
  return parseReply(result.body, (patchAt ?? nowMs()) - (first ?? nowMs()), (used.user + used.system) / 1000);
}

function parseReply(body: string, textMs: number, cpuMs: number): StreamedReply {
  const announced = /"type": ?"resume_conversation_token", ?"conversation_id": ?"([^"]+)", ?"token": ?"([^"]+)"/.exec(body);
  const conversationId = announced?.[1] ?? /"conversation_id": ?"([0-9a-f-]{36})"/.exec(body)?.[1] ?? '';
  const all = body.split('\n\n').filter((frame) => frame !== '' && !frame.startsWith(':'));
  const textFrames = all.findIndex((frame) => frame.includes('"o":"patch"'));
  return { conversationId, token: announced?.[2] ?? '', frames: all.length, textFrames, textMs, cpuMs };
}

function setRecording(on: boolean): void {
  process.env.REPLY_STREAM_ENABLED = on ? 'true' : 'false';
  resetConfig();
}

const VARIANTS = ['recording off', 'recording on', 'recording on, Redis +5 ms'] as const;
type ProducerVariant = (typeof VARIANTS)[number];

export interface ResumableResult {
  readonly frames: number;
  readonly textFrames: number;
  readonly perFrame: Record<ProducerVariant, Summary>;
  readonly cpuPerFrame: Record<ProducerVariant, Summary>;
  readonly firstFrame: Record<string, Summary>;
  readonly streamBytes: number;
  readonly currentBytes: number;
  readonly framePayloadBytes: number;
}

/** Runs the measurements; `raw` is a plain client for MEMORY USAGE. */
export async function measureResumable(raw: Redis, log: (message: string) => void): Promise<ResumableResult> {
  const userId = `bench-resume-${randomUUID()}`;
  // The local model's reply to this prompt: the longest it gives (it echoes up to its word limit).
  const prompt = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');
  // A slow Redis: every reply from it 5 ms late.
  const target = new URL(REDIS_URL);
  const proxy = new TcpProxy(await freePort(), { host: target.hostname, port: Number(target.port || 6379) });
  proxy.latencyMs = 5;
  await proxy.listen();
  const urls: Record<ProducerVariant, string> = {
    'recording off': REDIS_URL,
    'recording on': REDIS_URL,
    'recording on, Redis +5 ms': `redis://127.0.0.1:${proxy.port}`,
  };
  let currentUrl = REDIS_URL;
  const use = async (variant: ProducerVariant) => {
    if (urls[variant] !== currentUrl) {
      await closeRedis();
      currentUrl = urls[variant];
      process.env.REDIS_URL = currentUrl;
    }
    process.env.REDIS_COMMAND_TIMEOUT_MS = '200';
    setRecording(variant !== 'recording off');
    resetCacheService();
  };
  const wall = Object.fromEntries(VARIANTS.map((name) => [name, [] as number[]])) as Record<ProducerVariant, number[]>;
  const cpu = Object.fromEntries(VARIANTS.map((name) => [name, [] as number[]])) as Record<ProducerVariant, number[]>;
  let shape = { frames: 0, textFrames: 0 };
  // Tokens 1 ms apart, as a model streams them: each frame is flushed on its own.
  setChatModel(createChatModel({ provider: 'local', tokenDelayMs: 1 }));
  log('resumable replies: producer cost per frame, recording off / on / on with a slow Redis, interleaved');
  try {
    await interleaved(
      VARIANTS.map((name) => ({
        name,
        before: () => use(name),
        run: async () => {
          const reply = await streamReply(userId, prompt);
          shape = { frames: reply.frames - 1, textFrames: reply.textFrames };
          wall[name].push(reply.textMs / reply.textFrames);
          cpu[name].push(reply.cpuMs / reply.frames);
        },
      })),
      { iterations: 60, warmup: 6 },
    );
  } finally {
    await use('recording on');
    setChatModel(undefined);
    await proxy.close();
  }
  const perFrame = Object.fromEntries(VARIANTS.map((name) => [name, summarize(wall[name].slice(-60))])) as Record<ProducerVariant, Summary>;
  const cpuPerFrame = Object.fromEntries(VARIANTS.map((name) => [name, summarize(cpu[name].slice(-60))])) as Record<ProducerVariant, Summary>;

  log('resumable replies: time to the first replayed frame');
  const finished = await streamReply(userId, prompt);
  const firstFrameOf = async (offset: number) => {
    const start = nowMs();
    let firstAt: number | undefined;
    const result = await resumeRaw({ conversation_id: finished.conversationId, offset }, userId, { onChunk: () => (firstAt ??= nowMs()) });
    if (result.statusCode !== 200) throw new Error(`resume answered ${result.statusCode}: ${result.body}`);
    return (firstAt ?? nowMs()) - start;
  };
  const firstFrameSamples: Record<string, number[]> = { 'finished reply, offset 0': [], 'finished reply, offset = middle': [] };
  await interleaved(
    [
      { name: 'offset 0', run: async () => firstFrameSamples['finished reply, offset 0'].push(await firstFrameOf(0)) },
      { name: 'middle', run: async () => firstFrameSamples['finished reply, offset = middle'].push(await firstFrameOf(Math.floor(finished.frames / 2))) },
    ],
    { iterations: 200, warmup: 20 },
  );
  const firstFrame = Object.fromEntries(Object.entries(firstFrameSamples).map(([name, samples]) => [name, summarize(samples.slice(-200))]));

  const streamKey = redisKeys.replyFrames(finished.conversationId, finished.token);
  const currentKey = redisKeys.replyCurrent(finished.conversationId);
  const streamBytes = Number(await raw.call('MEMORY', 'USAGE', streamKey, 'SAMPLES', '0'));
  const currentBytes = Number(await raw.call('MEMORY', 'USAGE', currentKey, 'SAMPLES', '0'));
  const entries = (await raw.xrange(streamKey, '-', '+')) as [string, string[]][];
  const framePayloadBytes = entries.reduce((sum, [, fields]) => sum + Buffer.byteLength(fields[1] ?? '', 'utf8'), 0);
  return { ...shape, perFrame, cpuPerFrame, firstFrame, streamBytes, currentBytes, framePayloadBytes };
}

/** The bench section's text. */
export function resumableSection(result: ResumableResult): string[] {
  const off = result.perFrame['recording off'];
  const cpuOff = result.cpuPerFrame['recording off'];
  const perFrameBytes = result.streamBytes / result.frames;
  return [
    '## 12. Resumable replies (docs/api.md#resumable-replies)',
    `The post-conversation handler streaming a v1 reply of ${result.frames} frames (${result.textFrames} before the final patch) from the offline model with tokens 1 ms apart, as a fast model streams them. Recording is never awaited on the token path: frames queue, and one script call (\`XADD\` per frame, \`EXPIRE\`, the stop flag read) writes what queued, at most one in flight and one per \`REPLY_STREAM_FLUSH_MS\` (20 ms). 60 replies per variant, interleaved: recording off, on, and on with every Redis reply delayed 5 ms by a TCP proxy (a slow Redis). "ms / frame" is the time between frames as the client receives them, from the first frame to the final patch (the token path; the reply's storage at the end is excluded); "CPU µs / frame" is this process's CPU time for the whole request over its frames. The slow-Redis row's extra CPU (and part of its extra wall time on 2 shared cores) is the proxy's own work: it runs in this process.`,
    markdownTable([
      ['variant', 'p50 ms / frame', 'p99 ms / frame', 'p50 vs off', 'CPU µs / frame p50', 'CPU vs off'],
      ...VARIANTS.map((name) => {
        const wall = result.perFrame[name];
        const cpu = result.cpuPerFrame[name];
        return [name, ms(wall.p50), ms(wall.p99), ratio(wall.p50 / off.p50), (cpu.p50 * 1000).toFixed(0), ratio(cpu.p50 / cpuOff.p50)];
      }),
    ]),
    'Time from a resume request (the resume-conversation handler, invoked in-process) to its first replayed frame, for a finished reply: the ownership check (one `HMGET`), one `XRANGE … COUNT 1`, then the replay `XREAD` on the shared connection (a finished reply needs no connection of its own; a live one then opens one for `XREAD BLOCK`).',
    markdownTable([
      ['resume', 'p50 ms', 'p99 ms'],
      ...Object.entries(result.firstFrame).map(([name, summary]) => [name, ms(summary.p50), ms(summary.p99)]),
    ]),
    `Memory of one reply in Redis (MEMORY USAGE): the frames stream \`stream:{id}:<token>\` of ${result.frames} frames (${bytes(result.framePayloadBytes)} of SSE text) takes ${bytes(result.streamBytes)} (${count(Math.round(perFrameBytes))} B per frame; a 1,000-token reply ≈ ${bytes(perFrameBytes * 1000)}), and \`stream:{id}:current\` ${bytes(result.currentBytes)}. A stream lives while its reply runs and ${'`REPLY_STREAM_TTL_SECONDS`'} (300 s) after, so the memory is about (replies started per 5 minutes) × that size.`,
  ];
}

/** The row for the memory table of section 7. */
export function resumableMemoryRow(result: ResumableResult): string[] {
  return ['stream:{id}:<token> (one reply, in flight or finished)', `${result.frames} frames`, count(result.framePayloadBytes), '—', count(result.streamBytes), '', ''];
}
