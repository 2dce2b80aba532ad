import { createHash, randomBytes, type Hash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';

export interface NoopS3 {
  endpoint: string;
  /** Request counts by operation, body bytes received (discarded), and UploadPart body sizes (bytes → count). */
  stats(): { requests: Record<string, number>; bytes: number; partSizes: Record<string, number> };
  close(): Promise<void>;
}

export interface LinkShape {
  /** Added to every response: the round trip of a long link. */
  latencyMs?: number;
  /** One cap for all request bodies together, Mbit/s (a WAN uplink shared by every connection). */
  linkMbps?: number;
}

/**
 * A tiny S3 endpoint that answers what uploaders send and throws every body away, so a
 * benchmark against it measures the client's cost only. It keeps each key's size and
 * metadata (not its bytes) so that HeadObject after a PutObject answers as S3 would, and a
 * second `If-None-Match: *` write gets 412. With a `LinkShape` it behaves like S3 at the far
 * end of a long link: bodies are read no faster than the shared cap, and every answer waits
 * the latency.
 */
export async function startNoopS3(shape: LinkShape = {}): Promise<NoopS3> {
  const objects = new Map<string, { size: number; etag: string; meta: [string, string][] }>();
  const uploads = new Map<string, { key: string; size: number }>();
  const requests: Record<string, number> = {};
  const partSizes: Record<string, number> = {};
  let bytes = 0;
  const count = (op: string) => (requests[op] = (requests[op] ?? 0) + 1);
  const link = shape.linkMbps ? linkTimeline(shape.linkMbps) : null;
  const latencyMs = shape.latencyMs ?? 0;

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const [, bucket = '', ...rest] = url.pathname.split('/');
    const key = decodeURIComponent(rest.join('/'));
    const q = url.searchParams;
    // S3's ETag of a single PUT is the body's MD5, and rclone checks it: hash those bodies
    // (parts get random ETags, as nobody can check a multipart ETag).
    const md5 = req.method === 'PUT' && key && !q.has('uploadId') ? createHash('md5') : null;
    drain(req, md5, link).then(
      (size) => {
        bytes += size;
        const answer = () => handle(req, res, { bucket, key, q, size, md5: md5?.digest('hex') });
        if (latencyMs > 0) setTimeout(answer, latencyMs);
        else answer();
      },
      () => res.destroy(),
    );
  });

  function handle(
    req: IncomingMessage,
    res: ServerResponse,
    r: { bucket: string; key: string; q: URLSearchParams; size: number; md5: string | undefined },
  ): void {
    const { key, q } = r;
    const etag = `"${r.md5 ?? randomBytes(16).toString('hex')}"`;
    const checksum = req.headers['x-amz-checksum-crc32'];
    const checksumHeader: Record<string, string> = typeof checksum === 'string' ? { 'x-amz-checksum-crc32': checksum } : {};
    const size = Number(req.headers['x-amz-decoded-content-length'] ?? r.size);
    switch (req.method) {
      case 'PUT':
        if (!key) return void (count('CreateBucket'), reply(res, 200));
        if (q.has('uploadId')) {
          count('UploadPart');
          partSizes[size] = (partSizes[size] ?? 0) + 1;
          const u = uploads.get(q.get('uploadId') ?? '');
          if (u) u.size += size;
          return reply(res, 200, { ETag: etag, ...checksumHeader });
        }
        count('PutObject');
        if (req.headers['if-none-match'] === '*' && objects.has(key)) return reply(res, 412, {}, errorXml('PreconditionFailed'));
        objects.set(key, { size, etag, meta: metadata(req) });
        return reply(res, 200, { ETag: etag, ...checksumHeader });
      case 'POST':
        if (q.has('uploads')) {
          count('CreateMultipartUpload');
          const id = randomBytes(12).toString('hex');
          uploads.set(id, { key, size: 0 });
          return reply(res, 200, xmlType, xml('InitiateMultipartUploadResult', `<Bucket>${r.bucket}</Bucket><Key>${esc(key)}</Key><UploadId>${id}</UploadId>`));
        }
        if (q.has('uploadId')) {
          count('CompleteMultipartUpload');
          const u = uploads.get(q.get('uploadId') ?? '');
          uploads.delete(q.get('uploadId') ?? '');
          objects.set(key, { size: u?.size ?? 0, etag: `"${randomBytes(16).toString('hex')}-1"`, meta: [] });
          return reply(res, 200, xmlType, xml('CompleteMultipartUploadResult', `<Bucket>${r.bucket}</Bucket><Key>${esc(key)}</Key><ETag>${esc(etag)}</ETag>`));
        }
        count('PostOther');
        return reply(res, 200);
      case 'DELETE':
        count(q.has('uploadId') ? 'AbortMultipartUpload' : 'DeleteObject');
        uploads.delete(q.get('uploadId') ?? '');
        objects.delete(key);
        return reply(res, 204);
      case 'HEAD': {
        count(key ? 'HeadObject' : 'HeadBucket');
        if (!key) return reply(res, 200);
        const o = objects.get(key);
        if (!o) return reply(res, 404);
        return reply(
          res,
          200,
          { 'Content-Length': String(o.size), ETag: o.etag, 'Last-Modified': new Date().toUTCString(), ...Object.fromEntries(o.meta) },
          undefined,
          true,
        );
      }
      case 'GET':
        if (!key && q.has('location')) return void (count('GetBucketLocation'), reply(res, 200, xmlType, xml('LocationConstraint', '')));
        if (!key && q.has('uploads'))
          return void (
            count('ListMultipartUploads'),
            reply(res, 200, xmlType, xml('ListMultipartUploadsResult', `<Bucket>${r.bucket}</Bucket><IsTruncated>false</IsTruncated>`))
          );
        if (!key) {
          count('ListObjects');
          const prefix = esc(q.get('prefix') ?? '');
          return q.get('list-type') === '2'
            ? reply(
                res,
                200,
                xmlType,
                xml(
                  'ListBucketResult',
                  `<Name>${r.bucket}</Name><Prefix>${prefix}</Prefix><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>`,
                ),
              )
            : reply(
                res,
                200,
                xmlType,
                xml(
                  'ListBucketResult',
                  `<Name>${r.bucket}</Name><Prefix>${prefix}</Prefix><Marker></Marker><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>`,
                ),
              );
        }
        if (q.has('uploadId')) return void (count('ListParts'), reply(res, 404, xmlType, errorXml('NoSuchUpload')));
        count('GetObject');
        return reply(res, 404, xmlType, errorXml('NoSuchKey'));
      default:
        count('Other');
        return reply(res, 405);
    }
  }

  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stats: () => ({ requests: { ...requests }, bytes, partSizes: { ...partSizes } }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const xmlType = { 'Content-Type': 'application/xml' };

/**
 * A link shared by every connection: each body chunk is booked on one timeline that advances
 * at the link's rate (no burst allowance), and the returned time (performance.now() ms) is
 * when its last bit has crossed. Many connections together cannot exceed the rate.
 */
export function linkTimeline(mbps: number, now: () => number = () => performance.now()): (bytes: number) => number {
  let free = 0;
  return (bytes) => {
    free = Math.max(free, now()) + (bytes * 8) / (mbps * 1000);
    return free;
  };
}

/** Reads a body (counting and, for single PUTs, hashing it); on a shaped link, no faster than the link and not done before its last byte has crossed. */
function drain(req: IncomingMessage, md5: Hash | null, link: ((bytes: number) => number) | null): Promise<number> {
  return new Promise((resolve, reject) => {
    let n = 0;
    let due = 0;
    req.on('data', (chunk: Buffer) => {
      n += chunk.length;
      md5?.update(chunk);
      if (!link) return;
      due = link(chunk.length);
      const wait = due - performance.now();
      // Not reading is what slows the sender: its socket buffers fill and its writes wait.
      if (wait >= 1) {
        req.pause();
        setTimeout(() => req.resume(), wait);
      }
    });
    req.on('end', () => {
      const wait = due - performance.now();
      if (wait > 0) setTimeout(() => resolve(n), wait);
      else resolve(n);
    });
    req.on('error', reject);
  });
}

function reply(res: ServerResponse, status: number, headers: Record<string, string> = {}, body = '', headOnly = false): void {
  const payload = Buffer.from(body);
  res.writeHead(status, { 'x-amz-request-id': 'noop', ...(headOnly ? {} : { 'Content-Length': String(payload.length) }), ...headers });
  res.end(headOnly ? undefined : payload);
}

function metadata(req: IncomingMessage): [string, string][] {
  return Object.entries(req.headers)
    .filter(([k, v]) => k.startsWith('x-amz-meta-') && typeof v === 'string')
    .map(([k, v]) => [k, v as string]);
}

function xml(root: string, inner: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${root} xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${inner}</${root}>`;
}

function errorXml(code: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${code}</Message></Error>`;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
