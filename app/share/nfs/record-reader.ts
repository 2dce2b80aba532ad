import type { SocketReader } from './transport.js';

const LAST_FRAGMENT = 0x80000000;
// A reply larger than this is a broken stream, not data: the session caps replies far below it.
export const MAX_RECORD_BYTES = 64 * 1024 * 1024;
const SCRATCH_BYTES = 64 * 1024;
// Record marks and the first bytes of a record are read in pieces this small while a large
// READ waits for its data: a READ reply's bytes before its data (RPC header, COMPOUND,
// SEQUENCE, PUTFH, READ) are 112 with the mark, so the data that comes along is at most a
// few bytes, copied; the rest is read straight into place.
const HEAD_READ_BYTES = 128;
// A record whose first bytes say nothing by this many is simply taken whole.
const MAX_HEAD_BYTES = 1024;

/** Where a record's data goes: `length` bytes starting at `dataStart` in the record, to the start of `buffer`. */
export interface Placement {
  buffer: Uint8Array;
  dataStart: number;
  length: number;
}

export interface RecordHandler {
  /**
   * Looks at a record's first bytes: a placement for its data, null to take the record whole,
   * or 'more' when those bytes do not tell yet (never when `final`: all there is, or all that
   * will be looked at).
   */
  place(head: Buffer, final: boolean): Placement | null | 'more';
  /** A whole record; for a placed one, its bytes before the data (the data is in place). */
  record(bytes: Buffer, placed: Placement | null): void;
  /** The stream is broken (a record too large, data cut short): nothing after this is read. */
  broken(message: string): void;
  /** Whether a large placement may be coming, so record starts are read in small pieces. */
  expectsLargePlacements(): boolean;
}

type Mode = 'head' | 'whole' | 'placed' | 'skip';

/**
 * ONC RPC record marking (RFC 5531 §11) on a socket read straight into place: a record's
 * data goes into the buffer its handler names (a READ's destination), any other record into
 * a buffer of its own length, and only record marks and first bytes pass through a scratch
 * buffer. So a READ reply costs the kernel's copy and nothing more.
 */
export class RecordReader implements SocketReader {
  private readonly scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
  private readonly mark = Buffer.alloc(4);
  private markFilled = 0;
  private inFragment = false;
  private fragmentLeft = 0;
  private lastFragment = false;
  private recordLength = 0;
  private mode: Mode = 'head';
  private readonly head = Buffer.allocUnsafe(MAX_HEAD_BYTES);
  private headFilled = 0;
  private whole = Buffer.alloc(0);
  private wholeFilled = 0;
  private placement: Placement | null = null;
  private placedHead = Buffer.alloc(0);
  private placedFilled = 0;
  // The slice last handed out by nextBuffer for bytes in place, to know them when they arrive.
  private inPlace: Uint8Array | null = null;
  private stopped = false;

  constructor(private readonly handler: RecordHandler) {}

  /** Ignores everything from now on (the connection is closing). */
  stop(): void {
    this.stopped = true;
  }

  nextBuffer(): Uint8Array {
    this.inPlace = null;
    if (this.inFragment && this.fragmentLeft > 0 && !this.stopped) {
      if (this.mode === 'whole') this.inPlace = this.whole.subarray(this.wholeFilled, this.wholeFilled + this.fragmentLeft);
      else if (this.mode === 'placed') {
        const p = this.placement as Placement;
        this.inPlace = p.buffer.subarray(this.placedFilled, this.placedFilled + Math.min(p.length - this.placedFilled, this.fragmentLeft));
      }
      if (this.inPlace) return this.inPlace;
    }
    return this.handler.expectsLargePlacements() ? this.scratch.subarray(0, HEAD_READ_BYTES) : this.scratch;
  }

  received(buffer: Uint8Array, n: number): void {
    if (this.stopped) return;
    if (buffer === this.inPlace) {
      this.inPlace = null;
      this.fragmentLeft -= n;
      if (this.mode === 'whole') this.wholeFilled += n;
      else this.placedFilled += n;
      if (this.mode === 'placed' && this.placedFilled === (this.placement as Placement).length) this.mode = 'skip';
      if (this.fragmentLeft === 0) this.endFragment();
      return;
    }
    this.consume(buffer, 0, n);
  }

