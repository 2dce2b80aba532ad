import type { Socket } from 'node:net';
import { hostname } from 'node:os';
import { transportError, type NfsError } from './nfs-error.js';
import { AUTH_NONE, AUTH_SYS, NFS_PROGRAM, NFS_VERSION } from './protocol.js';
import { RecordReader, type Placement } from './record-reader.js';
import { connectFailure, type ReadingSocket } from './transport.js';
import { XdrError, XdrReader, XdrWriter } from './xdr.js';

export { openSocket, type Endpoint } from './transport.js';

export interface Credentials {
  uid: number;
  gid: number;
}

/** Where the data of a call's reply goes, instead of into a buffer of the reply's own. */
export interface ReplyTarget {
  /**
   * Given a reader at the procedure's results, in the reply's first bytes: how many bytes of
   * data follow at the reader's position, or null when the reply carries none (an error).
   * Throws XdrError when the bytes given do not reach that far.
   */
  locate(results: XdrReader): number | null;
  /** The memory the data goes to (from its start), asked as it begins to arrive. */
  destination(): Uint8Array;
  /** The most data the reply can carry (the count asked for). */
  readonly length: number;
}

// Data up to this size is cheaper copied out of a large read than read in place with a
// system call of its own: record starts are read in small pieces only while a larger
// placement may be coming.
const SMALL_DATA_BYTES = 32 * 1024;

const LAST_FRAGMENT = 0x80000000;

function authSysBody({ uid, gid }: Credentials): Buffer {
  // The machine name is informational; servers log it. RFC 5531 caps it at 255 bytes.
  const machine = Buffer.from(hostname(), 'utf8').subarray(0, 255);
  return new XdrWriter(64)
    .u32(Math.floor(Date.now() / 1000))
    .opaque(machine)
    .u32(uid)
    .u32(gid)
    .u32(1)
    .u32(gid)
    .bytes();
}

interface PendingCall {
  resolve(reply: XdrReader): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
  target: ReplyTarget | null;
  /** Set when the caller gave the target up while its data was arriving: called at the record's end. */
  released: (() => void) | null;
}

/** A call whose reply data goes into the caller's buffer. */
export interface CallInto {
  reply: Promise<XdrReader>;
  /**
   * Gives the target buffer back before the reply: resolves once nothing more will be written
   * into it (at once unless its data is arriving right now; then at that reply's end).
   */
  release(): Promise<void>;
}

/**
 * ONC RPC (RFC 5531) over one TCP stream with record marking. Many calls may be in flight;
 * replies are matched by xid. Every call has a deadline: a call that passes it tears the whole
 * connection down, because a server that stopped answering one call is not trusted with others.
 */
export class RpcConnection {
  private nextXid = (Math.random() * 0x7fffffff) >>> 0;
  private readonly pending = new Map<number, PendingCall>();
  private readonly cred: Buffer;
  private readonly reader: RecordReader;
  private readonly socket: Socket;
  // Calls whose replies may place more than SMALL_DATA_BYTES, and the one whose data is arriving now.
  private largeTargets = 0;
  private placing: PendingCall | null = null;
  private closedWith: NfsError | null = null;
  private readonly closeListeners: ((err: NfsError) => void)[] = [];

  constructor(
    link: ReadingSocket,
    credentials: Credentials,
    private readonly describe: string,
  ) {
    this.cred = authSysBody(credentials);
    this.socket = link.socket;
    this.reader = new RecordReader({
      place: (head, final) => this.place(head, final),
      record: (bytes) => this.deliver(bytes),
      broken: (what) => this.close(transportError('CONNECTION_LOST', `${describe} sent ${what}`)),
      expectsLargePlacements: () => this.largeTargets > 0,
    });
    link.setReader(this.reader);
    this.socket.on('error', (err) => this.close(connectFailure(err, `connection to ${describe}`)));
    this.socket.on('close', () => this.close(transportError('CONNECTION_LOST', `connection to ${describe} closed`)));
  }

  onClose(listener: (err: NfsError) => void): void {
    this.closeListeners.push(listener);
  }

  get closed(): boolean {
    return this.closedWith !== null;
  }

  /**
   * Sends one call; `writeArgs` encodes the procedure's arguments. Resolves with a reader at
   * the start of the procedure's results.
   */
  call(procedure: number, writeArgs: (w: XdrWriter) => void, timeoutMs: number): Promise<XdrReader> {
    return this.send(procedure, writeArgs, timeoutMs, null).reply;
  }

  /**
   * As `call`, with the reply's data read straight from the socket into the target's
   * destination; the reader the reply resolves with ends where the data begins.
   */
  callInto(procedure: number, writeArgs: (w: XdrWriter) => void, timeoutMs: number, target: ReplyTarget): CallInto {
    return this.send(procedure, writeArgs, timeoutMs, target);
  }

