import { describe, expect, it } from 'vitest';
import { BufferBudget, SMALL_BODY } from '../../app/s3/buffer-budget.js';

const MIB = 1024 * 1024;
const never = new AbortController().signal;
const tick = () => new Promise((r) => setTimeout(r, 0));
const isSettled = async (p: Promise<unknown>) => {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  await tick();
  return done;
};

describe('BufferBudget', () => {
  it('a small body takes only its own bytes: 64 small files fit beside parts that fill most of the budget', async () => {
    const budget = new BufferBudget(24 * MIB, 8 * MIB);
    await budget.take(8 * MIB, never);
    await budget.take(8 * MIB, never);
    const small = await Promise.all(Array.from({ length: 64 }, () => budget.take(16 * 1024, never)));
    expect(small.every((b) => b.length === 16 * 1024)).toBe(true);
    expect(budget.held).toBe(16 * MIB + 64 * 16 * 1024);
    // A third part no longer fits: it waits.
    expect(await isSettled(budget.take(8 * MIB, never))).toBe(false);
  });

  it('a body over SMALL_BODY takes a whole part buffer, reused after a success', async () => {
    const budget = new BufferBudget(16 * MIB, 8 * MIB);
    const a = await budget.take(SMALL_BODY + 1, never);
    expect(a.length).toBe(SMALL_BODY + 1);
    expect(budget.held).toBe(8 * MIB);
    budget.give(a);
    expect(budget.held).toBe(8 * MIB); // kept for reuse, still counted
    const b = await budget.take(8 * MIB, never);
    expect(b.buffer).toBe(a.buffer);
    expect(budget.held).toBe(8 * MIB);
    expect(b.buffer).toBeInstanceOf(SharedArrayBuffer);
  });

  it('a failed body is not reused, and its room is given back', async () => {
    const budget = new BufferBudget(16 * MIB, 8 * MIB);
    const a = await budget.take(8 * MIB, never);
    budget.discard(a);
    expect(budget.held).toBe(0);
    const b = await budget.take(8 * MIB, never);
    expect(b.buffer).not.toBe(a.buffer);
  });

  it('waiters are served in arrival order: small files do not starve a waiting part', async () => {
    const budget = new BufferBudget(16 * MIB, 8 * MIB);
    const first = await budget.take(8 * MIB, never);
    const second = await budget.take(512 * 1024, never);
    const part = budget.take(8 * MIB, never);
    const small = budget.take(1024, never);
    expect(await isSettled(part)).toBe(false);
    // 7.5 MiB is free, enough for the small body, but the part came first.
    expect(await isSettled(small)).toBe(false);
    budget.give(second);
    expect(await isSettled(part)).toBe(true);
    expect(await isSettled(small)).toBe(false);
    budget.give(first);
    expect(await isSettled(small)).toBe(true);
    expect(budget.held).toBe(8 * MIB + 1024);
  });

  it('drops idle part buffers when a body of another size needs their room', async () => {
    const budget = new BufferBudget(16 * MIB, 8 * MIB);
    const parts = [await budget.take(8 * MIB, never), await budget.take(8 * MIB, never)];
    for (const p of parts) budget.give(p);
    expect(budget.held).toBe(16 * MIB);
    const small = await budget.take(512 * 1024, never);
    expect(small.length).toBe(512 * 1024);
    expect(budget.held).toBe(8 * MIB + 512 * 1024);
  });

  it('a body larger than the whole budget goes alone', async () => {
    const budget = new BufferBudget(16 * MIB, 8 * MIB);
    const small = await budget.take(1024, never);
    const huge = budget.take(40 * MIB, never);
    expect(await isSettled(huge)).toBe(false);
    budget.give(small);
    const got = await huge;
    expect(got.length).toBe(40 * MIB);
    expect(budget.held).toBe(16 * MIB);
    const next = budget.take(1024, never);
    expect(await isSettled(next)).toBe(false);
    budget.give(got);
    expect(await isSettled(next)).toBe(true);
    expect(budget.held).toBe(1024);
  });

  it('an aborted waiter rejects, takes nothing, and lets the next one in', async () => {
    const budget = new BufferBudget(16 * MIB, 8 * MIB);
    await budget.take(8 * MIB, never);
    await budget.take(512 * 1024, never);
    const ac = new AbortController();
    const part = budget.take(8 * MIB, ac.signal);
    const small = budget.take(1024, never);
    expect(await isSettled(small)).toBe(false);
    ac.abort(new Error('stop'));
    await expect(part).rejects.toThrow('stop');
    expect(await isSettled(small)).toBe(true);
    expect(budget.held).toBe(8 * MIB + 512 * 1024 + 1024);
  });

  it('the parts of one file reuse buffers of its part size, enlarged parts and the last one included', async () => {
    const budget = new BufferBudget(64 * MIB, 8 * MIB);
    const enlarged = 21 * MIB;
    const first = await budget.take(enlarged, never, enlarged);
    budget.give(first);
    const last = await budget.take(3, never, enlarged);
    expect(last.length).toBe(3);
    expect(last.buffer).toBe(first.buffer);
    expect(budget.held).toBe(enlarged);
    budget.give(last);
    // A whole file over SMALL_BODY wants a buffer of the configured part size: the idle 21 MiB one is not it.
    const whole = await budget.take(2 * MIB, never);
    expect(whole.buffer.byteLength).toBe(8 * MIB);
    expect(budget.held).toBe(enlarged + 8 * MIB);
  });
});
