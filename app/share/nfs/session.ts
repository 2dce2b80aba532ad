import { randomBytes } from 'node:crypto';
import { NfsError, abortError, nfsStatusError, transportError, untilAborted } from './nfs-error.js';
import { EXCHGID4_FLAG_USE_NON_PNFS, NFS4_OK, NFS4ERR_COMPLETE_ALREADY, NFS_MINOR_VERSION, Op, PROC_COMPOUND, SESSION_LOST } from './protocol.js';
import type { RpcConnection } from './rpc-connection.js';
import type { XdrReader, XdrWriter } from './xdr.js';

/** The results of a COMPOUND, read in order. */
export class CompoundResults {
  private index = 0;

  constructor(
    private readonly r: XdrReader,
    readonly status: number,
    private readonly count: number,
    private readonly what: string,
  ) {}

  /** The next result's status and a reader at its body (meaningful only when the status is OK). */
  nextStatus(op: number): { status: number; r: XdrReader } {
    if (this.index >= this.count) return { status: this.status, r: this.r };
    this.index++;
    const opnum = this.r.u32();
    if (opnum !== op) throw transportError('CONNECTION_LOST', `${this.what}: reply has operation ${opnum} where ${op} was sent`);
    return { status: this.r.u32(), r: this.r };
  }

  /** A reader at the next result's body; throws the NFS error when that operation failed. */
  next(op: number): XdrReader {
    const { status, r } = this.nextStatus(op);
    if (status !== NFS4_OK) throw nfsStatusError(status, this.what);
    return r;
  }
}

// SEQUENCE4resok after the status: session id, sequence, slot, highest slot, target highest slot, status flags.
const SEQUENCE_RESULT_BYTES = 16 + 4 * 5;

/** Where a COMPOUND's reply data goes (a READ's destination), and how to find it in the results after SEQUENCE's. */
export interface CompoundTarget {
  /** How many bytes of data follow the reader's position in the results, or null when none (see ReplyTarget). */
  locate(results: CompoundResults): number | null;
  destination(): Uint8Array;
  readonly length: number;
}

/** SEQUENCE failed: the session or client ID is gone, nothing in the COMPOUND was done. */
export class SessionLostError extends Error {
  constructor(override readonly cause: NfsError) {
    super(cause.message);
    this.name = 'SessionLostError';
  }
}

function writeCompoundHeader(w: XdrWriter, opCount: number): number {
  w.u32(0); // tag: empty
  w.u32(NFS_MINOR_VERSION);
  const countAt = w.length;
  w.u32(opCount);
  return countAt;
}

function readCompoundHeader(r: XdrReader, what: string): CompoundResults {
  const status = r.u32();
  r.opaque(1024); // tag
  return new CompoundResults(r, status, r.u32(), what);
}

function writeChannelAttrs(w: XdrWriter, a: { maxRequest: number; maxResponse: number; maxResponseCached: number; maxOps: number; maxRequests: number }): void {
  w.u32(0).u32(a.maxRequest).u32(a.maxResponse).u32(a.maxResponseCached).u32(a.maxOps).u32(a.maxRequests).u32(0);
}

function readChannelAttrs(r: XdrReader): { maxResponse: number; maxOperations: number; maxRequests: number } {
  r.u32(); // header pad
  r.u32(); // max request size
  const maxResponse = r.u32();
  r.u32(); // max cached response
  const maxOperations = r.u32();
  const maxRequests = r.u32();
  const rdma = r.u32();
  for (let i = 0; i < rdma; i++) r.u32();
  return { maxResponse, maxOperations, maxRequests };
}

export interface SessionOptions {
  /** Unique to this client instance: the server keeps one client record per owner. */
  ownerId: string;
  /** Requests in flight at once (slots asked for; the server may grant fewer). */
  slots: number;
  /** Largest reply asked for: the READ size plus room for the COMPOUND around it. */
  maxResponseBytes: number;
  timeoutMs: number;
}

