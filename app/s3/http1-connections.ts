import net from 'node:net';
import tls from 'node:tls';
import { parseResponse, type Http1Response } from './http1-response.js';

export interface Http1Target {
  protocol: 'http:' | 'https:';
  hostname: string;
  port: number | undefined;
}

export interface Http1Timeouts {
  connectMs: number;
  /** Longest silence on the connection while a request is out. */
  requestMs: number;
}

/**
 * Keep-alive HTTP/1.1 connections to one endpoint, for small PUTs: a request is one write of
 * head and body, its answer read off the socket by a small parser. node:http's per-request
 * machinery (agent bookkeeping, ClientRequest and IncomingMessage streams, llhttp callbacks)
 * cost the main thread about 100 µs per request, as much as everything else a small file
 * needs. At most `maxSockets` connections; more requests wait for one.
 *
 * A connection the server closed while it sat idle fails the request that reuses it before
 * any answer arrives: that request is sent once more on a new connection (a PUT of the same
 * bytes is safe to repeat), as node:http users must do by hand.
 */
export class Http1Connections {
  private readonly idle: Connection[] = [];
  private readonly waiting: { grant: (c: Connection | null) => void }[] = [];
  private open = 0;
  private closed = false;
  private readonly bySignal = new Map<AbortSignal, Set<Connection> & { onAbort: () => void }>();

  constructor(
    private readonly target: Http1Target,
    private readonly maxSockets: number,
    private readonly timeouts: Http1Timeouts,
  ) {}

  async request(head: string, body: Buffer, signal: AbortSignal): Promise<Http1Response> {
    signal.throwIfAborted();
    let conn = await this.take(signal);
    for (;;) {
      const reused = conn.requests > 0;
      this.track(conn, signal);
      let res: Http1Response;
      try {
        res = await conn.exchange(head, body, this.timeouts.requestMs);
      } catch (err) {
        this.untrack(conn, signal);
        this.release(conn, false);
        if (signal.aborted) throw abortError(signal);
        if (!(reused && conn.receivedNothing && isConnectionDrop(err))) throw err;
        conn = await this.connect(signal);
        continue;
      }
      this.untrack(conn, signal);
      this.release(conn, res.keepAlive);
      return res;
    }
  }

  /** Closes the idle connections now and each busy one when its request is over. */
  close(): void {
    this.closed = true;
    for (const c of this.idle.splice(0)) c.socket.destroy();
  }

