/** A test SSE client: splits a stream into events the way EventSource does. */
export interface SseEvent {
  readonly event?: string;
  readonly data: string;
  /** `data` parsed as JSON, or undefined for `[DONE]` and non-JSON data. */
  readonly json?: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** Parses complete SSE text; comments (`: ping`) are dropped. */
export function parseSse(text: string): SseEvent[] {
  const events: SseEvent[] = [];
  for (const block of text.split('\n\n')) {
    if (block.trim() === '') continue;
    let event: string | undefined;
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;
      if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
    }
    if (data.length === 0) continue;
    const joined = data.join('\n');
    let json: unknown;
    try {
      json = JSON.parse(joined);
    } catch {
      json = undefined;
    }
    events.push({ event, data: joined, json });
  }
  return events;
}

/** The assistant text a legacy-format client shows: the last snapshot's parts[0]. */
export function legacyText(events: readonly SseEvent[]): string {
  const snapshots = events.filter((e) => e.json?.message?.author?.role === 'assistant');
  return snapshots.at(-1)?.json.message.content.parts[0] ?? '';
}

/** The document a v1-format client builds by applying every delta. */
export function applyV1Deltas(events: readonly SseEvent[]): any { // eslint-disable-line @typescript-eslint/no-explicit-any
  let doc: any = undefined; // eslint-disable-line @typescript-eslint/no-explicit-any
  let last: { p: string; o: string } | undefined;
  const apply = (op: { p: string; o: string; v: unknown }) => {
    if (op.o === 'patch') {
      for (const sub of op.v as { p: string; o: string; v: unknown }[]) apply(sub);
      return;
    }
    if (op.p === '' && op.o === 'add') {
      doc = structuredClone(op.v);
      return;
    }
    const path = op.p.split('/').slice(1);
    let parent = doc;
    for (const segment of path.slice(0, -1)) parent = parent[segment];
    const leaf = path.at(-1) as string;
    if (op.o === 'replace' || op.o === 'add') parent[leaf] = op.v;
    else if (op.o === 'append') {
      const current = parent[leaf];
      if (typeof current === 'string') parent[leaf] = current + (op.v as string);
      else if (Array.isArray(current)) current.push(op.v);
      else parent[leaf] = { ...current, ...(op.v as object) };
    } else if (op.o === 'remove') delete parent[leaf];
  };
  for (const e of events) {
    if (e.event !== 'delta' || !e.json) continue;
    const op = { p: e.json.p ?? last?.p, o: e.json.o ?? last?.o, v: e.json.v };
    last = { p: op.p, o: op.o };
    apply(op);
  }
  return doc;
}

/** The frames of an SSE text as sent, byte for byte: one per event, comments (heartbeats) dropped. */
export function sseFrames(text: string): string[] {
  return (text.match(/[^\n]*(?:\n(?!\n)[^\n]*)*\n\n/g) ?? []).filter((frame) => !frame.startsWith(':'));
}