/**
 * An NFSv4.1 session (RFC 8881 §2.10): EXCHANGE_ID, CREATE_SESSION, then every COMPOUND starts
 * with SEQUENCE on a free slot. The client holds no open or lock state (READ uses the anonymous
 * stateid), so a lost session is simply made again: a fresh verifier each time tells the server
 * that any earlier record of this owner is gone.
 */
export class NfsSession {
  private readonly slotSeq: number[];
  private readonly freeSlots: number[];
  private readonly slotWaiters: { resolve(slot: number): void; reject(err: Error): void }[] = [];

  private constructor(
    readonly conn: RpcConnection,
    private readonly sessionId: Buffer,
    private readonly clientId: bigint,
    slots: number,
    readonly maxResponseBytes: number,
    /** Operations per COMPOUND, SEQUENCE included, as the server granted. */
    readonly maxOperations: number,
  ) {
    this.slotSeq = new Array<number>(slots).fill(1);
    this.freeSlots = Array.from({ length: slots }, (_, i) => slots - 1 - i);
    conn.onClose((err) => {
      for (const waiter of this.slotWaiters.splice(0)) waiter.reject(err);
    });
  }

  static async create(conn: RpcConnection, opts: SessionOptions): Promise<NfsSession> {
    try {
      return await NfsSession.handshake(conn, opts);
    } catch (err) {
      // Another EXCHANGE_ID of this owner (one the server read late from an abandoned
      // connection) replaced the client ID half-way: make the session again.
      if (err instanceof NfsError && err.status !== undefined && SESSION_LOST.has(err.status)) throw new SessionLostError(err);
      throw err;
    }
  }

  private static async handshake(conn: RpcConnection, opts: SessionOptions): Promise<NfsSession> {
    const exchange = await conn.call(
      PROC_COMPOUND,
      (w) => {
        writeCompoundHeader(w, 1);
        w.u32(Op.EXCHANGE_ID).fixed(randomBytes(8)).string(opts.ownerId).u32(EXCHGID4_FLAG_USE_NON_PNFS).u32(0).u32(0);
      },
      opts.timeoutMs,
    );
    const er = readCompoundHeader(exchange, 'EXCHANGE_ID').next(Op.EXCHANGE_ID);
    const clientId = er.u64();
    const createSeq = er.u32();

    const create = await conn.call(
      PROC_COMPOUND,
      (w) => {
        writeCompoundHeader(w, 1);
        w.u32(Op.CREATE_SESSION).u64(clientId).u32(createSeq).u32(0);
        writeChannelAttrs(w, { maxRequest: 64 * 1024, maxResponse: opts.maxResponseBytes, maxResponseCached: 4096, maxOps: 64, maxRequests: opts.slots });
        writeChannelAttrs(w, { maxRequest: 4096, maxResponse: 4096, maxResponseCached: 0, maxOps: 2, maxRequests: 1 });
        w.u32(0x40000000); // callback program: unused, no back channel is bound
        w.u32(1).u32(0); // callback security: AUTH_NONE
      },
      opts.timeoutMs,
    );
    const cr = readCompoundHeader(create, 'CREATE_SESSION').next(Op.CREATE_SESSION);
    const sessionId = Buffer.from(cr.fixed(16));
    cr.u32(); // sequence
    cr.u32(); // flags
    const fore = readChannelAttrs(cr);
    const session = new NfsSession(
      conn,
      sessionId,
      clientId,
      Math.max(1, Math.min(opts.slots, fore.maxRequests)),
      Math.min(opts.maxResponseBytes, fore.maxResponse),
      Math.max(5, fore.maxOperations),
    );

    // Tells the server this client has no state to reclaim, so it need not wait for us to end
    // its grace period.
    const reclaim = await session.compound(
      'RECLAIM_COMPLETE',
      (w) => {
        w.u32(Op.RECLAIM_COMPLETE).bool(false);
        return 1;
      },
      opts.timeoutMs,
    );
    const { status } = reclaim.nextStatus(Op.RECLAIM_COMPLETE);
    if (status !== NFS4_OK && status !== NFS4ERR_COMPLETE_ALREADY) throw nfsStatusError(status, 'RECLAIM_COMPLETE');
    return session;
  }

