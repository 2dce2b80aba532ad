import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { GETATTR_ATTRS, READDIR_ATTRS, readAttributes, writeBitmap, type NfsAttributes } from './attributes.js';
import { NfsError, abortError, isTransportFailure, nfsStatusError, transportError, untilAborted } from './nfs-error.js';
import { Attr, NF4DIR, NFS4_OK, NFS4ERR_DELAY, NFS4ERR_GRACE, NFS4ERR_NOENT, Op } from './protocol.js';
import { RpcConnection, openSocket, type Credentials, type Endpoint } from './rpc-connection.js';
import { NfsSession, SessionLostError, type CompoundResults } from './session.js';

export interface NfsConnectOptions {
  host: string;
  /** Default 2049. */
  port?: number;
  /** Path of the export from the server's pseudo-root, e.g. "/export/sessions". */
  exportPath: string;
  /** "socks5://host:port": every connection goes through this proxy. */
  proxy?: string;
  /** AUTH_SYS credentials; default the process's own. */
  uid?: number;
  gid?: number;
  /** Deadline of each RPC, and of making a connection. Default 30 s. */
  timeoutMs?: number;
  /** How long an operation keeps trying through reconnects, grace periods and DELAY. Default 120 s (a grace period is typically 90 s). */
  retryForMs?: number;
  /** RPCs in flight at once on the connection. Default 16. */
  maxInFlight?: number;
  /** Largest READ asked for; the server's MAXREAD and session limits may lower it. Default 1 MiB. */
  readSize?: number;
  /** Aborting it closes the client and fails everything in flight. */
  signal?: AbortSignal;
}

/** A server file handle, with the path it was found under (relative to the export) for messages and re-resolution. */
export interface NfsHandle {
  readonly fh: Buffer;
  readonly path: string;
}

export interface NfsEntry extends NfsAttributes {
  name: string;
  handle: NfsHandle;
}

/** A READDIR entry: `name` is decoded for messages and lookups, `nameBytes` is the name as the server sent it (need not be UTF-8). */
export interface NfsDirEntry extends NfsEntry {
  nameBytes: Buffer;
}

export interface ReadResult {
  /** A buffer of its own, which the socket read the data into. */
  data: Buffer;
  eof: boolean;
}

export interface CallOptions {
  signal?: AbortSignal;
}

const ANONYMOUS_STATEID = Buffer.alloc(16);
// Room in a READ reply for everything but the data: RPC header, SEQUENCE, PUTFH, READ header.
const READ_REPLY_OVERHEAD = 1024;

function parseProxy(url: string): { host: string; port: number } {
  const u = new URL(url);
  if (u.protocol !== 'socks5:' || !u.hostname || !u.port) throw new Error(`NFS proxy must be socks5://host:port, got ${url}`);
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port) };
}

function pathComponents(path: string): string[] {
  const parts = path.split('/').filter((p) => p !== '');
  for (const p of parts) if (p === '.' || p === '..') throw new Error(`NFS path ${path} must not contain "." or ".."`);
  return parts;
}

const childPath = (dir: NfsHandle, name: string) => (dir.path === '' ? name : `${dir.path}/${name}`);

/**
 * An NFSv4.1 client over one TCP connection (optionally through SOCKS5), holding no open or
 * lock state. Operations on a connection that breaks are repeated on a new one when that is
 * safe: reads and lookups always; CREATE and RENAME only when the server cannot have done them.
 */
export class NfsClient {
  private current: Promise<NfsSession> | null = null;
  private readonly closer = new AbortController();
  private readonly signal: AbortSignal;
  private readonly endpoint: Endpoint;
  private readonly credentials: Credentials;
  private readonly exportParts: string[];
  private readonly timeoutMs: number;
  private readonly retryForMs: number;
  private readonly ownerId: string;
  private readonly slots: number;
  private readonly requestedReadSize: number;
  /** Sessions made so far (the first, then one per reconnect or lost session): for metrics and tests. */
  sessionsEstablished = 0;
  /** READ size in use: the smallest of what was asked, the server's MAXREAD and the session's reply limit. */
  readSize: number;

