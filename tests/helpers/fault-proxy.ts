import { Socket, createServer, type Server } from 'node:net';

export type Fault = 'none' | 'refuse' | 'reset' | 'http503' | 'http403';

/**
 * A TCP proxy on loopback between the agent and a real server. Faults are real: connections
 * are refused, reset mid-stream, answered with HTTP 503, or delayed; `dropAll` kills every
 * open connection (what a server restart looks like to the client).
 */
export class FaultProxy {
  fault: Fault = 'none';
  delayMs = 0;
  /** Requests whose first line matches are forwarded, but their response is cut off (the server did the work; the client never hears). */
  dropResponseTo: RegExp | null = null;
  /** Requests (first line of each HTTP request seen), in order: for checking key order. */
  readonly requests: string[] = [];
  /** The same requests' header lines, lower-cased names (as far as the first chunk holds them). */
  readonly headers: Record<string, string>[] = [];
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
    private readonly recordHttp = false,
  ) {}

  async start(port = 0): Promise<this> {
    this.server = createServer((client) => this.handle(client));
    await new Promise<void>((resolve) => this.server?.listen(port, '127.0.0.1', () => resolve()));
    const address = this.server.address();
    this.port = typeof address === 'object' && address ? address.port : port;
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  dropAll(): void {
    for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private handle(client: Socket): void {
    this.sockets.add(client);
    client.on('close', () => this.sockets.delete(client));
    client.on('error', () => undefined);
    if (this.fault === 'refuse') {
      client.destroy();
      return;
    }
    if (this.fault === 'reset') {
      client.resetAndDestroy();
      return;
    }
    if (this.fault === 'http503') {
      this.answer(client, '503 Slow Down', 'SlowDown', 'Please reduce your request rate.');
      return;
    }
    if (this.fault === 'http403') {
      this.answer(client, '403 Forbidden', 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.');
      return;
    }
    const upstream = new Socket();
    this.sockets.add(upstream);
    upstream.on('close', () => this.sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    let dropResponse = false;
    upstream.connect(this.targetPort, this.targetHost, () => {
      client.on('data', (chunk: Buffer) => {
        if (this.recordHttp) this.record(chunk);
        if (this.dropResponseTo?.test(chunk.subarray(0, 512).toString('latin1').split('\r\n')[0] ?? '')) dropResponse = true;
        const forward = () => upstream.write(chunk);
        if (this.delayMs > 0) {
          client.pause();
          setTimeout(() => {
            forward();
            client.resume();
          }, this.delayMs);
        } else forward();
      });
      upstream.on('data', (chunk: Buffer) => {
        if (dropResponse) client.destroy();
        else client.write(chunk);
      });
      upstream.on('end', () => client.end());
      client.on('end', () => upstream.end());
    });
  }

  /** Answers the first request as S3 does with an error: XML body, except for HEAD (no body). */
  private answer(client: Socket, status: string, code: string, message: string): void {
    client.once('data', (chunk: Buffer) => {
      const body =
        chunk.subarray(0, 5).toString('latin1') === 'HEAD '
          ? ''
          : `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`;
      client.end(`HTTP/1.1 ${status}\r\nContent-Type: application/xml\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
    });
  }

  private record(chunk: Buffer): void {
    const head = chunk.subarray(0, 512).toString('latin1');
    const m = /^(GET|PUT|POST|HEAD|DELETE) (\S+) HTTP\/1\.[01]\r\n/.exec(head);
    if (!m) return;
    this.requests.push(
      `${m[1]} ${decodeURIComponent((m[2] as string).split('?')[0] as string)}${(m[2] as string).includes('?') ? `?${(m[2] as string).split('?')[1]}` : ''}`,
    );
    const lines = chunk.subarray(0, 4096).toString('latin1').split('\r\n\r\n')[0]?.split('\r\n').slice(1) ?? [];
    this.headers.push(Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()])));
  }
}
