/**
 * The chaos checker's verdicts on hand-made histories: what counts as stale, cross-user, an
 * undocumented status or a broken resume follower, and what a concurrent or unanswered write
 * excuses. `npm run chaos` itself is not part of `npm test`; this pins down its judge.
 */
import { Checker, type FollowerOutcome } from '../../chaos/checker';
import { Conversation, History, User, UNKNOWN } from '../../chaos/history';
import type { HttpResult } from '../../chaos/http-client';
import { Recorder, type RequestRecord } from '../../chaos/recorder';

function setup() {
  const recorder = new Recorder(0);
  const history = new History();
  const alice = new User(0, 'alice', 'token-a');
  const bob = new User(1, 'bob', 'token-b');
  history.users.push(alice, bob);
  const conversation = new Conversation('c1', alice, 10);
  history.addConversation(conversation);
  const acked = (id: string, role: 'user' | 'assistant', issuedAt: number, ackedAt?: number) =>
    conversation.messages.set(id, { id, role, issuedAt, ackedAt, failed: false });
  acked('u1', 'user', 10, 11);
  acked('a1', 'assistant', 10, 12);
  conversation.inserts.push({ seq: 0, issuedAt: 10, ackedAt: 11, failed: false }, { seq: 1, issuedAt: 10, ackedAt: 12, failed: false });
  conversation.title.begin('First words', 10).ackedAt = 12;
  return { recorder, history, alice, bob, conversation, acked, checker: new Checker(history, recorder) };
}

const response = (status: number, body: unknown, startedAt: number, endedAt: number, cache = 'HIT'): HttpResult => ({
  status,
  headers: { 'x-cache': cache },
  body: typeof body === 'string' ? body : JSON.stringify(body),
  startedAt,
  endedAt,
  worker: 0,
});

const detail = (mapping: string[], extra: Record<string, unknown> = {}) => ({
  conversation_id: 'c1',
  user_id: 'alice',
  title: 'First words',
  is_archived: false,
  mapping: Object.fromEntries(mapping.map((id) => [id, { message: { author: { role: id.startsWith('u') ? 'user' : 'assistant' } } }])),
  ...extra,
});

const categories = (recorder: Recorder) => recorder.violations.map((v) => v.category);

