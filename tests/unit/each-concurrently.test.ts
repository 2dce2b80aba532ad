import { describe, expect, it } from 'vitest';
import { eachConcurrently } from '../../app/each-concurrently.js';

/** A call that finishes when the test says so. */
function gate() {
  let open!: () => void;
  let fail!: (err: Error) => void;
  const done = new Promise<void>((resolve, reject) => {
    open = resolve;
    fail = reject;
  });
  return { done, open, fail };
}
const tick = () => new Promise((r) => setTimeout(r, 0));

describe('eachConcurrently', () => {
  it('runs every item once, never more than `limit` at once, starting them in order', async () => {
    const gates = Array.from({ length: 7 }, gate);
    const started: number[] = [];
    let active = 0;
    let peak = 0;
    const all = eachConcurrently(gates, 3, async (g, i) => {
      started.push(i);
      active++;
      peak = Math.max(peak, active);
      await g.done;
      active--;
    });
    await tick();
    expect(started).toEqual([0, 1, 2]);
    gates[1]?.open();
    await tick();
    expect(started).toEqual([0, 1, 2, 3]);
    for (const g of gates) g.open();
    await all;
    expect(started).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(peak).toBe(3);
  });

  it('after a failure starts nothing more, waits for the calls in flight, then throws the first error', async () => {
    const gates = Array.from({ length: 6 }, gate);
    const started: number[] = [];
    const finished: number[] = [];
    const all = eachConcurrently(gates, 2, async (g, i) => {
      started.push(i);
      await g.done;
      finished.push(i);
    });
    let settled = false;
    all.catch(() => undefined).finally(() => (settled = true));
    await tick();
    gates[0]?.fail(new Error('first'));
    await tick();
    expect(settled).toBe(false); // item 1 is still in flight
    gates[1]?.fail(new Error('second'));
    await expect(all).rejects.toThrow('first');
    expect(started).toEqual([0, 1]);
    expect(finished).toEqual([]);
  });

  it('does nothing for no items, and treats a limit below 1 as 1', async () => {
    let calls = 0;
    await eachConcurrently([], 4, async () => void calls++);
    expect(calls).toBe(0);
    await eachConcurrently([1, 2], 0, async () => void calls++);
    expect(calls).toBe(2);
  });
});
