import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { crc32 } from 'node:zlib';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { abortableDelay } from '../clock.js';
import { httpStatus, S3_RETRYABLE_REQUEST_CODES } from '../errors.js';

/**
 * A lean `PutObject` for small bodies: one signed HTTP PUT, without the AWS SDK's per-request
 * middleware stack (endpoint ruleset, schema serde, user agent, retry strategy, checksum
 * middleware, XML deserialisation), which costs about 1 ms of CPU per request and dominated
 * the upload of many small files.
 *
 * What the SDK decides stays the SDK's: the endpoint (URL, path or virtual-host style, signing
 * region and name) is resolved by the SDK itself, once per bucket, by running a PutObject
 * through its serialisation and stopping it before anything is signed or sent; credentials
 * come from the client's own (memoised) provider chain; the clock offset is the one the SDK
 * learnt from earlier responses. Anything but plain SigV4 (S3 Express, SigV4a, …) keeps using
 * the SDK. The request carries what the SDK's would: `x-amz-content-sha256` (our SHA-256, which
 * S3 checks), `x-amz-checksum-crc32` (which S3 verifies), the body as a buffer with its
 * Content-Length. Failures are retried like the SDK's standard strategy (4 attempts, jittered
 * exponential backoff, on network errors, 5xx, 429, throttling and timeouts); the error thrown
 * after that looks like the SDK's (`name` = S3 error code, `$metadata.httpStatusCode`), so
 * error classification is unchanged.
 */
export interface DirectPut {
  put(req: { key: string; body: Buffer; sha256: string; metadata?: Record<string, string> }, signal: AbortSignal): Promise<{ etag: string | null }>;
}

/** Bodies up to this size take the lean path; larger ones (few, I/O-bound) keep the SDK. */
export const DIRECT_PUT_MAX_BYTES = 1024 * 1024;
const MAX_ATTEMPTS = 4;
const CONNECT_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 120_000;

const cache = new WeakMap<S3Client, Map<string, Promise<DirectPut | null>>>();

/**
 * The lean PUT for `bucket` through `s3`'s endpoint and credentials, or null when the endpoint
 * needs something other than plain SigV4 (then the SDK is used). Resolved once per client and
 * bucket.
 */
export function directPutFor(s3: S3Client, bucket: string, maxSockets: number): Promise<DirectPut | null> {
  let byBucket = cache.get(s3);
  if (!byBucket) cache.set(s3, (byBucket = new Map()));
  let found = byBucket.get(bucket);
  if (!found) {
    found = resolveEndpoint(s3, bucket).then(
      (ep) => (ep ? new LeanPut(s3, ep, maxSockets) : null),
      () => null,
    );
    byBucket.set(bucket, found);
  }
  return found;
}

interface Endpoint {
  protocol: 'http:' | 'https:';
  hostname: string;
  port: number | undefined;
  /** The path before the key, without a trailing slash ("" or "/bucket"). */
  basePath: string;
  region: string;
  service: string;
}

const PROBE_KEY = 'lab-uploader-endpoint-probe';

class Probed extends Error {
  constructor(readonly request: { protocol?: string; hostname?: string; port?: number; path?: string }, readonly authSchemes: unknown) {
    super('endpoint probe');
  }
}

/** Runs a PutObject through the SDK's serialisation (endpoint included) and stops it before signing. */
async function resolveEndpoint(s3: S3Client, bucket: string): Promise<Endpoint | null> {
  const command = new PutObjectCommand({ Bucket: bucket, Key: PROBE_KEY, Body: Buffer.alloc(0) });
  const add = command.middlewareStack.add.bind(command.middlewareStack) as unknown as (
    mw: (next: unknown, context: { authSchemes?: unknown }) => (args: { request: unknown }) => Promise<unknown>,
    options: { step: 'build'; name: string; priority: 'high' },
  ) => void;
  add(
    (_next, context) => async (args) => {
      throw new Probed(args.request as Probed['request'], context.authSchemes);
    },
    { step: 'build', name: 'labEndpointProbe', priority: 'high' },
  );
  try {
    await s3.send(command);
    return null;
  } catch (err) {
    if (!(err instanceof Probed)) return null;
    const scheme = (Array.isArray(err.authSchemes) ? err.authSchemes[0] : undefined) as { name?: string; signingRegion?: string; signingName?: string } | undefined;
    const r = err.request;
    const suffix = `/${PROBE_KEY}`;
    if (scheme?.name !== 'sigv4' || !scheme.signingRegion || (r.protocol !== 'http:' && r.protocol !== 'https:') || !r.hostname || !r.path?.endsWith(suffix)) return null;
    return {
      protocol: r.protocol,
      hostname: r.hostname,
      port: r.port,
      basePath: r.path.slice(0, -suffix.length),
      region: scheme.signingRegion,
      service: scheme.signingName ?? 's3',
    };
  }
}

