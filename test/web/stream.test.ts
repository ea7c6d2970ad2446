/**
 * The web client's stream reader (web/src/stream.ts) against the server's own encoder
 * (lambdas/post-conversation/sse-encoder.ts): byte-split chunks, heartbeats that are not frames,
 * the v1 delta document, and a resume that continues from a frame offset.
 */
import { createDeltaEncoder, SSE_DONE, SSE_HEARTBEAT, type WireMessage } from '@chatbot/shared/testing';

import { ReplyReader, SseParser, type StreamEvent } from '../../web/src/stream';

const message = (text: string, status = 'in_progress'): WireMessage => ({
  id: 'a1', author: { role: 'assistant', name: null, metadata: {} }, create_time: 1, update_time: null,
  content: { content_type: 'text', parts: [text] }, status, end_turn: status === 'in_progress' ? null : true, weight: 1,
  metadata: status === 'in_progress' ? {} : { finish_details: { type: 'stop' }, is_complete: true }, recipient: 'all',
});

/** The v1 stream of a reply "Héllo wörld 👋", with its resume token and a heartbeat, as the server writes it. */
function v1Stream(): string {
  const encoder = createDeltaEncoder('c1', 't0k');
  return [
    ...encoder.encode({ type: 'start', message: message('') }),
    ...encoder.encode({ type: 'text', delta: 'Héllo', message: message('Héllo') }),
    SSE_HEARTBEAT,
    ...encoder.encode({ type: 'text', delta: ' wörld', message: message('Héllo wörld') }),
    ...encoder.encode({ type: 'text', delta: ' 👋', message: message('Héllo wörld 👋') }),
    ...encoder.encode({ type: 'complete', message: message('Héllo wörld 👋', 'finished_successfully') }),
    ...encoder.encode({ type: 'title', title: 'Greeting' }),
    SSE_DONE,
  ].join('');
}

/** Feeds bytes in `size`-byte chunks (splitting UTF-8 sequences and frames) and returns every event. */
function readAll(bytes: Uint8Array, size: number, reader = new ReplyReader()): { events: StreamEvent[]; reader: ReplyReader } {
  const parser = new SseParser();
  const events: StreamEvent[] = [];
  for (let i = 0; i < bytes.length; i += size) for (const frame of parser.push(bytes.subarray(i, i + size))) events.push(reader.read(frame));
  return { events, reader };
}

describe('web client stream reader', () => {
  const bytes = new TextEncoder().encode(v1Stream());

  it.each([1, 3, 7, 4096])('rebuilds the reply, the title and the resume token from %i-byte chunks', (size) => {
    // Act
    const { events, reader } = readAll(bytes, size);

    // Assess
    expect(reader.delta.document.message?.content.parts).toEqual(['Héllo wörld 👋']);
    expect(reader.delta.document.message?.status).toBe('finished_successfully');
    expect(reader.delta.document.conversation_id).toBe('c1');
    expect(events).toContainEqual({ kind: 'resume-token', conversationId: 'c1', token: 't0k' });
    expect(events).toContainEqual({ kind: 'title', title: 'Greeting', conversationId: 'c1' });
    expect(events.at(-1)).toEqual({ kind: 'done' });
  });

  it('counts frames as the server does: the heartbeat comment is not one', () => {
    // Act
    const frames = new SseParser().push(bytes);

    // Assess: delta_encoding, token, add, 3 appends, final patch, stream complete, title, [DONE].
    expect(frames).toHaveLength(10);
    expect(frames[0]).toEqual({ event: 'delta_encoding', data: '"v1"' });
  });

  it('a resume from frame n continues the same document: first n frames + the rest = the whole reply', () => {
    // Prepare
    const frames = v1Stream().split(/(?<=\n\n)/).filter((frame) => !frame.startsWith(':'));
    const offset = 4;
    const first = readAll(new TextEncoder().encode(frames.slice(0, offset).join('')), 5);
    const beforeResume = structuredClone(first.reader.delta.document.message?.content.parts);

    // Act
    const resumed = readAll(new TextEncoder().encode(frames.slice(offset).join('')), 5, first.reader);

    // Assess
    expect(beforeResume).toEqual(['Héllo']);
    expect(resumed.reader.delta.document.message?.content.parts).toEqual(['Héllo wörld 👋']);
    expect(resumed.events.at(-1)).toEqual({ kind: 'done' });
  });
});
