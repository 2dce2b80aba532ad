import { hostname } from 'node:os';
import { connect, type Socket } from 'node:net';
import { SocksClient } from 'socks';
import { abortError, transportError, type NfsError } from './nfs-error.js';
import { AUTH_NONE, AUTH_SYS, NFS_PROGRAM, NFS_VERSION } from './protocol.js';
import { XdrReader, XdrWriter } from './xdr.js';

export interface Endpoint {
  host: string;
  port: number;
  /** SOCKS5 proxy every connection goes through (tailscaled in userspace-networking mode). */
  proxy?: { host: string; port: number };
}

export interface Credentials {
  uid: number;
  gid: number;
}

const LAST_FRAGMENT = 0x80000000;
// A reply larger than this is a broken stream, not data: the session caps replies far below it.
const MAX_RECORD_BYTES = 64 * 1024 * 1024;

function connectFailure(err: unknown, where: string): NfsError {
  const code = (err as { code?: string }).code;
  const message = `${where}: ${(err as Error).message}`;
  if (code === 'ECONNREFUSED') return transportError('CONNECTION_REFUSED', message, err);
  if (code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'EAI_AGAIN') return transportError('UNREACHABLE', message, err);
  return transportError('CONNECTION_LOST', message, err);
}

function openTcp(host: string, port: number, timeoutMs: number, signal: AbortSignal | undefined): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, noDelay: true });
    const fail = (err: Error) => {
      cleanup();
      socket.destroy();
      reject(err);
    };
    const onError = (err: Error) => fail(connectFailure(err, `connecting to ${host}:${port}`));
    const onAbort = () => fail(abortError(signal as AbortSignal));
    const timer = setTimeout(() => fail(transportError('TIMEOUT', `connecting to ${host}:${port} took longer than ${timeoutMs} ms`)), timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
    };
    socket.once('error', onError);
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => {
      cleanup();
      resolve(socket);
    });
  });
}

/** A TCP connection to the server, directly or through the SOCKS5 proxy. */
export async function openSocket(endpoint: Endpoint, timeoutMs: number, signal?: AbortSignal): Promise<Socket> {
  if (signal?.aborted) throw abortError(signal);
  if (!endpoint.proxy) return openTcp(endpoint.host, endpoint.port, timeoutMs, signal);
  const { proxy } = endpoint;
  const toProxy = await openTcp(proxy.host, proxy.port, timeoutMs, signal);
  const onAbort = () => toProxy.destroy();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const { socket } = await SocksClient.createConnection({
      command: 'connect',
      proxy: { host: proxy.host, port: proxy.port, type: 5 },
      destination: { host: endpoint.host, port: endpoint.port },
      existing_socket: toProxy,
      timeout: timeoutMs,
    });
    socket.setNoDelay(true);
    return socket;
  } catch (err) {
    toProxy.destroy();
    if (signal?.aborted) throw abortError(signal);
    const message = `SOCKS5 proxy ${proxy.host}:${proxy.port} could not reach ${endpoint.host}:${endpoint.port}: ${(err as Error).message}`;
    throw transportError(/ConnectionRefused/i.test((err as Error).message) ? 'CONNECTION_REFUSED' : 'PROXY_FAILED', message, err);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

function authSysBody({ uid, gid }: Credentials): Buffer {
  // The machine name is informational; servers log it. RFC 5531 caps it at 255 bytes.
  const machine = Buffer.from(hostname(), 'utf8').subarray(0, 255);
  return new XdrWriter(64).u32(Math.floor(Date.now() / 1000)).opaque(machine).u32(uid).u32(gid).u32(1).u32(gid).bytes();
}

interface PendingCall {
  resolve(reply: XdrReader): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
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
  private readonly mark = Buffer.alloc(4);
  private markFilled = 0;
  private fragment: Buffer | null = null;
  private fragmentFilled = 0;
  private fragmentIsLast = false;
  private fragments: Buffer[] = [];
  private recordBytes = 0;
  private closedWith: NfsError | null = null;
  private readonly closeListeners: ((err: NfsError) => void)[] = [];

  constructor(
    private readonly socket: Socket,
    credentials: Credentials,
    private readonly describe: string,
  ) {
    this.cred = authSysBody(credentials);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.close(connectFailure(err, `connection to ${describe}`)));
    socket.on('close', () => this.close(transportError('CONNECTION_LOST', `connection to ${describe} closed`)));
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
    if (this.closedWith) return Promise.reject(this.closedWith);
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
    return new Promise<XdrReader>((resolve, reject) => {
      const timer = setTimeout(() => {
        // Every call in flight fails with the same TIMEOUT: the server stopped answering them all.
        this.close(transportError('TIMEOUT', `no answer from ${this.describe} within ${timeoutMs} ms; connection torn down`));
      }, timeoutMs);
      this.pending.set(xid, { resolve, reject, timer });
      this.socket.write(message);
    });
  }

  /** Fails every call in flight with `err` and closes the socket. */
  close(err: NfsError = transportError('CONNECTION_LOST', `connection to ${this.describe} closed by the client`)): void {
    if (this.closedWith) return;
    this.closedWith = err;
    for (const call of this.pending.values()) {
      clearTimeout(call.timer);
      call.reject(err);
    }
    this.pending.clear();
    this.socket.destroy();
    for (const listener of this.closeListeners) listener(err);
  }

  /**
   * Record marking (RFC 5531 §11): each fragment is copied once, straight from the socket's
   * bytes into a buffer of its announced length, so a 1 MiB READ reply costs one copy.
   */
  private onData(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length && !this.closedWith) {
      if (!this.fragment) {
        const used = Math.min(4 - this.markFilled, chunk.length - at);
        chunk.copy(this.mark, this.markFilled, at, at + used);
        this.markFilled += used;
        at += used;
        if (this.markFilled < 4) return;
        this.markFilled = 0;
        const mark = this.mark.readUInt32BE(0);
        const length = mark & ~LAST_FRAGMENT;
        this.fragmentIsLast = (mark & LAST_FRAGMENT) !== 0;
        if (this.recordBytes + length > MAX_RECORD_BYTES) {
          this.close(transportError('CONNECTION_LOST', `${this.describe} sent a record of more than ${MAX_RECORD_BYTES} bytes`));
          return;
        }
        this.fragment = Buffer.allocUnsafe(length);
        this.fragmentFilled = 0;
      }
      const used = Math.min(this.fragment.length - this.fragmentFilled, chunk.length - at);
      chunk.copy(this.fragment, this.fragmentFilled, at, at + used);
      this.fragmentFilled += used;
      at += used;
      if (this.fragmentFilled < this.fragment.length) return;
      this.fragments.push(this.fragment);
      this.recordBytes += this.fragment.length;
      this.fragment = null;
      if (this.fragmentIsLast) {
        const record = this.fragments.length === 1 ? (this.fragments[0] as Buffer) : Buffer.concat(this.fragments);
        this.fragments = [];
        this.recordBytes = 0;
        this.deliver(record);
      }
    }
  }

  private deliver(record: Buffer): void {
    const r = new XdrReader(record);
    const xid = r.u32();
    const call = this.pending.get(xid);
    if (!call) return; // the caller timed out or gave up; its answer is of no use now
    this.pending.delete(xid);
    clearTimeout(call.timer);
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
