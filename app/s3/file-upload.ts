import { createHash } from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { SessionChangedError } from '../errors.js';
import type { Limiter } from './limiter.js';
import { putMultipart, type MultipartJournal } from './multipart-upload.js';
import type { BandwidthLimiter } from './bandwidth.js';
import { BufferPool, setPayloadHash } from './payload.js';
import { partsInFlight } from './part-size.js';
import type { DirectPut } from './direct-put.js';
import { openListedFile } from '../share/open-listed-file.js';
import type { Share, ShareAttributes, ShareFile } from '../share/share.js';
import type { HashWorker } from './hash-worker.js';

export interface FileUploadRequest {
  bucket: string;
  key: string;
  absolutePath: string;
  relativePath: string;
  expectedSize: number;
  expectedMtimeNs: bigint;
  /** The change attribute the listing saw (NFS); null where the share has none. */
  expectedChange: bigint | null;
  partSize: number;
  onBytes?: (n: number) => void;
  /** Reused part-sized buffers (shared by the session's uploads); none: allocate per read. */
  pool?: BufferPool;
  /** The process-wide bandwidth cap, when configured. */
  bandwidth?: BandwidthLimiter;
  /** The lean PUT for whole files and parts (see direct-put.ts); none: every request goes through the SDK. */
  direct?: DirectPut | null;
  /** Where a large file's SHA-256 is taken; none: on this thread. */
  hasher?: HashWorker;
}

export interface FileUploadResult {
  sha256: string;
  etag: string | null;
  /** Parts of an interrupted multipart upload that were not sent again. */
  resumedParts: number;
}

/**
 * Uploads one file reading each byte once: the same part-sized buffers feed the SHA-256 and
 * the request bodies. Buffers (not streams) keep the SDK from sending aws-chunked bodies,
 * which some S3-compatible servers store verbatim. The file is opened without following
 * links and without blocking on special files, and checked against the listing when opened
 * (and, for a large file, at its end): a file that changed underneath voids the attempt.
 */
export async function uploadFile(share: Share, s3: S3Client, limiter: Limiter, journal: MultipartJournal, req: FileUploadRequest, signal: AbortSignal): Promise<FileUploadResult> {
  const handle = await openListedFile(share, req);
  try {
    checkUnchanged(handle.attributes, req);
    const result =
      req.expectedSize <= req.partSize
        ? await putWhole(s3, limiter, handle, req, signal)
        : await putLargeFile(s3, limiter, journal, handle, req, signal);
    // A large file is checked again at its end; a small one was read in one call, and the
    // session's re-listing before manifest.json checks every file's size and mtime anyway.
    if (req.expectedSize > req.partSize) checkUnchanged(await handle.currentAttributes(), req);
    return result;
  } finally {
    await handle.close();
  }
}

/**
 * A file in parts. Parts larger than the shared buffers (a file past 10,000 parts of the
 * configured size) get buffers of their own, reused part after part, and only as many parts
 * in flight as the shared budget holds: memory stays flat however large the file.
 */
async function putLargeFile(s3: S3Client, limiter: Limiter, journal: MultipartJournal, handle: ShareFile, req: FileUploadRequest, signal: AbortSignal): Promise<FileUploadResult> {
  const shared = req.pool;
  const enlarged = shared !== undefined && req.partSize > shared.bufferSize;
  const inFlight = enlarged ? partsInFlight(req.partSize, shared.bufferSize * shared.maxFree, limiter.size) : limiter.size;
  const pool = enlarged ? new BufferPool(req.partSize, inFlight) : shared;
  const own = { ...req, pool };
  return putMultipart(
    s3,
    limiter,
    journal,
    { bucket: req.bucket, key: req.key, relativePath: req.relativePath, size: req.expectedSize, partSize: req.partSize, onBytes: req.onBytes, pool, bandwidth: req.bandwidth, hasher: req.hasher, direct: req.direct, maxPartsInFlight: inFlight },
    (length, position) => readExactly(handle, length, position, own),
    handle,
    signal,
  );
}

function checkUnchanged(now: ShareAttributes, req: FileUploadRequest): void {
  const changed = now.change !== null && req.expectedChange !== null && now.change !== req.expectedChange;
  if (changed || now.size !== req.expectedSize || now.mtimeNs !== req.expectedMtimeNs) {
    throw new SessionChangedError(`${req.relativePath} changed while it was being uploaded`);
  }
}

/** Reads exactly `length` bytes at `position`; fewer means the file shrank. */
async function readExactly(handle: ShareFile, length: number, position: number, req: FileUploadRequest): Promise<Buffer> {
  const buf = req.pool ? req.pool.take(length) : Buffer.allocUnsafe(length);
  let filled = 0;
  try {
    while (filled < length) {
      const bytesRead = await handle.read(buf, filled, length - filled, position + filled);
      if (bytesRead === 0) throw new SessionChangedError(`${req.relativePath} shrank while it was being uploaded`);
      filled += bytesRead;
    }
  } catch (err) {
    req.pool?.give(buf);
    throw err;
  }
  return buf;
}

async function putWhole(s3: S3Client, limiter: Limiter, handle: ShareFile, req: FileUploadRequest, signal: AbortSignal): Promise<FileUploadResult> {
  return limiter.run(signal, async () => {
    // Growth during the read shows in the session's re-listing (size and mtime), so a small
    // file costs open, fstat, read, close.
    const body = await readExactly(handle, req.expectedSize, 0, req);
    const sha256 = createHash('sha256').update(body).digest('hex');
    if (req.direct) {
      await req.bandwidth?.take(body.length, signal);
      const { etag } = await req.direct.put({ key: req.key, body, sha256, metadata: { sha256 } }, signal);
      req.pool?.give(body);
      req.onBytes?.(body.length);
      return { sha256, etag, resumedParts: 0 };
    }
    const command = new PutObjectCommand({ Bucket: req.bucket, Key: req.key, Body: body, ContentLength: body.length, Metadata: { sha256 } });
    // The body's SHA-256 is the one we just took: it signs the request, and S3 checks it.
    setPayloadHash(command, sha256);
    await req.bandwidth?.take(body.length, signal);
    const res = await s3.send(command, { abortSignal: signal });
    // Only after a success: a failed request's socket may still reference the buffer.
    req.pool?.give(body);
    req.onBytes?.(body.length);
    return { sha256, etag: res.ETag ?? null, resumedParts: 0 };
  });
}
