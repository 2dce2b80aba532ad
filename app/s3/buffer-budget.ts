/**
 * Bodies smaller than this get a buffer of their own size; larger ones a reused part-sized
 * buffer. Small files are many and their bytes few: each takes only its size from the budget,
 * so dozens of them go out beside a part (a 16 KiB file does not wait for 8 MiB of room). Above
 * it, fresh allocations of up to a part each would pile up behind the garbage collector.
 */
export const SMALL_BODY = 1024 * 1024;

interface Waiter {
  length: number;
  size: number;
  grant: (buf: Buffer) => void;
}

/**
 * The memory for request bodies (whole small files and parts), under one byte budget shared
 * by every session the process uploads. A body takes its bytes before it is read and gives
 * them back once its request is over; bodies wait in arrival order (as Go's weighted
 * semaphore, behind rclone's --max-buffer-memory), so a large part is never starved by small
 * files passing it. Buffers over SMALL_BODY are kept for reuse by a body of the same buffer size
 * and stay counted while idle; an idle one is dropped when another body needs its room. They
 * are on a SharedArrayBuffer, so the hashing worker reads parts where they are. One buffer
 * larger than the whole budget (a part of a file too large for 10,000 parts of the configured
 * size) takes the whole budget: memory is then that part.
 */
export class BufferBudget {
  private used = 0;
  private readonly idle: Buffer[] = [];
  private readonly waiting: Waiter[] = [];
  /** Each lent buffer's charge against the budget. */
  private readonly charge = new WeakMap<ArrayBufferLike, number>();

  constructor(
    /** Bytes of file data in memory at most (but see above for a body larger than this). */
    readonly capacity: number,
    /** The configured part size: buffers of this size are reused. */
    readonly partSize: number,
  ) {}

  /** Bytes held now: bodies in flight and idle part buffers. */
  get held(): number {
    return this.used;
  }

  /**
   * A buffer of exactly `length` bytes, once the budget has room for it: a view on one of
   * `size` bytes (default: its own size up to SMALL_BODY, else a part's), so that the parts of
   * one file, its last one included, reuse the same buffers.
   */
  take(length: number, signal: AbortSignal, size = length <= SMALL_BODY ? length : Math.max(length, this.partSize)): Promise<Buffer> {
    signal.throwIfAborted();
    if (this.waiting.length === 0) {
      const buf = this.tryTake(length, size);
      if (buf) return Promise.resolve(buf);
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        length,
        size,
        grant: (buf) => {
          signal.removeEventListener('abort', onAbort);
          resolve(buf);
        },
      };
      const onAbort = () => {
        this.waiting.splice(this.waiting.indexOf(waiter), 1);
        reject(signal.reason as Error);
        // The next in line may fit where this one did not.
        this.grantWaiting();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  /** Gives back a buffer from `take` whose request is over; a part buffer is kept for reuse. */
  give(buf: Buffer): void {
    const charge = this.charge.get(buf.buffer);
    if (charge === undefined) return;
    if (buf.buffer.byteLength > SMALL_BODY) this.idle.push(Buffer.from(buf.buffer, 0, buf.buffer.byteLength));
    else this.release(buf.buffer, charge);
    this.grantWaiting();
  }

  /** Gives back the room of a buffer whose request failed, without reusing it (a socket may still hold it). */
  discard(buf: Buffer): void {
    const charge = this.charge.get(buf.buffer);
    if (charge === undefined) return;
    this.release(buf.buffer, charge);
    this.grantWaiting();
  }

  private release(ab: ArrayBufferLike, charge: number): void {
    this.charge.delete(ab);
    this.used -= charge;
  }

  private tryTake(length: number, size: number): Buffer | null {
    const reuse = size > SMALL_BODY;
    const fit = reuse ? this.idle.findIndex((b) => b.length === size) : -1;
    if (fit >= 0) {
      const [idle] = this.idle.splice(fit, 1) as [Buffer];
      return length === size ? idle : idle.subarray(0, length);
    }
    const charge = Math.min(size, this.capacity);
    while (this.used + charge > this.capacity && this.idle.length > 0) {
      const dropped = this.idle.pop() as Buffer;
      this.release(dropped.buffer, this.charge.get(dropped.buffer) ?? 0);
    }
    if (this.used + charge > this.capacity) return null;
    this.used += charge;
    // A small body is hashed where it is read, or copied to the worker.
    const buf = reuse ? Buffer.from(new SharedArrayBuffer(size)) : Buffer.allocUnsafeSlow(size);
    this.charge.set(buf.buffer, charge);
    return length === size ? buf : buf.subarray(0, length);
  }

  private grantWaiting(): void {
    for (let head = this.waiting[0]; head; head = this.waiting[0]) {
      const buf = this.tryTake(head.length, head.size);
      if (!buf) return;
      this.waiting.shift();
      head.grant(buf);
    }
  }
}
