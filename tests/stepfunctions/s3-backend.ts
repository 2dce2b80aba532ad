/**
 * What the state machine's S3 tasks read, from two stores behind one interface: the test S3
 * server (real uploads made by the agent) and an in-memory store for the 100,000-file run,
 * where 100,000 PUTs to s3rver would take most of the test budget.
 */
import { GetObjectCommand, HeadObjectCommand, ListObjectsCommand, type S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';

export interface ObjectHead {
  size: number;
  etag: string;
  metadata: Record<string, string>;
  lastModified: string;
}

export interface ListedObject {
  key: string;
  size: number;
  etag: string;
  lastModified: string;
}

export interface ListPage {
  objects: ListedObject[];
  nextToken?: string;
}

export interface S3Backend {
  /** null: no such key (HTTP 404). */
  head(bucket: string, key: string): Promise<ObjectHead | null>;
  /** Keys after `startAfter` (or from `token`), sorted by UTF-8 bytes as S3 sorts them. */
  list(bucket: string, req: { prefix: string; startAfter?: string; maxKeys: number; token?: string }): Promise<ListPage>;
  getText(bucket: string, key: string): Promise<string | null>;
}

/** An S3 error as the server answered it; the integration layer names it the way Step Functions does. */
export class S3StatusError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function statusOf(err: unknown): number | undefined {
  const meta = (err as { $metadata?: { httpStatusCode?: number } }).$metadata;
  return meta?.httpStatusCode;
}

export function serverBackend(client: S3Client): S3Backend {
  return {
    async head(bucket, key) {
      try {
        const res = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        return {
          size: res.ContentLength ?? 0,
          etag: res.ETag ?? '',
          metadata: res.Metadata ?? {},
          lastModified: (res.LastModified ?? new Date(0)).toISOString(),
        };
      } catch (err) {
        const status = statusOf(err);
        if (status === 404) return null;
        if (status !== undefined) throw new S3StatusError(status, (err as Error).name);
        throw err;
      }
    },
    // ListObjects (v1) with Marker: s3rver answers a truncated ListObjectsV2 page with a 500.
    // The state machine still sees ListObjectsV2 answers (integrations.ts builds them).
    async list(bucket, req) {
      try {
        const res = await client.send(
          new ListObjectsCommand({ Bucket: bucket, Prefix: req.prefix, Marker: req.token ?? req.startAfter, MaxKeys: req.maxKeys }),
        );
        const objects = (res.Contents ?? []).map((o) => ({
          key: o.Key ?? '',
          size: o.Size ?? 0,
          etag: o.ETag ?? '',
          lastModified: (o.LastModified ?? new Date(0)).toISOString(),
        }));
        const last = objects.at(-1);
        return res.IsTruncated && last ? { objects, nextToken: last.key } : { objects };
      } catch (err) {
        const status = statusOf(err);
        if (status !== undefined) throw new S3StatusError(status, (err as Error).name);
        throw err;
      }
    },
    async getText(bucket, key) {
      try {
        const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return res.Body ? await res.Body.transformToString('utf8') : '';
      } catch (err) {
        if (statusOf(err) === 404) return null;
        throw err;
      }
    },
  };
}

interface StoredObject {
  body: Buffer;
  metadata: Record<string, string>;
  etag: string;
}

const byUtf8 = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

/** Objects in memory, one bucket, listed in S3's order. */
export class MemoryS3 implements S3Backend {
  private readonly objects = new Map<string, StoredObject>();
  private sorted: string[] | null = null;
  private readonly lastModified = new Date().toISOString();

  constructor(readonly bucket: string) {}

  put(key: string, body: Buffer | string, metadata: Record<string, string> = {}): void {
    const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
    this.objects.set(key, { body: bytes, metadata, etag: `"${createHash('md5').update(bytes).digest('hex')}"` });
    this.sorted = null;
  }

  private keys(): string[] {
    this.sorted ??= [...this.objects.keys()].sort(byUtf8);
    return this.sorted;
  }

  private object(bucket: string, key: string): StoredObject | undefined {
    if (bucket !== this.bucket) throw new S3StatusError(404, 'NoSuchBucket');
    return this.objects.get(key);
  }

  async head(bucket: string, key: string): Promise<ObjectHead | null> {
    const o = this.object(bucket, key);
    return o ? { size: o.body.length, etag: o.etag, metadata: o.metadata, lastModified: this.lastModified } : null;
  }

  async list(bucket: string, req: { prefix: string; startAfter?: string; maxKeys: number; token?: string }): Promise<ListPage> {
    this.object(bucket, '');
    const keys = this.keys();
    const after = req.token ?? req.startAfter ?? '';
    // Keys under a prefix are contiguous in sorted order: start at the later of prefix and StartAfter.
    let i = lowerBound(keys, byUtf8(after, req.prefix) > 0 ? after : req.prefix);
    if (keys[i] === after) i += 1;
    const objects: ListedObject[] = [];
    for (; i < keys.length && objects.length < req.maxKeys && (keys[i] as string).startsWith(req.prefix); i++) {
      const key = keys[i] as string;
      const o = this.objects.get(key) as StoredObject;
      objects.push({ key, size: o.body.length, etag: o.etag, lastModified: this.lastModified });
    }
    const more = i < keys.length && (keys[i] as string).startsWith(req.prefix);
    const last = objects.at(-1);
    return more && last ? { objects, nextToken: last.key } : { objects };
  }

  async getText(bucket: string, key: string): Promise<string | null> {
    return this.object(bucket, key)?.body.toString('utf8') ?? null;
  }
}

function lowerBound(sorted: string[], key: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (byUtf8(sorted[mid] as string, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Makes chosen calls fail the way S3 does under load, then lets them through. */
export class FaultyS3 implements S3Backend {
  private readonly faults: { op: 'head' | 'list'; key: string; statuses: number[] }[] = [];

  constructor(private readonly inner: S3Backend) {}

  /** The next `statuses.length` calls of `op` on `key` fail with these HTTP statuses, in order. */
  failNext(op: 'head' | 'list', key: string, ...statuses: number[]): void {
    this.faults.push({ op, key, statuses });
  }

  private fault(op: 'head' | 'list', key: string): void {
    const f = this.faults.find((x) => x.op === op && x.key === key && x.statuses.length > 0);
    const status = f?.statuses.shift();
    if (status !== undefined) throw new S3StatusError(status, status === 503 ? 'SlowDown' : 'InternalError');
  }

  async head(bucket: string, key: string): Promise<ObjectHead | null> {
    this.fault('head', key);
    return this.inner.head(bucket, key);
  }

  async list(bucket: string, req: { prefix: string; startAfter?: string; maxKeys: number; token?: string }): Promise<ListPage> {
    this.fault('list', req.prefix);
    return this.inner.list(bucket, req);
  }

  getText(bucket: string, key: string): Promise<string | null> {
    return this.inner.getText(bucket, key);
  }
}