  /**
   * Sends SEQUENCE followed by the operations `writeOps` encodes (it returns how many). Resolves
   * with the results after SEQUENCE's. The slot is held until the server answers or the
   * connection dies, even when the caller gives up earlier: the slot's sequence depends on it.
   * With a `target`, the reply's data is read straight into its destination; a caller that
   * aborts is answered once nothing more will be written there.
   */
  async compound(what: string, writeOps: (w: XdrWriter) => number, timeoutMs: number, signal?: AbortSignal, target?: CompoundTarget): Promise<CompoundResults> {
    if (signal?.aborted) throw abortError(signal);
    const slot = await this.acquireSlot(signal);
    const writeCall = (w: XdrWriter) => {
      const countAt = writeCompoundHeader(w, 0);
      w.u32(Op.SEQUENCE)
        .fixed(this.sessionId)
        .u32(this.slotSeq[slot] as number)
        .u32(slot)
        .u32(this.slotSeq.length - 1)
        .bool(false);
      const ops = writeOps(w);
      w.bytes().writeUInt32BE(ops + 1, countAt);
    };
    const { reply, release } = target
      ? this.conn.callInto(PROC_COMPOUND, writeCall, timeoutMs, {
          destination: target.destination,
          length: target.length,
          locate: (r) => {
            const results = readCompoundHeader(r, what);
            const sequence = results.nextStatus(Op.SEQUENCE);
            if (sequence.status !== NFS4_OK) return null;
            sequence.r.skip(SEQUENCE_RESULT_BYTES);
            return target.locate(results);
          },
        })
      : { reply: this.conn.call(PROC_COMPOUND, writeCall, timeoutMs), release: null };
    const settled = reply.then(
      (r) => {
        const results = readCompoundHeader(r, what);
        const sequence = results.nextStatus(Op.SEQUENCE);
        if (sequence.status !== NFS4_OK) {
          this.releaseSlot(slot);
          const err = nfsStatusError(sequence.status, `${what} (SEQUENCE)`);
          throw SESSION_LOST.has(sequence.status) ? new SessionLostError(err) : err;
        }
        this.slotSeq[slot] = ((this.slotSeq[slot] as number) + 1) >>> 0;
        this.releaseSlot(slot);
        sequence.r.skip(SEQUENCE_RESULT_BYTES);
        return results;
      },
      // Without an answer the slot's sequence is unknown; the connection, and so this session,
      // is torn down and the slot never handed out again.
    );
    if (!signal) return settled;
    if (!release) return untilAborted(settled, signal);
    return untilAborted(settled, signal).catch(async (err: unknown) => {
      if (signal.aborted) await release();
      throw err;
    });
  }

  /** Polite goodbye; the server would expire both after a lease anyway. */
  async destroy(timeoutMs: number): Promise<void> {
    if (this.conn.closed) return;
    await this.conn
      .call(
        PROC_COMPOUND,
        (w) => {
          writeCompoundHeader(w, 1);
          w.u32(Op.DESTROY_SESSION).fixed(this.sessionId);
        },
        timeoutMs,
      )
      .then(() =>
        this.conn.call(
          PROC_COMPOUND,
          (w) => {
            writeCompoundHeader(w, 1);
            w.u32(Op.DESTROY_CLIENTID).u64(this.clientId);
          },
          timeoutMs,
        ),
      )
      .catch(() => undefined);
    this.conn.close();
  }

  private acquireSlot(signal?: AbortSignal): Promise<number> {
    const free = this.freeSlots.pop();
    if (free !== undefined) return Promise.resolve(free);
    if (this.conn.closed) return Promise.reject(transportError('CONNECTION_LOST', 'session connection closed'));
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: (slot: number) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(slot);
        },
        reject: (err: Error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      const onAbort = () => {
        const i = this.slotWaiters.indexOf(waiter);
        if (i >= 0) this.slotWaiters.splice(i, 1);
        reject(abortError(signal as AbortSignal));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.slotWaiters.push(waiter);
    });
  }

  private releaseSlot(slot: number): void {
    const waiter = this.slotWaiters.shift();
    if (waiter) waiter.resolve(slot);
    else this.freeSlots.push(slot);
  }
}
