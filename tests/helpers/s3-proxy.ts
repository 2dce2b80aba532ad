import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';

/** One request the proxy saw; times are performance.now() milliseconds. */
export interface Exchange {
  method: string;
  /** The object key (path-style URLs: the path after the bucket), decoded. */
  key: string;
  query: URLSearchParams;
  /** Header names lower-cased. */
  headers: Record<string, string>;
  startedAt: number;
  /** When the last byte of the answer was handed to the client's socket. */
  finishedAt?: number;
  status?: number;
}

/**
 * An HTTP proxy in front of a real S3 server (path-style requests), for what the server itself
 * does not give a test: every request with its headers and when it started and finished, a hook
 * run before a request is forwarded (to hold it, or to change the world at that exact moment),
 * and S3's conditional write: `PUT` with `If-None-Match: *` is answered 412 PreconditionFailed
 * when the key exists, as S3 does (s3rver ignores the header). Conditional writes to one key are
 * serialised, so two racing writers cannot both pass the check.
 */
export class S3Proxy {
  readonly exchanges: Exchange[] = [];
  beforeForward: ((exchange: Exchange) => Promise<void> | void) | null = null;
  private readonly keyLocks = new Map<string, Promise<void>>();
  private server: Server | undefined;
  private port = 0;

  constructor(
    private readonly upstream: string,
    private readonly bucket: string,
    /** A client of the upstream server, for the existence check of conditional writes. */
    private readonly client: S3Client,
  ) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', () => resolve()));
    const address = this.server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The exchanges for `key`, optionally only those with `method`. */
  requestsFor(key: string, method?: string): Exchange[] {
    return this.exchanges.filter((e) => e.key === key && (!method || e.method === method));
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const path = decodeURIComponent(url.pathname);
    const key = path.startsWith(`/${this.bucket}/`) ? path.slice(this.bucket.length + 2) : '';
    const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]));
    const exchange: Exchange = { method: req.method ?? '', key, query: url.searchParams, headers, startedAt: performance.now() };
    this.exchanges.push(exchange);
    res.on('finish', () => {
      exchange.finishedAt = performance.now();
      exchange.status = res.statusCode;
    });
    try {
      await this.beforeForward?.(exchange);
      if (exchange.method === 'PUT' && headers['if-none-match'] === '*' && !url.searchParams.has('uploadId')) await this.conditionalPut(key, req, res);
      else await this.forward(req, res);
    } catch (err) {
      res.destroy(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private async conditionalPut(key: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const previous = this.keyLocks.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    this.keyLocks.set(
      key,
      previous.then(() => mine),
    );
    await previous;
    try {
      if (await this.exists(key)) {
        req.resume();
        const body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message><Condition>If-None-Match</Condition></Error>`;
        res.writeHead(412, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
        res.end(body);
        return;
      }
      await this.forward(req, res);
    } finally {
      release();
    }
  }

  private async exists(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return true;
    } catch (err) {
      if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
      throw err;
    }
  }

  /** Sends the request on unchanged (the Host header too: it is signed) and streams the answer back. */
  private forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = new URL(this.upstream);
    return new Promise((resolve, reject) => {
      const out = request(
        { hostname: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
        (answer: IncomingMessage) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
          answer.on('end', () => resolve());
          answer.on('error', reject);
        },
      );
      out.on('error', reject);
      req.pipe(out);
    });
  }
}
