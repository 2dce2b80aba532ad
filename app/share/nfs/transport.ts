import { connect, isIPv4, isIPv6, type Socket } from 'node:net';
import { abortError, transportError, type NfsError } from './nfs-error.js';

export interface Endpoint {
  host: string;
  port: number;
  /** SOCKS5 proxy every connection goes through (tailscaled in userspace-networking mode). */
  proxy?: { host: string; port: number };
}

/**
 * Where a socket's incoming bytes go. The socket reads straight into the memory `nextBuffer`
 * names (net's `onread`), so a reader that knows where the next bytes belong (a READ's
 * destination) gets them there with no copy and no allocation per read.
 */
export interface SocketReader {
  /** The memory the next read from the socket lands in; asked once after every read. */
  nextBuffer(): Uint8Array;
  /** `n` bytes arrived at the start of `buffer`, which need not be the one this reader named. */
  received(buffer: Uint8Array, n: number): void;
}

const IDLE_READ_BYTES = 4096;

/** A connected socket and the reader its bytes currently go to. */
export class ReadingSocket implements SocketReader {
  private reader: SocketReader | null = null;
  private readonly idle = Buffer.allocUnsafe(IDLE_READ_BYTES);
  // Bytes that arrived while no reader was set: handed to the next one.
  private early: Buffer[] = [];
  socket!: Socket;

  nextBuffer(): Uint8Array {
    return this.reader ? this.reader.nextBuffer() : this.idle;
  }

  received(buffer: Uint8Array, n: number): void {
    if (this.reader) this.reader.received(buffer, n);
    else this.early.push(Buffer.from(buffer.subarray(0, n)));
  }

  setReader(reader: SocketReader | null): void {
    this.reader = reader;
    const early = this.early;
    this.early = [];
    for (const bytes of early) this.received(bytes, bytes.length);
  }

  /** The next `n` bytes, read into a buffer of exactly that size (so nothing after them is taken). */
  readExactly(n: number): Promise<Buffer> {
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    let given: Uint8Array | null = null;
    return new Promise((resolve, reject) => {
      // 'close' follows every 'error'; the error itself is reported by the close.
      const onError = () => undefined;
      const onClose = () => {
        this.socket.off('error', onError);
        this.setReader(null);
        reject(new Error(`connection closed after ${filled} of ${n} bytes`));
      };
      this.socket.on('error', onError);
      this.socket.once('close', onClose);
      this.setReader({
        nextBuffer: () => (given = out.subarray(filled)),
        received: (buffer, got) => {
          const used = Math.min(got, n - filled);
          if (buffer !== given) out.set(buffer.subarray(0, used), filled);
          given = null;
          filled += used;
          if (filled < n) return;
          this.socket.off('error', onError);
          this.socket.off('close', onClose);
          this.setReader(null);
          if (used < got) this.received(Buffer.from(buffer.subarray(used, got)), got - used);
          resolve(out);
        },
      });
    });
  }
}

export function connectFailure(err: unknown, where: string): NfsError {
  const code = (err as { code?: string }).code;
  const message = `${where}: ${(err as Error).message}`;
  if (code === 'ECONNREFUSED') return transportError('CONNECTION_REFUSED', message, err);
  if (code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'EAI_AGAIN') return transportError('UNREACHABLE', message, err);
  return transportError('CONNECTION_LOST', message, err);
}

function openTcp(host: string, port: number, timeoutMs: number, signal: AbortSignal | undefined): Promise<ReadingSocket> {
  return new Promise((resolve, reject) => {
    const link = new ReadingSocket();
    const socket = connect({
      host,
      port,
      noDelay: true,
      onread: {
        buffer: () => link.nextBuffer(),
        callback: (n, buffer) => {
          link.received(buffer, n);
          return true;
        },
      },
    });
    link.socket = socket;
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
      resolve(link);
    });
  });
}

function ipv6Bytes(address: string): Buffer {
  const [before, after] = address.includes('::') ? (address.split('::') as [string, string]) : [address, null];
  const words = (part: string) =>
    part === ''
      ? []
      : part.split(':').flatMap((group) => {
          if (!group.includes('.')) return [parseInt(group, 16)];
          const [a, b, c, d] = group.split('.').map(Number) as [number, number, number, number];
          return [(a << 8) | b, (c << 8) | d];
        });
  const head = words(before);
  const tail = after === null ? [] : words(after);
  const all = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  const out = Buffer.alloc(16);
  all.forEach((word, i) => out.writeUInt16BE(word, i * 2));
  return out;
}