  constructor(opts: NfsConnectOptions) {
    this.endpoint = { host: opts.host, port: opts.port ?? 2049, ...(opts.proxy ? { proxy: parseProxy(opts.proxy) } : {}) };
    this.credentials = { uid: opts.uid ?? process.getuid?.() ?? 0, gid: opts.gid ?? process.getgid?.() ?? 0 };
    this.exportParts = pathComponents(opts.exportPath);
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.retryForMs = opts.retryForMs ?? 120_000;
    this.slots = opts.maxInFlight ?? 16;
    this.requestedReadSize = opts.readSize ?? 1024 * 1024;
    this.readSize = this.requestedReadSize;
    this.ownerId = `lab-data-uploader/${hostname()}/${process.pid}/${randomBytes(6).toString('hex')}`;
    this.signal = opts.signal ? AbortSignal.any([opts.signal, this.closer.signal]) : this.closer.signal;
    // Every call in flight or waiting for a slot listens on it; hundreds at once are normal.
    setMaxListeners(0, this.signal);
    this.signal.addEventListener('abort', () => void this.close(), { once: true });
  }

  /** The export's root folder, found from the server's pseudo-root. */
  async root(options?: CallOptions): Promise<NfsEntry> {
    return this.resolve('', options);
  }

  /**
   * PUTROOTFH and one LOOKUP per component (export path, then `path`), as few COMPOUNDs as the
   * session's operation limit allows (one for any usual depth).
   */
  async resolve(path: string, options?: CallOptions): Promise<NfsEntry> {
    const parts = pathComponents(path);
    const all = [...this.exportParts, ...parts];
    const what = `resolving /${all.join('/')}`;
    return this.run(what, true, options, async (session, signal) => {
      let from: Buffer | null = null; // null: the pseudo-root
      let done = 0;
      for (;;) {
        // SEQUENCE, PUT(ROOT)FH, GETFH and GETATTR around the LOOKUPs.
        const batch = all.slice(done, done + session.maxOperations - 4);
        const last = done + batch.length === all.length;
        const start = from;
        const results = await session.compound(
          what,
          (w) => {
            if (start) w.u32(Op.PUTFH).opaque(start);
            else w.u32(Op.PUTROOTFH);
            for (const name of batch) w.u32(Op.LOOKUP).string(name);
            w.u32(Op.GETFH);
            if (!last) return batch.length + 2;
            w.u32(Op.GETATTR);
            writeBitmap(w, [...GETATTR_ATTRS, Attr.MAXREAD]);
            return batch.length + 3;
          },
          this.timeoutMs,
          signal,
        );
        results.next(start ? Op.PUTFH : Op.PUTROOTFH);
        for (let i = 0; i < batch.length; i++) results.next(Op.LOOKUP);
        from = Buffer.from(results.next(Op.GETFH).opaque(128));
        done += batch.length;
        if (!last) continue;
        const { maxRead, filehandle: _, ...attrs } = readAttributes(results.next(Op.GETATTR), what);
        this.readSize = Math.min(this.requestedReadSize, maxRead ?? Infinity, session.maxResponseBytes - READ_REPLY_OVERHEAD);
        return { name: parts.at(-1) ?? '', handle: { fh: from, path: parts.join('/') }, ...attrs };
      }
    });
  }

  /** One name in a folder, without following it if it is a link. */
  async lookup(dir: NfsHandle, name: string, options?: CallOptions): Promise<NfsEntry> {
    const what = `lookup ${childPath(dir, name)}`;
    if (name === '' || name === '.' || name === '..' || name.includes('/')) throw new Error(`${what}: not a single name`);
    return this.run(what, true, options, async (session, signal) => {
      const results = await this.onHandle(
        session,
        what,
        dir.fh,
        (w) => {
          w.u32(Op.LOOKUP).string(name);
          w.u32(Op.GETFH);
          w.u32(Op.GETATTR);
          writeBitmap(w, GETATTR_ATTRS);
          return 3;
        },
        signal,
      );
      results.next(Op.LOOKUP);
      const fh = Buffer.from(results.next(Op.GETFH).opaque(128));
      const { filehandle: _, maxRead: __, ...attrs } = readAttributes(results.next(Op.GETATTR), what);
      return { name, handle: { fh, path: childPath(dir, name) }, ...attrs };
    });
  }

  async getattr(handle: NfsHandle, options?: CallOptions): Promise<NfsAttributes> {
    const what = `getattr ${handle.path || '/'}`;
    return this.run(what, true, options, async (session, signal) => {
      const results = await this.onHandle(
        session,
        what,
        handle.fh,
        (w) => {
          w.u32(Op.GETATTR);
          writeBitmap(w, GETATTR_ATTRS);
          return 1;
        },
        signal,
      );
      const { filehandle: _, maxRead: __, ...attrs } = readAttributes(results.next(Op.GETATTR), what);
      return attrs;
    });
  }

