/**
 * Reading a reply stream: Server-Sent Events frames, and the v1 delta encoding applied to the
 * document `{message, conversation_id, error}` (see lambdas/post-conversation/sse-encoder.ts).
 * Pure: no DOM, no network.
 */

/** One SSE frame: its `event:` name (default `message`) and its joined `data:` lines. */
export interface SseFrame {
  readonly event: string;
  readonly data: string;
}

/**
 * Splits a byte stream into frames. Comments (`: ping`) are not frames: resume offsets count
 * only what this yields.
 */
export class SseParser {
  private buffer = '';
  private readonly decoder = new TextDecoder();

  /** Feeds bytes; returns the frames they completed. */
  push(chunk: Uint8Array): SseFrame[] {
    this.buffer += this.decoder.decode(chunk, { stream: true }).replace(/\r\n?/g, '\n');
    const frames: SseFrame[] = [];
    for (let end = this.buffer.indexOf('\n\n'); end !== -1; end = this.buffer.indexOf('\n\n')) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line === '' || line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
      }
      if (data.length > 0 || event !== 'message') frames.push({ event, data: data.join('\n') });
    }
    return frames;
  }
}

/** The assistant message as the stream builds it. */
export interface StreamMessage {
  id: string;
  author: { role: string };
  content: { content_type: string; parts: unknown[] };
  status?: string;
  end_turn?: boolean | null;
  metadata?: Record<string, unknown>;
  create_time?: number | null;
}

/** The v1 document. */
export interface StreamDocument {
  message?: StreamMessage;
  conversation_id?: string;
  error?: string | null;
}

interface Operation {
  p?: string;
  o?: string;
  v?: unknown;
}

/** Applies v1 `delta` frames; a frame without `p`/`o` repeats the previous ones. */
export class DeltaDocument {
  document: StreamDocument = {};
  private lastPath = '';
  private lastOp = 'append';

  apply(operation: Operation): void {
    const path = operation.p ?? this.lastPath;
    const op = operation.o ?? this.lastOp;
    this.lastPath = path;
    this.lastOp = op;
    if (op === 'patch') {
      for (const inner of operation.v as Operation[]) this.applyOne(inner.p ?? '', inner.o ?? 'replace', inner.v);
      return;
    }
    this.applyOne(path, op, operation.v);
  }

  private applyOne(path: string, op: string, value: unknown): void {
    if (path === '') {
      if (op === 'add' || op === 'replace') this.document = structuredClone(value) as StreamDocument;
      return;
    }
    const keys = path.split('/').slice(1).map((key) => key.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = keys.pop() as string;
    let parent: Record<string, unknown> = this.document as Record<string, unknown>;
    for (const key of keys) {
      parent[key] ??= {};
      parent = parent[key] as Record<string, unknown>;
    }
    const current = parent[last];
    if (op === 'append') {
      if (typeof current === 'string') parent[last] = current + String(value);
      else if (Array.isArray(current)) current.push(...(Array.isArray(value) ? value : [value]));
      else if (current && typeof current === 'object') Object.assign(current, value);
      else parent[last] = value;
    } else if (op === 'remove') {
      delete parent[last];
    } else {
      parent[last] = value;
    }
  }
}

/** What a reply stream says, frame by frame, in terms the page acts on. */
export type StreamEvent =
  | { readonly kind: 'message'; readonly document: StreamDocument }
  | { readonly kind: 'resume-token'; readonly conversationId: string; readonly token: string }
  | { readonly kind: 'title'; readonly title: string; readonly conversationId: string }
  | { readonly kind: 'complete' }
  | { readonly kind: 'done' }
  | { readonly kind: 'other' };

/** Interprets frames of a v1 stream (and the legacy snapshots, should a server send them). */
export class ReplyReader {
  readonly delta = new DeltaDocument();

  read(frame: SseFrame): StreamEvent {
    if (frame.data === '[DONE]') return { kind: 'done' };
    if (frame.event === 'delta_encoding') return { kind: 'other' };
    let payload: Record<string, unknown>;
    try {
      payload = JSON.parse(frame.data) as Record<string, unknown>;
    } catch {
      return { kind: 'other' };
    }
    if (frame.event === 'delta') {
      this.delta.apply(payload as Operation);
      return { kind: 'message', document: this.delta.document };
    }
    switch (payload.type) {
      case 'resume_conversation_token':
        return { kind: 'resume-token', conversationId: String(payload.conversation_id), token: String(payload.token) };
      case 'title_generation':
        return { kind: 'title', title: String(payload.title), conversationId: String(payload.conversation_id) };
      case 'message_stream_complete':
        return { kind: 'complete' };
    }
    if (payload.is_completion) return { kind: 'complete' };
    if (payload.message && typeof payload.message === 'object') {
      // Legacy snapshot: the whole message so far.
      this.delta.document = payload as StreamDocument;
      return { kind: 'message', document: this.delta.document };
    }
    return { kind: 'other' };
  }
}