class LeanPut implements DirectPut {
  private readonly agent: http.Agent;
  private readonly host: string;
  private signingKey: { scope: string; secret: string; key: Buffer } | null = null;
  /**
   * In-flight requests by the signal that cancels them: one abort listener per signal rather
   * than one per request (Node's `signal` option), which cost a fifth of a small PUT's CPU.
   */
  private readonly inFlight = new Map<AbortSignal, Set<http.ClientRequest> & { onAbort: () => void }>();

  constructor(
    private readonly s3: S3Client,
    private readonly ep: Endpoint,
    maxSockets: number,
  ) {
    const options = { keepAlive: true, maxSockets };
    this.agent = ep.protocol === 'https:' ? new https.Agent(options) : new http.Agent(options);
    const defaultPort = ep.protocol === 'https:' ? 443 : 80;
    this.host = ep.port && ep.port !== defaultPort ? `${ep.hostname}:${ep.port}` : ep.hostname;
  }

  async put(req: { key: string; body: Buffer; sha256: string; metadata?: Record<string, string> }, signal: AbortSignal): Promise<{ etag: string | null }> {
    const path = `${this.ep.basePath}/${req.key.split('/').map(encodeSegment).join('/')}`;
    for (let attempt = 1; ; attempt++) {
      signal.throwIfAborted();
      const headers = await this.sign(path, req);
      try {
        const res = await this.send(path, headers, req.body, signal);
        if (res.status >= 200 && res.status < 300) return { etag: res.etag };
        throw serviceError(res.status, res.body, res.requestId);
      } catch (err) {
        if (signal.aborted || attempt >= MAX_ATTEMPTS || !transient(err)) {
          const e = err as { $metadata?: Record<string, unknown> };
          if (typeof err === 'object' && err !== null && (err as Error).name !== 'AbortError') e.$metadata = { ...(e.$metadata ?? {}), attempts: attempt };
          throw err;
        }
        // The SDK's standard strategy: full jitter over 100 ms · 2^attempt, at most 20 s.
        await abortableDelay(Math.random() * Math.min(20_000, 100 * 2 ** attempt), signal);
      }
    }
  }

  private async sign(path: string, req: { body: Buffer; sha256: string; metadata?: Record<string, string> }): Promise<Record<string, string>> {
    const config = this.s3.config as unknown as { credentials: () => Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken?: string }>; systemClockOffset?: number };
    const creds = await config.credentials();
    const amzDate = new Date(Date.now() + (config.systemClockOffset ?? 0)).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
    const day = amzDate.slice(0, 8);
    const crc = Buffer.allocUnsafe(4);
    crc.writeUInt32BE(crc32(req.body) >>> 0);
    const headers: Record<string, string> = {
      host: this.host,
      'content-length': String(req.body.length),
      'x-amz-checksum-crc32': crc.toString('base64'),
      'x-amz-content-sha256': req.sha256,
      'x-amz-date': amzDate,
    };
    for (const [k, v] of Object.entries(req.metadata ?? {})) headers[`x-amz-meta-${k.toLowerCase()}`] = v;
    if (creds.sessionToken) headers['x-amz-security-token'] = creds.sessionToken;
    const names = Object.keys(headers).sort();
    const signedHeaders = names.join(';');
    const canonical = `PUT\n${path}\n\n${names.map((n) => `${n}:${(headers[n] as string).trim().replace(/\s+/g, ' ')}\n`).join('')}\n${signedHeaders}\n${req.sha256}`;
    const scope = `${day}/${this.ep.region}/${this.ep.service}/aws4_request`;
    const stringToSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${createHash('sha256').update(canonical).digest('hex')}`;
    const signature = createHmac('sha256', this.key(scope, day, creds.secretAccessKey)).update(stringToSign).digest('hex');
    headers.authorization = `AWS4-HMAC-SHA256 Credential=${creds.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
    headers['user-agent'] = 'lab-data-uploader';
    return headers;
  }

