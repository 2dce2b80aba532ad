import { describe, expect, it } from 'vitest';
import { Limiter, uploadSlotsFor } from '../../app/s3/limiter.js';

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

describe('upload slots', () => {
  it('are one set per upload configuration, so sessions uploaded at once share them', async () => {
    const upload = { concurrency: 2, part_size_mb: 5 };
    const a = uploadSlotsFor(upload);
    const b = uploadSlotsFor(upload);
    expect(b).toBe(a);
    expect(a.limiter.size).toBe(2);
    expect(a.pool.bufferSize).toBe(5 * 1024 * 1024);
    // Two sessions' requests: the third waits for a slot whichever session asks.
    const signal = new AbortController().signal;
    await a.limiter.acquire(signal);
    await b.limiter.acquire(signal);
    const third = a.limiter.acquire(signal);
    expect(await settled(third)).toBe(false);
    b.limiter.release();
    expect(await settled(third)).toBe(true);
    expect(uploadSlotsFor({ concurrency: 2, part_size_mb: 5 })).not.toBe(a);
  });
});
