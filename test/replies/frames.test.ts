import { createDeltaEncoder, createLegacyEncoder, SSE_DONE, SSE_HEARTBEAT, type WireMessage } from '@chatbot/shared/testing';

import { applyV1Deltas, legacyText, parseSse } from '../support/sse';

const message = (text: string, status = 'in_progress'): WireMessage => ({
  id: 'a1', author: { role: 'assistant', name: null, metadata: {} }, create_time: 1, update_time: null,
  content: { content_type: 'text', parts: [text] }, status, end_turn: status === 'in_progress' ? null : true, weight: 1,
  metadata: status === 'in_progress' ? {} : { finish_details: { type: 'stop' }, is_complete: true }, recipient: 'all',
});

function run(encoder: ReturnType<typeof createLegacyEncoder>, withError = false) {
  const frames = [
    ...encoder.encode({ type: 'start', message: message('') }),
    ...encoder.encode({ type: 'text', delta: 'Hel', message: message('Hel') }),
    SSE_HEARTBEAT,
    ...encoder.encode({ type: 'text', delta: 'lo', message: message('Hello') }),
    ...encoder.encode({ type: 'text', delta: ' world', message: message('Hello world') }),
    ...(withError
      ? encoder.encode({ type: 'error', message: message('Hello world', 'finished_partial_completion'), error: 'boom' })
      : encoder.encode({ type: 'complete', message: message('Hello world', 'finished_successfully') })),
    ...encoder.encode({ type: 'title', title: 'Greeting' }),
    SSE_DONE,
  ];
  return frames.join('');
}

describe('SSE encoders', () => {
  it('legacy: whole-message snapshots, a completion marker, the title, [DONE]; heartbeats are comments', () => {
    const text = run(createLegacyEncoder('c1'));
    expect(text).toContain(': ping\n\n');
    const events = parseSse(text);
    expect(legacyText(events)).toBe('Hello world');
    expect(events.filter((e) => e.json?.message).map((e) => e.json.message.content.parts[0])).toEqual(['Hel', 'Hello', 'Hello world', 'Hello world']);
    expect(events.find((e) => e.json?.is_completion)?.json).toEqual({ conversation_id: 'c1', message_id: 'a1', is_completion: true });
    expect(events.find((e) => e.json?.type === 'title_generation')?.json).toEqual({ type: 'title_generation', title: 'Greeting', conversation_id: 'c1' });
    expect(events.at(-1)?.data).toBe('[DONE]');
    expect(events.every((e) => e.json?.message === undefined || e.json.error === null)).toBe(true);
  });

  it('legacy: an error envelope carries the error string', () => {
    const events = parseSse(run(createLegacyEncoder('c1'), true));
    expect(events.find((e) => e.json?.error === 'boom')?.json.message.status).toBe('finished_partial_completion');
  });

  it('v1: add, appends (then bare values), a final patch; the rebuilt document equals the final message', () => {
    const events = parseSse(run(createDeltaEncoder('c1')));
    expect(events[0]).toMatchObject({ event: 'delta_encoding', json: 'v1' });
    expect(events[1].json).toMatchObject({ p: '', o: 'add', c: 0 });
    expect(events[2].json).toEqual({ p: '/message/content/parts/0', o: 'append', v: 'Hel' });
    expect(events[3].json).toEqual({ v: 'lo' });
    const doc = applyV1Deltas(events);
    expect(doc).toMatchObject({ conversation_id: 'c1', error: null });
    expect(doc.message).toMatchObject({ content: { parts: ['Hello world'] }, status: 'finished_successfully', end_turn: true, metadata: { is_complete: true } });
    expect(events.filter((e) => e.json?.type).map((e) => e.json.type)).toEqual(['message_stream_complete', 'title_generation']);
  });

  it('v1: a recorded reply announces its resume token right after delta_encoding', () => {
    const events = parseSse(run(createDeltaEncoder('c1', 'tok')));
    expect(events[0]).toMatchObject({ event: 'delta_encoding', json: 'v1' });
    expect(events[1].json).toEqual({ type: 'resume_conversation_token', conversation_id: 'c1', token: 'tok' });
    expect(events[2].json).toMatchObject({ p: '', o: 'add', c: 0 });
  });

  it('every frame is exactly one SSE event', () => {
    const encoder = createDeltaEncoder('c1', 'tok');
    const frames = [...encoder.encode({ type: 'start', message: message('') }), ...encoder.encode({ type: 'complete', message: message('x', 'finished_successfully') })];
    for (const frame of frames) expect(parseSse(frame)).toHaveLength(1);
  });

  it('v1: an error patches /error', () => {
    expect(applyV1Deltas(parseSse(run(createDeltaEncoder('c1'), true))).error).toBe('boom');
  });
});