  private send(procedure: number, writeArgs: (w: XdrWriter) => void, timeoutMs: number, target: ReplyTarget | null): CallInto {
    if (this.closedWith) return { reply: Promise.reject(this.closedWith), release: () => Promise.resolve() };
    const xid = this.nextXid;
    this.nextXid = (this.nextXid + 1) >>> 0;
    const w = new XdrWriter(1024);
    w.u32(0); // record mark, patched below
    w.u32(xid).u32(0).u32(2).u32(NFS_PROGRAM).u32(NFS_VERSION).u32(procedure);
    w.u32(AUTH_SYS).opaque(this.cred);
    w.u32(AUTH_NONE).u32(0);
    writeArgs(w);
    const message = w.bytes();
    message.writeUInt32BE((LAST_FRAGMENT | (message.length - 4)) >>> 0, 0);
    const reply = new Promise<XdrReader>((resolve, reject) => {
      const timer = setTimeout(() => {
        // Every call in flight fails with the same TIMEOUT: the server stopped answering them all.
        this.close(transportError('TIMEOUT', `no answer from ${this.describe} within ${timeoutMs} ms; connection torn down`));
      }, timeoutMs);
      this.pending.set(xid, { resolve, reject, timer, target, released: null });
      if (target && target.length > SMALL_DATA_BYTES) this.largeTargets++;
      this.socket.write(message);
    });
    return { reply, release: () => this.release(xid) };
  }

  private release(xid: number): Promise<void> {
    const call = this.pending.get(xid);
    if (!call?.target) return Promise.resolve();
    if (this.placing !== call) {
      if (call.target.length > SMALL_DATA_BYTES) this.largeTargets--;
      call.target = null;
      return Promise.resolve();
    }
    return new Promise((resolve) => (call.released = resolve));
  }

  /** Fails every call in flight with `err` and closes the socket. */
  close(err: NfsError = transportError('CONNECTION_LOST', `connection to ${this.describe} closed by the client`)): void {
    if (this.closedWith) return;
    this.closedWith = err;
    // First, so no read lands in a caller's buffer after its call failed.
    this.reader.stop();
    this.socket.destroy();
    for (const call of this.pending.values()) {
      clearTimeout(call.timer);
      call.released?.();
      call.reject(err);
    }
    this.pending.clear();
    this.largeTargets = 0;
    this.placing = null;
    for (const listener of this.closeListeners) listener(err);
  }

  /** Where a reply's data goes: into its call's target, when the reply is an accepted one with data. */
  private place(head: Buffer, final: boolean): Placement | null | 'more' {
    if (head.length < 4) return final ? null : 'more';
    const call = this.pending.get(head.readUInt32BE(0));
    if (!call?.target) return null;
    try {
      const r = new XdrReader(head, 4);
      if (r.u32() !== 1 || r.u32() !== 0) return null;
      r.u32(); // verifier flavor
      r.opaque(400);
      if (r.u32() !== 0) return null;
      const length = call.target.locate(r);
      if (length === null) return null;
      const buffer = call.target.destination();
      if (length > buffer.length) {
        this.close(transportError('CONNECTION_LOST', `${this.describe} sent ${length} bytes of data where at most ${buffer.length} were asked for`));
        return null;
      }
      this.placing = call;
      return { buffer, dataStart: r.offset, length };
    } catch (err) {
      if (err instanceof XdrError && !final) return 'more';
      return null;
    }
  }

  private deliver(record: Buffer): void {
    if (this.placing) {
      this.placing.released?.();
      this.placing = null;
    }
    if (record.length < 4) {
      this.close(transportError('CONNECTION_LOST', `${this.describe} sent a record of ${record.length} bytes`));
      return;
    }
    const r = new XdrReader(record);
    const xid = r.u32();
    const call = this.pending.get(xid);
    if (!call) return; // the caller timed out or gave up; its answer is of no use now
    this.pending.delete(xid);
    clearTimeout(call.timer);
    if (call.target && call.target.length > SMALL_DATA_BYTES) this.largeTargets--;
    try {
      if (r.u32() !== 1) throw transportError('CONNECTION_LOST', `${this.describe} sent a call where a reply was expected`);
      if (r.u32() === 0) {
        r.u32(); // verifier flavor
        r.opaque(400);
        const acceptStat = r.u32();
        if (acceptStat === 0) {
          call.resolve(r);
          return;
        }
        const names = ['SUCCESS', 'PROG_UNAVAIL', 'PROG_MISMATCH', 'PROC_UNAVAIL', 'GARBAGE_ARGS', 'SYSTEM_ERR'];
        const name = names[acceptStat] ?? `accept_stat ${acceptStat}`;
        const failure = acceptStat === 1 || acceptStat === 2 || acceptStat === 3 ? 'RPC_MISMATCH' : 'CONNECTION_LOST';
        throw transportError(failure, `${this.describe} did not accept the call: ${name}`);
      }
      if (r.u32() === 0) throw transportError('RPC_MISMATCH', `${this.describe} does not speak ONC RPC version 2`);
      throw transportError('RPC_AUTH_ERROR', `${this.describe} refused the AUTH_SYS credentials (auth_stat ${r.u32()})`);
    } catch (err) {
      call.reject(err as Error);
    }
  }
}