/** SOCKS5's DST.ADDR: an IPv4 or IPv6 address as bytes, anything else as a name the proxy resolves. */
function socksAddress(host: string): Buffer {
  if (isIPv4(host)) return Buffer.from([1, ...host.split('.').map(Number)]);
  if (isIPv6(host)) return Buffer.concat([Buffer.from([4]), ipv6Bytes(host)]);
  const name = Buffer.from(host, 'utf8');
  if (name.length > 255) throw new Error(`host name ${host} is longer than SOCKS5 allows`);
  return Buffer.concat([Buffer.from([3, name.length]), name]);
}

const SOCKS_REPLIES = [
  'succeeded',
  'general failure',
  'not allowed by ruleset',
  'network unreachable',
  'host unreachable',
  'connection refused',
  'TTL expired',
  'command not supported',
  'address type not supported',
];
const SOCKS_CONNECTION_REFUSED = 5;

class SocksRefusal extends Error {
  constructor(readonly reply: number) {
    super(`proxy answered: ${SOCKS_REPLIES[reply] ?? `reply ${reply}`}`);
  }
}

/** RFC 1928 CONNECT without authentication (what tailscaled's proxy offers on localhost). */
async function socks5Connect(link: ReadingSocket, host: string, port: number): Promise<void> {
  link.socket.write(Buffer.from([5, 1, 0]));
  const choice = await link.readExactly(2);
  if (choice[0] !== 5) throw new Error('not a SOCKS5 proxy');
  if (choice[1] !== 0) throw new Error('the proxy wants authentication, which the agent does not offer');
  const portBytes = Buffer.alloc(2);
  portBytes.writeUInt16BE(port);
  link.socket.write(Buffer.concat([Buffer.from([5, 1, 0]), socksAddress(host), portBytes]));
  // VER REP RSV ATYP, then the bound address (its first byte is a name's length) and port.
  const reply = await link.readExactly(5);
  if (reply[0] !== 5) throw new Error('not a SOCKS5 proxy');
  if (reply[1] !== 0) throw new SocksRefusal(reply[1] as number);
  const rest = reply[3] === 1 ? 3 + 2 : reply[3] === 4 ? 15 + 2 : reply[3] === 3 ? (reply[4] as number) + 2 : -1;
  if (rest < 0) throw new Error(`proxy answered with address type ${reply[3]}`);
  await link.readExactly(rest);
}

function withDeadline<T>(work: Promise<T>, link: ReadingSocket, timeoutMs: number, signal: AbortSignal | undefined, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      link.socket.destroy();
      reject(new Error(`${what} took longer than ${timeoutMs} ms`));
    }, timeoutMs);
    const onAbort = () => link.socket.destroy();
    signal?.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    });
  });
}

/** A TCP connection to the server, directly or through the SOCKS5 proxy (our own handshake: a few bytes each way). */
export async function openSocket(endpoint: Endpoint, timeoutMs: number, signal?: AbortSignal): Promise<ReadingSocket> {
  if (signal?.aborted) throw abortError(signal);
  if (!endpoint.proxy) return openTcp(endpoint.host, endpoint.port, timeoutMs, signal);
  const { proxy } = endpoint;
  const link = await openTcp(proxy.host, proxy.port, timeoutMs, signal);
  try {
    await withDeadline(socks5Connect(link, endpoint.host, endpoint.port), link, timeoutMs, signal, 'the SOCKS5 handshake');
    return link;
  } catch (err) {
    link.socket.destroy();
    if (signal?.aborted) throw abortError(signal);
    const message = `SOCKS5 proxy ${proxy.host}:${proxy.port} could not reach ${endpoint.host}:${endpoint.port}: ${(err as Error).message}`;
    throw transportError(err instanceof SocksRefusal && err.reply === SOCKS_CONNECTION_REFUSED ? 'CONNECTION_REFUSED' : 'PROXY_FAILED', message, err);
  }
}