  /** The SigV4 signing key, derived once per day, region and secret. */
  private key(scope: string, day: string, secret: string): Buffer {
    if (this.signingKey?.scope === scope && this.signingKey.secret === secret) return this.signingKey.key;
    const hmac = (k: string | Buffer, d: string) => createHmac('sha256', k).update(d).digest();
    const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, day), this.ep.region), this.ep.service), 'aws4_request');
    this.signingKey = { scope, secret, key };
    return key;
  }

  private send(path: string, headers: Record<string, string>, body: Buffer, signal: AbortSignal): Promise<{ status: number; etag: string | null; requestId: string | undefined; body: string }> {
    const transport = this.ep.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const request = transport.request(
        { protocol: this.ep.protocol, hostname: this.ep.hostname, port: this.ep.port, method: 'PUT', path, headers, agent: this.agent, timeout: REQUEST_TIMEOUT_MS },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            const etag = res.headers.etag;
            const requestId = res.headers['x-amz-request-id'];
            resolve({ status, etag: typeof etag === 'string' ? etag : null, requestId: typeof requestId === 'string' ? requestId : undefined, body: status >= 300 ? Buffer.concat(chunks).toString('utf8') : '' });
          });
        },
      );
      request.on('error', reject);
      request.on('timeout', () => request.destroy(Object.assign(new Error(`S3 request timed out after ${REQUEST_TIMEOUT_MS} ms`), { name: 'TimeoutError', code: 'ETIMEDOUT' })));
      request.on('socket', (socket) => {
        if (!socket.connecting) return;
        const timer = setTimeout(() => request.destroy(Object.assign(new Error(`connecting to S3 timed out after ${CONNECT_TIMEOUT_MS} ms`), { name: 'TimeoutError', code: 'ETIMEDOUT' })), CONNECT_TIMEOUT_MS);
        socket.once('connect', () => clearTimeout(timer));
        socket.once('close', () => clearTimeout(timer));
      });
      this.track(request, signal);
      request.end(body);
    });
  }

  private track(request: http.ClientRequest, signal: AbortSignal): void {
    if (signal.aborted) {
      request.destroy(abortError(signal));
      return;
    }
    let requests = this.inFlight.get(signal);
    if (!requests) {
      const set = Object.assign(new Set<http.ClientRequest>(), {
        onAbort: () => {
          this.inFlight.delete(signal);
          for (const r of set) r.destroy(abortError(signal));
        },
      });
      signal.addEventListener('abort', set.onAbort, { once: true });
      this.inFlight.set(signal, (requests = set));
    }
    const set = requests;
    set.add(request);
    request.once('close', () => {
      set.delete(request);
      if (set.size === 0 && this.inFlight.get(signal) === set) {
        this.inFlight.delete(signal);
        signal.removeEventListener('abort', set.onAbort);
      }
    });
  }
}

function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error('The operation was aborted'), { name: 'AbortError', cause: signal.reason as unknown });
}

/** S3's key encoding (the SDK's extendedEncodeURIComponent per path segment). */
function encodeSegment(s: string): string {
  if (/^[\w.~-]*$/.test(s)) return s;
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function serviceError(status: number, body: string, requestId: string | undefined): Error {
  const tag = (name: string) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(body)?.[1];
  const code = tag('Code') ?? (status === 404 ? 'NotFound' : status === 403 ? 'Forbidden' : `Http${status}`);
  const err = new Error(tag('Message') ?? `HTTP ${status}`);
  err.name = code;
  return Object.assign(err, { $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status, requestId } });
}

function transient(err: unknown): boolean {
  const e = err as { name?: string };
  const status = httpStatus(err);
  if (status === undefined) return e.name !== 'AbortError'; // no response: network error or timeout
  return status >= 500 || status === 429 || status === 408 || S3_RETRYABLE_REQUEST_CODES.has(e.name ?? '');
}
