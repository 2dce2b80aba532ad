import { createHash } from 'node:crypto';
import { constants, type BigIntStats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import { SessionChangedError, sessionProblem } from '../errors.js';
import type { Limiter } from './limiter.js';

export interface FileUploadRequest {
  bucket: string;
  key: string;
  absolutePath: string;
  relativePath: string;
  expectedSize: number;
  expectedMtimeNs: bigint;
  partSize: number;
  onBytes?: (n: number) => void;
}

export interface FileUploadResult {
  sha256: string;
  etag: string | null;
}

/**
 * Uploads one file reading each byte once: the same part-sized buffers feed the SHA-256 and
 * the request bodies. Buffers (not streams) keep the SDK from sending aws-chunked bodies,
 * which some S3-compatible servers store verbatim. The file is opened without following
 * links and without blocking on special files, and checked against the listing before and
 * after: a file that changed underneath voids the attempt.
 */
export async function uploadFile(s3: S3Client, limiter: Limiter, req: FileUploadRequest, signal: AbortSignal): Promise<FileUploadResult> {
  const handle = await openSessionFile(req.absolutePath, req.relativePath);
  try {
    checkUnchanged(await handle.stat({ bigint: true }), req);
    const result = req.expectedSize <= req.partSize ? await putWhole(s3, limiter, handle, req, signal) : await putMultipart(s3, limiter, handle, req, signal);
    checkUnchanged(await handle.stat({ bigint: true }), req);
    return result;
  } finally {
    await handle.close();
  }
}

export async function openSessionFile(absolutePath: string, relativePath: string): Promise<FileHandle> {
  const handle = await open(absolutePath, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  const st = await handle.stat();
  if (!st.isFile()) {
    await handle.close();
    throw sessionProblem('NOT_A_FILE', `${relativePath} is no longer a regular file`);
  }
  return handle;
}

function checkUnchanged(st: BigIntStats, req: FileUploadRequest): void {
  if (Number(st.size) !== req.expectedSize || st.mtimeNs !== req.expectedMtimeNs) {
    throw new SessionChangedError(`${req.relativePath} changed while it was being uploaded`);
  }
}

/** Reads exactly `length` bytes at `position`; fewer means the file shrank. */
async function readExactly(handle: FileHandle, length: number, position: number, req: FileUploadRequest): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(buf, filled, length - filled, position + filled);
    if (bytesRead === 0) throw new SessionChangedError(`${req.relativePath} shrank while it was being uploaded`);
    filled += bytesRead;
  }
  return buf;
}

async function assertAtEnd(handle: FileHandle, position: number, req: FileUploadRequest): Promise<void> {
  const probe = Buffer.allocUnsafe(1);
  const { bytesRead } = await handle.read(probe, 0, 1, position);
  if (bytesRead !== 0) throw new SessionChangedError(`${req.relativePath} grew while it was being uploaded`);
}

async function putWhole(s3: S3Client, limiter: Limiter, handle: FileHandle, req: FileUploadRequest, signal: AbortSignal): Promise<FileUploadResult> {
  return limiter.run(signal, async () => {
    const body = await readExactly(handle, req.expectedSize, 0, req);
    await assertAtEnd(handle, req.expectedSize, req);
    const sha256 = createHash('sha256').update(body).digest('hex');
    const res = await s3.send(
      new PutObjectCommand({ Bucket: req.bucket, Key: req.key, Body: body, ContentLength: body.length, Metadata: { sha256 } }),
      { abortSignal: signal },
    );
    req.onBytes?.(body.length);
    return { sha256, etag: res.ETag ?? null };
  });
}

async function putMultipart(s3: S3Client, limiter: Limiter, handle: FileHandle, req: FileUploadRequest, signal: AbortSignal): Promise<FileUploadResult> {
  const created = await s3.send(new CreateMultipartUploadCommand({ Bucket: req.bucket, Key: req.key }), { abortSignal: signal });
  const uploadId = created.UploadId;
  if (!uploadId) throw new Error(`S3 returned no UploadId for ${req.key}`);
  const hash = createHash('sha256');
  const parts: Promise<CompletedPart>[] = [];
  // Stops reading further parts as soon as one send fails.
  const failed = new AbortController();
  const partSignal = AbortSignal.any([signal, failed.signal]);
  try {
    for (let offset = 0, partNumber = 1; offset < req.expectedSize; offset += req.partSize, partNumber++) {
      await limiter.acquire(partSignal);
      let body: Buffer;
      try {
        body = await readExactly(handle, Math.min(req.partSize, req.expectedSize - offset), offset, req);
      } catch (err) {
        limiter.release();
        throw err;
      }
      hash.update(body);
      const n = partNumber;
      const send = s3
        .send(new UploadPartCommand({ Bucket: req.bucket, Key: req.key, UploadId: uploadId, PartNumber: n, Body: body, ContentLength: body.length }), {
          abortSignal: partSignal,
        })
        .then((res) => {
          req.onBytes?.(body.length);
          return { PartNumber: n, ETag: res.ETag, ChecksumCRC32: res.ChecksumCRC32 } satisfies CompletedPart;
        })
        .catch((err: unknown) => {
          failed.abort(err);
          throw err;
        })
        .finally(() => limiter.release());
      send.catch(() => undefined);
      parts.push(send);
    }
    await assertAtEnd(handle, req.expectedSize, req);
    const completed = await Promise.all(parts);
    const sha256 = hash.digest('hex');
    const done = await s3.send(
      new CompleteMultipartUploadCommand({ Bucket: req.bucket, Key: req.key, UploadId: uploadId, MultipartUpload: { Parts: completed } }),
      { abortSignal: signal },
    );
    return { sha256, etag: done.ETag ?? null };
  } catch (err) {
    await Promise.allSettled(parts);
    // Never leave a dangling upload to accrue storage cost.
    await s3.send(new AbortMultipartUploadCommand({ Bucket: req.bucket, Key: req.key, UploadId: uploadId })).catch(() => undefined);
    throw err;
  }
}
