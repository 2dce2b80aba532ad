import { describe, expect, it } from 'vitest';
import { Limiter } from '../../app/s3/limiter.js';

const tick = () => new Promise((r) => setTimeout(r, 0));
const settled = async (p: Promise<unknown>) => {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  await tick();
  return done;
};

describe('Limiter', () => {
  it('never runs more than size tasks at once', async () => {
    const limiter = new Limiter(3);
    const signal = new AbortController().signal;
    let active = 0;
    let peak = 0;
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        limiter.run(signal, async () => {
          active++;
          peak = Math.max(peak, active);
          await new Promise((r) => setTimeout(r, 2 + (i % 3)));
          active--;
          return i;
        }),
      ),
    );
    expect(peak).toBe(3);
    expect(results).toEqual(Array.from({ length: 12 }, (_, i) => i));
  });

  it('releases the slot when the task throws', async () => {
    const limiter = new Limiter(1);
    const signal = new AbortController().signal;
    await expect(limiter.run(signal, () => Promise.reject(new Error('x')))).rejects.toThrow('x');
    expect(await settled(limiter.acquire(signal))).toBe(true);
  });

  it('an aborted waiting acquire rejects and does not leak a slot', async () => {
    const limiter = new Limiter(1);
    const never = new AbortController().signal;
    await limiter.acquire(never);
    const ac = new AbortController();
    const waiting = limiter.acquire(ac.signal);
    expect(await settled(waiting)).toBe(false);
    ac.abort(new Error('stop'));
    await expect(waiting).rejects.toThrow('stop');

    limiter.release();
    const c = limiter.acquire(never);
    expect(await settled(c)).toBe(true); // the slot went to C, not to the aborted waiter
    const d = limiter.acquire(never);
    expect(await settled(d)).toBe(false); // and only one slot exists
    limiter.release();
    expect(await settled(d)).toBe(true);
  });

  it('an already-aborted signal rejects without taking a slot', async () => {
    const limiter = new Limiter(1);
    await expect(limiter.acquire(AbortSignal.abort())).rejects.toThrow();
    expect(await settled(limiter.acquire(new AbortController().signal))).toBe(true);
  });
});