  private consume(bytes: Uint8Array, from: number, to: number): void {
    let at = from;
    while (at < to && !this.stopped) {
      if (!this.inFragment) {
        const used = Math.min(4 - this.markFilled, to - at);
        this.mark.set(bytes.subarray(at, at + used), this.markFilled);
        this.markFilled += used;
        at += used;
        if (this.markFilled < 4) return;
        this.startFragment(this.mark.readUInt32BE(0));
        continue;
      }
      const n = Math.min(this.fragmentLeft, to - at);
      this.fragmentLeft -= n;
      this.body(bytes, at, at + n);
      at += n;
      if (this.fragmentLeft === 0) this.endFragment();
    }
  }

  private startFragment(mark: number): void {
    this.markFilled = 0;
    this.inFragment = true;
    this.fragmentLeft = (mark & ~LAST_FRAGMENT) >>> 0;
    this.lastFragment = (mark & LAST_FRAGMENT) !== 0;
    this.recordLength += this.fragmentLeft;
    if (this.recordLength > MAX_RECORD_BYTES) {
      this.stopped = true;
      this.handler.broken(`a record of more than ${MAX_RECORD_BYTES} bytes`);
      return;
    }
    if (this.mode === 'whole') this.grow(this.wholeFilled + this.fragmentLeft);
    if (this.fragmentLeft === 0) this.endFragment();
  }

  /** Record content in `bytes[from, to)`; `fragmentLeft` already counts them as read. */
  private body(bytes: Uint8Array, from: number, to: number): void {
    let at = from;
    while (at < to && !this.stopped) {
      if (this.mode === 'head') {
        const used = Math.min(to - at, MAX_HEAD_BYTES - this.headFilled);
        this.head.set(bytes.subarray(at, at + used), this.headFilled);
        this.headFilled += used;
        at += used;
        const final = this.headFilled === MAX_HEAD_BYTES || (this.lastFragment && this.fragmentLeft === 0 && at === to);
        this.decide(final, to - at + this.fragmentLeft);
      } else if (this.mode === 'whole') {
        this.whole.set(bytes.subarray(at, to), this.wholeFilled);
        this.wholeFilled += to - at;
        at = to;
      } else if (this.mode === 'placed') {
        const p = this.placement as Placement;
        const used = Math.min(to - at, p.length - this.placedFilled);
        p.buffer.set(bytes.subarray(at, at + used), this.placedFilled);
        this.placedFilled += used;
        at += used;
        if (this.placedFilled === p.length) this.mode = 'skip';
      } else {
        at = to;
      }
    }
  }

  /** `rest`: bytes of the current fragment after the head. */
  private decide(final: boolean, rest: number): void {
    const head = this.head.subarray(0, this.headFilled);
    const verdict = this.handler.place(head, final);
    if (verdict === 'more') return;
    if (verdict === null) {
      this.mode = 'whole';
      this.whole = Buffer.allocUnsafe(this.headFilled + rest);
      head.copy(this.whole);
      this.wholeFilled = this.headFilled;
      return;
    }
    const inHead = Math.max(0, Math.min(this.headFilled - verdict.dataStart, verdict.length));
    verdict.buffer.set(head.subarray(verdict.dataStart, verdict.dataStart + inHead));
    this.placement = verdict;
    this.placedHead = Buffer.from(head.subarray(0, verdict.dataStart));
    this.placedFilled = inHead;
    this.mode = inHead === verdict.length ? 'skip' : 'placed';
  }

  private grow(size: number): void {
    if (size <= this.whole.length) return;
    const bigger = Buffer.allocUnsafe(size);
    this.whole.copy(bigger, 0, 0, this.wholeFilled);
    this.whole = bigger;
  }

  private endFragment(): void {
    this.inFragment = false;
    if (!this.lastFragment || this.stopped) return;
    if (this.mode === 'head') this.decide(true, 0);
    const placement = this.placement;
    const bytes = placement ? this.placedHead : this.whole.subarray(0, this.wholeFilled);
    const cutShort = placement !== null && this.placedFilled < placement.length;
    this.mode = 'head';
    this.headFilled = 0;
    this.recordLength = 0;
    this.whole = Buffer.alloc(0);
    this.wholeFilled = 0;
    this.placement = null;
    this.placedFilled = 0;
    if (cutShort) {
      this.stopped = true;
      this.handler.broken('a record that ended inside its READ data');
      return;
    }
    this.handler.record(bytes, placement);
  }
}
