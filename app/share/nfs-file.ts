import { eachConcurrently } from '../each-concurrently.js';
import type { NfsClient, NfsHandle } from './nfs/client.js';
import { nfsAttributes } from './nfs-attributes.js';
import type { ShareAttributes, ShareFile } from './share.js';

/**
 * READs in flight at once for one range: enough to overlap the round trips (a part of 8 MiB
 * is eight 1 MiB READs), while memory stays the caller's buffer.
 */
const READS_IN_FLIGHT = 8;
/**
 * READs sent past the end of a range read in order, before the caller asks for the next
 * range: the server always has work queued, so no round trip or server wake-up is lost
 * between ranges. Their data lands in the next range's buffer when that is asked for in time
 * (the usual case), in a buffer of their own otherwise (copied once).
 */
const READS_AHEAD = 4;

interface ReadAhead {
  position: number;
  length: number;
  /** The caller's memory for these bytes, once a read() took this READ over. */
  owner: Uint8Array | null;
  /** Where the data went on the last attempt. */
  landed: Uint8Array | null;
  result: Promise<{ bytes: number; eof: boolean }>;
}

/**
 * A regular file on an NFS share, read by its handle with the anonymous stateid (no OPEN, so
 * nothing is left on the server by a crash). Each range is split into READs of the client's
 * size, each read from the socket straight into the caller's buffer; reading in order keeps
 * READs going ahead of the caller.
 */
export class NfsFile implements ShareFile {
  private ahead = new Map<number, ReadAhead>();
  // Where the next range starts when the caller reads in order.
  private nextPosition = 0;

  constructor(
    private readonly client: NfsClient,
    private readonly handle: NfsHandle,
    readonly attributes: ShareAttributes,
    /** The signal the file was opened with: its reads stop waiting when it aborts. */
    private readonly signal: AbortSignal,
  ) {}

  /**
   * Returns, or throws, only once every READ into `buffer` has settled: until then the
   * connection may still write there, and the caller reuses it as soon as this returns.
   */
  async read(buffer: Buffer, offset: number, length: number, position: number): Promise<number> {
    const chunk = this.client.readSize;
    const count = Math.ceil(length / chunk);
    const sequential = position === this.nextPosition;
    const taken = this.takeAhead(buffer, offset, length, position, chunk, sequential);
    const filled = new Array<number>(count).fill(0);
    let endAt = count; // the first chunk that reached the end of the file: none after it is read
    let failed = false;
    const readChunk = async (i: number) => {
      const start = i * chunk;
      const size = Math.min(chunk, length - start);
      let got = 0;
      const early = taken.get(i);
      if (early) {
        const { bytes, eof } = await early.result;
        if (bytes > 0 && early.landed !== early.owner) (early.owner as Uint8Array).set((early.landed as Uint8Array).subarray(0, bytes));
        got = bytes;
        if (eof || bytes === 0) endAt = Math.min(endAt, i);
      }
      // A short READ before the end of the file (the server's choice): ask for the rest.
      while (got < size && i < endAt) {
        const into = buffer.subarray(offset + start + got, offset + start + size);
        const { bytes, eof } = await this.client.readInto(this.handle, position + start + got, into.length, () => into, { signal: this.signal });
        got += bytes;
        if (eof || bytes === 0) endAt = Math.min(endAt, i);
      }
      filled[i] = got;
    };
    const failing = (err: unknown) => {
      failed = true;
      throw err;
    };
    const direct = Array.from({ length: count }, (_, i) => i).filter((i) => !taken.has(i));
    const reading = Promise.allSettled([
      // READs taken over are in flight already, writing into `buffer`: each is awaited.
      eachConcurrently([...taken.keys()], taken.size, (i) => readChunk(i).catch(failing)),
      eachConcurrently(direct, READS_IN_FLIGHT, (i) => (failed || i > endAt ? Promise.resolve() : readChunk(i).catch(failing))),
    ]);
    if (sequential) this.readAhead(position + length, chunk);
    const outcomes = await reading;
    for (const outcome of outcomes) if (outcome.status === 'rejected') throw outcome.reason;
    let total = 0;
    for (const [i, got] of filled.entries()) {
      total += got;
      if (got < Math.min(chunk, length - i * chunk)) break;
    }
    this.nextPosition = position + total;
    return total;
  }

  async currentAttributes(): Promise<ShareAttributes> {
    return nfsAttributes(await this.client.getattr(this.handle, { signal: this.signal }));
  }

  async close(): Promise<void> {
    // Nothing to release on the server: reads carry the anonymous stateid, no OPEN was made.
    // READs still ahead land in their own buffers and are dropped.
    this.ahead = new Map();
  }

  /**
   * The READs ahead that fall on this range's chunks, their data directed into `buffer`. Those
   * past the range stay; the rest (and all of them when the caller jumped) land in their own
   * buffers and are dropped.
   */
  private takeAhead(buffer: Buffer, offset: number, length: number, position: number, chunk: number, sequential: boolean): Map<number, ReadAhead> {
    const taken = new Map<number, ReadAhead>();
    const kept = new Map<number, ReadAhead>();
    for (const ahead of sequential ? this.ahead.values() : []) {
      const i = (ahead.position - position) / chunk;
      if (ahead.position >= position + length) kept.set(ahead.position, ahead);
      else if (Number.isInteger(i) && i >= 0 && ahead.length === Math.min(chunk, length - i * chunk)) {
        ahead.owner = buffer.subarray(offset + i * chunk, offset + i * chunk + ahead.length);
        taken.set(i, ahead);
      }
    }
    this.ahead = kept;
    return taken;
  }

  /** READs for the chunks after `from` not already ahead, up to the size the file had when opened. */
  private readAhead(from: number, chunk: number): void {
    for (let i = 0; i < READS_AHEAD; i++) {
      const position = from + i * chunk;
      const length = Math.min(chunk, this.attributes.size - position);
      if (length <= 0) return;
      if (this.ahead.has(position)) continue;
      const ahead: ReadAhead = { position, length, owner: null, landed: null, result: Promise.resolve({ bytes: 0, eof: false }) };
      ahead.result = this.client.readInto(this.handle, position, length, () => (ahead.landed = ahead.owner ?? Buffer.allocUnsafe(length)), {
        signal: this.signal,
      });
      // One never taken over fails unseen.
      ahead.result.catch(() => undefined);
      this.ahead.set(position, ahead);
    }
  }
}