  private take(signal: AbortSignal): Promise<Connection> {
    for (let c = this.idle.pop(); c; c = this.idle.pop()) {
      if (c.socket.writable) {
        c.socket.ref();
        return Promise.resolve(c);
      }
    }
    if (this.open < this.maxSockets) return this.connect(signal);
    return new Promise((resolve, reject) => {
      const waiter = {
        grant: (c: Connection | null) => {
          signal.removeEventListener('abort', onAbort);
          if (c) resolve(c);
          else this.connect(signal).then(resolve, reject);
        },
      };
      const onAbort = () => {
        this.waiting.splice(this.waiting.indexOf(waiter), 1);
        reject(abortError(signal));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  /** Hands the connection to the next waiter, or keeps it idle; a connection not to be reused is closed and its place given. */
  private release(conn: Connection, reusable: boolean): void {
    if (!reusable || this.closed) {
      conn.socket.destroy();
      return;
    }
    const next = this.waiting.shift();
    if (next) next.grant(conn);
    else {
      // An idle connection does not keep the process alive (as node:http's agent).
      conn.socket.unref();
      this.idle.push(conn);
    }
  }

  private async connect(signal: AbortSignal): Promise<Connection> {
    this.open++;
    try {
      const socket = await openSocket(this.target, this.timeouts.connectMs, signal);
      const conn = new Connection(socket);
      socket.once('close', () => {
        this.open--;
        const i = this.idle.indexOf(conn);
        if (i >= 0) this.idle.splice(i, 1);
        // A place is free: the next waiter connects.
        this.waiting.shift()?.grant(null);
      });
      return conn;
    } catch (err) {
      this.open--;
      // The place is free again: a waiter tries its own connection (and meets its own error).
      this.waiting.shift()?.grant(null);
      throw err;
    }
  }

  /** One abort listener per signal, not per request (a session's uploads share one signal). */
  private track(conn: Connection, signal: AbortSignal): void {
    let set = this.bySignal.get(signal);
    if (!set) {
      const created = Object.assign(new Set<Connection>(), {
        onAbort: () => {
          this.bySignal.delete(signal);
          for (const c of created) c.socket.destroy(abortError(signal));
        },
      });
      signal.addEventListener('abort', created.onAbort, { once: true });
      this.bySignal.set(signal, (set = created));
    }
    set.add(conn);
  }

  private untrack(conn: Connection, signal: AbortSignal): void {
    const set = this.bySignal.get(signal);
    if (!set) return;
    set.delete(conn);
    if (set.size === 0) {
      this.bySignal.delete(signal);
      signal.removeEventListener('abort', set.onAbort);
    }
  }
}

/** One socket and the request on it, if any. */
class Connection {
  requests = 0;
  receivedNothing = true;
  private received: Buffer | null = null;
  private pending: { resolve: (r: Http1Response) => void; reject: (e: Error) => void; written: boolean } | null = null;

  constructor(readonly socket: net.Socket) {
    socket.on('data', (data: Buffer) => this.onData(data));
    socket.on('end', () => this.finish(null));
    socket.on('error', (err) => this.finish(err));
    socket.on('close', () => this.finish(null));
    socket.on('timeout', () =>
      socket.destroy(Object.assign(new Error(`S3 request got no answer for ${socket.timeout ?? 0} ms`), { name: 'TimeoutError', code: 'ETIMEDOUT' })),
    );
  }

  exchange(head: string, body: Buffer, timeoutMs: number): Promise<Http1Response> {
    this.requests++;
    this.receivedNothing = true;
    this.received = null;
    return new Promise((resolve, reject) => {
      if (!this.socket.writable) {
        reject(Object.assign(new Error('S3 closed the connection'), { code: 'ECONNRESET' }));
        return;
      }
      const pending = { resolve, reject, written: false };
      this.pending = pending;
      this.socket.setTimeout(timeoutMs);
      this.socket.cork();
      this.socket.write(head, 'latin1');
      this.socket.write(body, (err) => {
        if (err) this.finish(err);
        else pending.written = true;
      });
      this.socket.uncork();
    });
  }

  private onData(data: Buffer): void {
    if (!this.pending) {
      // Bytes nobody asked for: the connection cannot be trusted with another request.
      this.socket.destroy();
      return;
    }
    this.receivedNothing = false;
    this.received = this.received ? Buffer.concat([this.received, data]) : data;
    this.settle(false);
  }

  private finish(err: Error | null | undefined): void {
    if (!this.pending) return;
    if (err) {
      const p = this.pending;
      this.pending = null;
      p.reject(err);
      return;
    }
    // The server closed: an answer framed by the close is complete now; otherwise it is cut.
    if (!this.settle(true) && this.pending) {
      const p = this.pending;
      this.pending = null;
      p.reject(Object.assign(new Error('S3 closed the connection before answering in full'), { code: 'ECONNRESET' }));
    }
  }

  private settle(closed: boolean): boolean {
    const p = this.pending;
    if (!p) return false;
    let parsed;
    try {
      parsed = parseResponse(this.received ?? Buffer.alloc(0), closed);
    } catch (err) {
      this.pending = null;
      this.socket.destroy();
      p.reject(err as Error);
      return true;
    }
    if (!parsed) return false;
    this.pending = null;
    this.socket.setTimeout(0);
    // Reused only when it is clean: the whole request went out and nothing follows the answer.
    const res = { ...parsed.response, keepAlive: parsed.response.keepAlive && !closed && p.written && parsed.used === this.received?.length };
    this.received = null;
    p.resolve(res);
    return true;
  }
}

function openSocket(target: Http1Target, connectMs: number, signal: AbortSignal): Promise<net.Socket> {
  const secure = target.protocol === 'https:';
  const host = target.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = target.port ?? (secure ? 443 : 80);
  const socket = secure ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, ALPNProtocols: ['http/1.1'] }) : net.connect({ host, port });
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => {
      cleanup();
      socket.destroy();
      reject(err);
    };
    const timer = setTimeout(
      () => fail(Object.assign(new Error(`connecting to S3 timed out after ${connectMs} ms`), { name: 'TimeoutError', code: 'ETIMEDOUT' })),
      connectMs,
    );
    const onAbort = () => fail(abortError(signal));
    const onConnect = () => {
      cleanup();
      socket.setNoDelay(true);
      socket.setKeepAlive(true, 1000);
      resolve(socket);
    };
    const cleanup = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.off('error', fail);
      socket.off(secure ? 'secureConnect' : 'connect', onConnect);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('error', fail);
    socket.once(secure ? 'secureConnect' : 'connect', onConnect);
  });
}

function isConnectionDrop(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'ECONNRESET' || code === 'EPIPE';
}

function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error('The operation was aborted'), { name: 'AbortError', cause: signal.reason as unknown });
}
