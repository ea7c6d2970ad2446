/** The cluster node breaker's states, with the clock given to each call. */
import { NODE_COOL_DOWN_MS, NodeBreaker } from '@chatbot/shared/testing';

it('skips a node for a cool-down after a failure, then lets one caller probe while the others keep skipping', () => {
  const breaker = new NodeBreaker();
  expect(breaker.skip('10.0.0.1:6379', 0)).toBe(false);
  breaker.trip('10.0.0.1:6379', 1000);
  expect(breaker.skip('10.0.0.1:6379', 1000 + NODE_COOL_DOWN_MS - 1)).toBe(true);
  // Another node is not affected.
  expect(breaker.skip('10.0.0.2:6379', 1500)).toBe(false);
  // Cool-down over: this caller probes, the next ones skip for another cool-down.
  expect(breaker.skip('10.0.0.1:6379', 1000 + NODE_COOL_DOWN_MS)).toBe(false);
  expect(breaker.skip('10.0.0.1:6379', 1000 + NODE_COOL_DOWN_MS + 1)).toBe(true);
  // The probe succeeded: nobody skips.
  breaker.close('10.0.0.1:6379');
  expect(breaker.skip('10.0.0.1:6379', 1000 + NODE_COOL_DOWN_MS + 2)).toBe(false);
});