  /** Every entry of a folder with its attributes and handle (READDIR until eof); links are never followed. */
  async readdir(dir: NfsHandle, options?: CallOptions): Promise<NfsDirEntry[]> {
    const what = `readdir ${dir.path || '/'}`;
    return this.run(what, true, options, async (session, signal) => {
      const entries: NfsDirEntry[] = [];
      let cookie = 0n;
      let verifier = Buffer.alloc(8);
      const maxCount = Math.min(session.maxResponseBytes - READ_REPLY_OVERHEAD, 256 * 1024);
      for (;;) {
        const results = await this.onHandle(
          session,
          what,
          dir.fh,
          (w) => {
            w.u32(Op.READDIR).u64(cookie).fixed(verifier).u32(maxCount).u32(maxCount);
            writeBitmap(w, READDIR_ATTRS);
            return 1;
          },
          signal,
        );
        const r = results.next(Op.READDIR);
        verifier = Buffer.from(r.fixed(8));
        while (r.bool()) {
          cookie = r.u64();
          // A copy: a view would keep the whole reply alive as long as the listing.
          const nameBytes = Buffer.from(r.opaque());
          const name = nameBytes.toString('utf8');
          const { filehandle, maxRead: _, ...attrs } = readAttributes(r, `${what}: ${name}`);
          if (!filehandle) throw new Error(`${what}: server sent no handle for ${name}`);
          entries.push({ name, nameBytes, handle: { fh: filehandle, path: childPath(dir, name) }, ...attrs });
        }
        if (r.bool()) return entries;
      }
    });
  }

  /** One READ with the anonymous stateid (no OPEN). `data` may be shorter than `length` only at end of file or if the server chose so. */
  async read(handle: NfsHandle, offset: number, length: number, options?: CallOptions): Promise<ReadResult> {
    const buffer = Buffer.allocUnsafe(Math.min(length, this.readSize));
    const { bytes, eof } = await this.readInto(handle, offset, buffer.length, () => buffer, options);
    return { data: buffer.subarray(0, bytes), eof };
  }

  /**
   * One READ of up to `length` bytes (and at most the READ size), its data read from the
   * socket straight into the memory `destination` names when the data begins to arrive (asked
   * again if the READ is repeated; it must hold `length` bytes). Until this settles the
   * connection may write there, and it settles only when nothing more will be (an abort too).
   */
  async readInto(
    handle: NfsHandle,
    offset: number,
    length: number,
    destination: () => Uint8Array,
    options?: CallOptions,
  ): Promise<{ bytes: number; eof: boolean }> {
    const what = `read ${handle.path}`;
    return this.run(what, true, options, async (session, signal) => {
      const count = Math.min(length, session.maxResponseBytes - READ_REPLY_OVERHEAD);
      let placed = false;
      const locate = (results: CompoundResults) => {
        if (results.nextStatus(Op.PUTFH).status !== NFS4_OK) return null;
        const read = results.nextStatus(Op.READ);
        if (read.status !== NFS4_OK) return null;
        read.r.u32(); // eof
        const bytes = read.r.u32();
        placed = true;
        return bytes;
      };
      const results = await this.onHandle(
        session,
        what,
        handle.fh,
        (w) => {
          w.u32(Op.READ).fixed(ANONYMOUS_STATEID).u64(BigInt(offset)).u32(count);
          return 1;
        },
        signal,
        { locate, destination, length: count },
      );
      const r = results.next(Op.READ);
      const eof = r.bool();
      const bytes = r.u32();
      if (bytes > count) throw transportError('CONNECTION_LOST', `${what}: server sent ${bytes} bytes where at most ${count} were asked for`);
      // A reply whose first bytes were too odd to place (a long verifier) came whole.
      if (!placed) destination().set(r.fixed(bytes));
      return { bytes, eof };
    });
  }

