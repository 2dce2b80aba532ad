import { BufferPool } from './payload.js';

/** Counts slots (S3 requests in flight, each holding at most one part buffer). */
export class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly size: number) {}

  async acquire(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    if (this.active < this.size) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const i = this.waiting.indexOf(grant);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(signal.reason as Error);
      };
      const grant = () => {
        signal.removeEventListener('abort', onAbort);
        this.active++;
        resolve();
      };
      this.waiting.push(grant);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  release(): void {
    this.active--;
    this.waiting.shift()?.();
  }

  async run<T>(signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    await this.acquire(signal);
    try {
      return await fn();
    } finally {
      this.release();
    }
  }
}

/** The request slots and the part buffers they hold. */
export interface UploadSlots {
  limiter: Limiter;
  pool: BufferPool;
}

const shared = new WeakMap<object, UploadSlots>();

/**
 * One set of `concurrency` slots per upload configuration, shared by every session the
 * process uploads at once (`parallel_sessions`): memory for file data stays at
 * part_size_mb × concurrency however many sessions run, and a waiting request of a small
 * session is served in turn with a large one's parts.
 */
export function uploadSlotsFor(upload: { concurrency: number; part_size_mb: number }): UploadSlots {
  let slots = shared.get(upload);
  if (!slots) {
    slots = { limiter: new Limiter(upload.concurrency), pool: new BufferPool(upload.part_size_mb * 1024 * 1024, upload.concurrency) };
    shared.set(upload, slots);
  }
  return slots;
}