describe('chaos checker', () => {
  it('allows a register value acknowledged before the read or written during it, nothing older; an unknown value allows anything', () => {
    const { conversation } = setup();
    conversation.title.begin('Renamed', 20).ackedAt = 25;
    conversation.title.begin('Refused', 30).failed = true;
    conversation.title.begin('In flight', 40);
    expect([...conversation.title.allowed(26, 35).values]).toEqual(['Renamed']);
    expect([...conversation.title.allowed(26, 45).values].sort()).toEqual(['In flight', 'Renamed']);
    expect([...conversation.title.allowed(21, 22).values].sort()).toEqual(['First words', 'Renamed']);
    conversation.title.begin(UNKNOWN, 50);
    expect(conversation.title.allowed(51, 52).any).toBe(true);
  });

  it('a detail read that misses a message acknowledged before it started is stale; one acknowledged after it started is not', () => {
    const early = setup();
    early.acked('u2', 'user', 20, 30);
    early.checker.checkDetail(early.conversation, response(200, detail(['u1', 'a1']), 25, 26));
    expect(early.recorder.violations).toEqual([]);

    const late = setup();
    late.acked('u2', 'user', 20, 30);
    late.checker.checkDetail(late.conversation, response(200, detail(['u1', 'a1']), 31, 32));
    expect(categories(late.recorder)).toEqual(['stale']);
    expect(late.recorder.violations[0].detail).toMatch(/lacks 1 acknowledged message.*user u2/);
  });

  it('a stale title, a conversation served after its delete, and a 404 for a live one are stale; another user\'s body is cross-user', () => {
    const { checker, recorder, conversation } = setup();
    checker.checkDetail(conversation, response(200, detail(['u1', 'a1'], { title: 'New chat' }), 20, 21));
    checker.checkDetail(conversation, response(404, { detail: { code: 'conversation_not_found' } }, 20, 21, ''));
    checker.checkDetail(conversation, response(200, detail(['u1', 'a1'], { user_id: 'bob' }), 20, 21));
    conversation.deleted.begin(true, 30).ackedAt = 31;
    checker.checkDetail(conversation, response(200, detail(['u1', 'a1']), 32, 33));
    checker.checkDetail(conversation, response(404, { detail: { code: 'conversation_not_found' } }, 32, 33, ''));
    expect(categories(recorder)).toEqual(['stale', 'stale', 'cross-user', 'stale']);
  });

  it('a list that orders an older conversation first, or still shows an archived one, is stale; a stranger\'s conversation in it is cross-user', () => {
    const { checker, recorder, alice, bob, history } = setup();
    const newer = new Conversation('c2', alice, 20);
    history.addConversation(newer);
    newer.inserts.push({ seq: 2, issuedAt: 20, ackedAt: 21, failed: false });
    const item = (id: string, title: string) => ({ id, title, update_time: '' });
    checker.checkList(alice, response(200, { items: [item('c2', 'New chat'), item('c1', 'First words')], total: 2 }, 22, 23));
    expect(recorder.violations).toEqual([]);
    checker.checkList(alice, response(200, { items: [item('c1', 'First words'), item('c2', 'New chat')], total: 2 }, 22, 23));
    expect(recorder.violations.map((v) => v.detail)).toEqual([expect.stringMatching(/puts c1 before c2/)]);

    newer.archived.begin(true, 24).ackedAt = 25;
    checker.checkList(alice, response(200, { items: [item('c2', 'New chat'), item('c1', 'First words')], total: 2 }, 26, 27));
    const strangers = new Conversation('c3', bob, 20);
    history.addConversation(strangers);
    checker.checkList(alice, response(200, { items: [item('c1', 'First words'), item('c3', 'New chat')], total: 2 }, 26, 27));
    expect(categories(recorder)).toEqual(['stale', 'stale', 'cross-user']);
  });

  it('a 503 database_unavailable is documented only while a Postgres fault lasts; no answer at all never is', () => {
    const { checker, recorder } = setup();
    recorder.faults.push({ name: 'postgres-restart', target: 'postgres', startedAt: 100, endedAt: 200, detail: '', movesSlots: false });
    const record = (startedAt: number, status: number, code?: string): RequestRecord => ({ op: 'detail', kind: 'read', startedAt, endedAt: startedAt + 5, status, code, worker: 0 });
    checker.checkStatuses([record(150, 503, 'database_unavailable'), record(10_000, 503, 'database_unavailable'), record(150, 500), record(150, 0)]);
    expect(recorder.violations.map((v) => v.detail)).toEqual([
      expect.stringMatching(/503 database_unavailable while Postgres was up/),
      expect.stringMatching(/undocumented 500/),
      expect.stringMatching(/no answer/),
    ]);
  });

  it('a follower that announces [DONE] for a reply whose own stream lacked it, or whose frames differ, is a violation; a faithful one is not', () => {
    const { checker, recorder } = setup();
    const frames = ['event: delta_encoding\ndata: "v1"\n\n', 'data: {"a":1}\n\n', 'data: {"a":2}\n\n'];
    const follower = (body: string, replyDone: boolean): FollowerOutcome => ({
      conversationId: 'c1',
      offset: 1,
      result: response(200, body, 100, 200),
      replyFrames: frames,
      replyDone,
      replyStartedAt: 90,
      replyEndedAt: 150,
    });
    checker.checkFollowers([
      follower(`${frames[1]}${frames[2]}data: [DONE]\n\n`, true),
      follower(`${frames[1]}${frames[2]}data: [DONE]\n\n`, false),
      follower(`${frames[2]}data: [DONE]\n\n`, true),
      follower(`${frames[1]}`, true),
    ]);
    expect(recorder.violations.map((v) => v.detail)).toEqual([
      expect.stringMatching(/ended with \[DONE\], but the reply's own stream ended without it/),
      expect.stringMatching(/frame 1 differs/),
      expect.stringMatching(/ended without \[DONE\] after 1 frames while no fault was under way/),
    ]);
  });
});