  /** CREATE of a folder; fails with EEXIST if the name is taken. */
  async mkdir(dir: NfsHandle, name: string, mode = 0o755, options?: CallOptions): Promise<NfsEntry> {
    const what = `mkdir ${childPath(dir, name)}`;
    return this.run(what, false, options, async (session, signal) => {
      const results = await this.onHandle(
        session,
        what,
        dir.fh,
        (w) => {
          w.u32(Op.CREATE).u32(NF4DIR).string(name);
          writeBitmap(w, [Attr.MODE]);
          w.u32(4).u32(mode);
          w.u32(Op.GETFH);
          w.u32(Op.GETATTR);
          writeBitmap(w, GETATTR_ATTRS);
          return 3;
        },
        signal,
      );
      const created = results.next(Op.CREATE);
      created.skip(4 + 8 + 8); // change_info4 of the parent
      created.skip(4 * created.u32()); // attributes set
      const fh = Buffer.from(results.next(Op.GETFH).opaque(128));
      const { filehandle: _, maxRead: __, ...attrs } = readAttributes(results.next(Op.GETATTR), what);
      return { name, handle: { fh, path: childPath(dir, name) }, ...attrs };
    });
  }

  /**
   * Server-side RENAME that refuses to replace: NFS RENAME would silently replace a target of
   * the same kind (a file, or an empty folder), so the target is looked up first and EEXIST
   * thrown if it is there. Between that LOOKUP and the RENAME another client could create the
   * target, which the RENAME would then replace; NFSv4 has no no-replace RENAME to close that.
   */
  async rename(fromDir: NfsHandle, fromName: string, toDir: NfsHandle, toName: string, options?: CallOptions): Promise<void> {
    const what = `rename ${childPath(fromDir, fromName)} to ${childPath(toDir, toName)}`;
    await this.run(`${what} (checking the target)`, true, options, async (session, signal) => {
      const results = await this.onHandle(
        session,
        what,
        toDir.fh,
        (w) => {
          w.u32(Op.LOOKUP).string(toName);
          return 1;
        },
        signal,
      );
      const { status } = results.nextStatus(Op.LOOKUP);
      if (status === NFS4_OK) throw new NfsError('NFS4ERR_EXIST', `${what}: the target exists`, 17);
      if (status !== NFS4ERR_NOENT) throw nfsStatusError(status, what);
    });
    await this.serverRename(what, fromDir, fromName, toDir, toName, options);
  }

  /**
   * Server-side RENAME of a folder with no LOOKUP before it: the server itself replaces only an
   * absent name or an empty folder, and refuses a folder with content (NOTEMPTY or EXIST) or a
   * file (EXIST), so a folder's RENAME never replaces content. The caller checks that `fromName`
   * is a folder (a file renamed onto a file would replace it).
   */
  async renameFolderOnto(fromDir: NfsHandle, fromName: string, toDir: NfsHandle, toName: string, options?: CallOptions): Promise<void> {
    const what = `rename ${childPath(fromDir, fromName)} to ${childPath(toDir, toName)}`;
    await this.serverRename(what, fromDir, fromName, toDir, toName, options);
  }

  /** The RENAME compound itself: SAVEFH holds the source folder, the current handle the target's. */
  private async serverRename(what: string, fromDir: NfsHandle, fromName: string, toDir: NfsHandle, toName: string, options?: CallOptions): Promise<void> {
    await this.run(what, false, options, async (session, signal) => {
      const results = await this.onHandle(
        session,
        what,
        fromDir.fh,
        (w) => {
          w.u32(Op.SAVEFH);
          w.u32(Op.PUTFH).opaque(toDir.fh);
          w.u32(Op.RENAME).string(fromName).string(toName);
          return 3;
        },
        signal,
      );
      results.next(Op.SAVEFH);
      results.next(Op.PUTFH);
      results.next(Op.RENAME);
    });
  }

  /** REMOVE of one name in a folder (a folder only when it is empty: NOTEMPTY otherwise). */
  async remove(dir: NfsHandle, name: string, options?: CallOptions): Promise<void> {
    const what = `remove ${childPath(dir, name)}`;
    await this.run(what, false, options, async (session, signal) => {
      const results = await this.onHandle(
        session,
        what,
        dir.fh,
        (w) => {
          w.u32(Op.REMOVE).string(name);
          return 1;
        },
        signal,
      );
      results.next(Op.REMOVE);
    });
  }

  /** ACCESS: which of the `wanted` ACCESS4_* bits the server grants these credentials on the object. */
  async access(handle: NfsHandle, wanted: number, options?: CallOptions): Promise<number> {
    const what = `access ${handle.path || '/'}`;
    return this.run(what, true, options, async (session, signal) => {
      const results = await this.onHandle(
        session,
        what,
        handle.fh,
        (w) => {
          w.u32(Op.ACCESS).u32(wanted);
          return 1;
        },
        signal,
      );
      const r = results.next(Op.ACCESS);
      const supported = r.u32();
      return r.u32() & supported & wanted;
    });
  }

  /** Ends the session and the connection; everything still in flight fails. */
  async close(): Promise<void> {
    const current = this.current;
    this.current = null;
    if (!this.closer.signal.aborted) this.closer.abort(new NfsError('CONNECTION_LOST', 'NFS client closed'));
    const session = await current?.catch(() => null);
    await session?.destroy(Math.min(this.timeoutMs, 2000));
  }

  /**
   * Runs `attempt` on the current session. Repeats it after a GRACE or DELAY answer, after the
   * session was lost (nothing was done), and after a broken connection when `idempotent` (or
   * when the request never left); gives up after retryForMs with the last error.
   */
  private async run<T>(
    what: string,
    idempotent: boolean,
    options: CallOptions | undefined,
    attempt: (session: NfsSession, signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const signal = options?.signal ? AbortSignal.any([options.signal, this.signal]) : this.signal;
    const giveUpAt = Date.now() + this.retryForMs;
    let backoffMs = 100;
    for (;;) {
      if (signal.aborted) throw abortError(signal);
      let session: NfsSession | null = null;
      try {
        session = await untilAborted(this.session(), signal);
        return await attempt(session, signal);
      } catch (caught) {
        if (signal.aborted) throw abortError(signal);
        let err = caught;
        const sent = session !== null;
        if (err instanceof SessionLostError) {
          session?.conn.close(err.cause);
          err = err.cause;
        }
        const waitable = err instanceof NfsError && (err.status === NFS4ERR_GRACE || err.status === NFS4ERR_DELAY);
        const reconnectable = caught instanceof SessionLostError || (isTransportFailure(err) && (idempotent || !sent));
        if (!(waitable || reconnectable) || Date.now() + backoffMs >= giveUpAt) throw err;
        await delay(backoffMs, undefined, { signal });
        backoffMs = Math.min(backoffMs * 2, 5000);
      }
    }
  }

  /** The live session, or a new connection and session when there is none (one at a time). */
  /** One COMPOUND on the object `fh`: PUTFH, then the operations `writeOps` writes (it returns their count); its results past PUTFH's. */
  private async onHandle(
    session: NfsSession,
    what: string,
    fh: Buffer,
    writeOps: (w: Parameters<Parameters<NfsSession['compound']>[1]>[0]) => number,
    signal: AbortSignal,
    target?: Parameters<NfsSession['compound']>[4],
  ): Promise<CompoundResults> {
    const results = await session.compound(
      what,
      (w) => {
        w.u32(Op.PUTFH).opaque(fh);
        return 1 + writeOps(w);
      },
      this.timeoutMs,
      signal,
      target,
    );
    results.next(Op.PUTFH);
    return results;
  }

  private async session(): Promise<NfsSession> {
    for (;;) {
      const existing = this.current;
      if (existing) {
        const session = await existing.catch(() => null);
        if (session && !session.conn.closed) return session;
        if (this.current !== existing) continue; // another caller is already making a new one
      }
      if (this.signal.aborted) throw abortError(this.signal);
      const fresh = this.establish();
      this.current = fresh;
      try {
        return await fresh;
      } catch (err) {
        if (this.current === fresh) this.current = null;
        throw err;
      }
    }
  }

  private async establish(): Promise<NfsSession> {
    const describe = `${this.endpoint.host}:${this.endpoint.port}`;
    const link = await openSocket(this.endpoint, this.timeoutMs, this.signal);
    const conn = new RpcConnection(
      link,
      this.credentials,
      this.endpoint.proxy ? `${describe} (via SOCKS5 ${this.endpoint.proxy.host}:${this.endpoint.proxy.port})` : describe,
    );
    try {
      const session = await NfsSession.create(conn, {
        ownerId: this.ownerId,
        slots: this.slots,
        maxResponseBytes: this.requestedReadSize + READ_REPLY_OVERHEAD,
        timeoutMs: this.timeoutMs,
      });
      this.sessionsEstablished++;
      return session;
    } catch (err) {
      conn.close();
      throw err;
    }
  }
}

/** Connects, makes a session and resolves the export, so a wrong host, path or credential fails here. */
export async function connectNfs(opts: NfsConnectOptions): Promise<NfsClient> {
  const client = new NfsClient(opts);
  try {
    const root = await client.root();
    if (root.type !== 'dir') throw new NfsError('NFS4ERR_NOTDIR', `${opts.exportPath} on ${opts.host} is not a folder`, 20);
    return client;
  } catch (err) {
    await client.close();
    throw err;
  }
}
