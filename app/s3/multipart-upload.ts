import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListPartsCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import { AgentError, classifyError, httpStatus, SessionChangedError } from '../errors.js';
import { Limiter } from './limiter.js';
import { hashOnThisThread, type HashWorker } from './hash-worker.js';
import { partsInFlight } from './part-size.js';
import type { ShareFile } from '../share/share.js';
import type { Transfer } from './transfer.js';

/** A part S3 acknowledged, as the journal keeps it. */
export interface UploadedPart {
  partNumber: number;
  etag: string;
  size: number;
  checksumCrc32: string | null;
}

/** What a crash left of a multipart upload: enough to resume it. */
export interface ResumableUpload {
  uploadId: string;
  parts: UploadedPart[];
}

/** Where a multipart upload's progress is kept (PostgreSQL), so a crash resumes it. */
export interface MultipartJournal {
  /** The upload an earlier attempt left for this very file (same size, mtime and part size), if any. */
  previous: ResumableUpload | null;
  created(uploadId: string): Promise<void>;
  partDone(uploadId: string, part: UploadedPart): Promise<void>;
  /** The upload completed or was aborted: forget it. */
  forget(uploadId: string): Promise<void>;
}

export interface MultipartRequest {
  bucket: string;
  key: string;
  relativePath: string;
  size: number;
  partSize: number;
  onBytes?: (n: number) => void;
  /** Where the SHA-256 is taken; none: on this thread, in front of the requests. */
  hasher?: HashWorker;
}

/** Fills the part's buffer from the file at `position`. */
type ReadPart = (body: Buffer, position: number) => Promise<void>;

/**
 * Uploads a large file in parts, resuming the parts an interrupted attempt completed: they are
 * read again for the SHA-256 (which must see every byte in order) but not sent again. Parts are
 * confirmed with ListParts where the server has it; elsewhere CompleteMultipartUpload checks
 * the ETags itself. One file's parts take at most half the memory budget, so small files find
 * room beside a large one.
 */
export async function putMultipart(
  transfer: Transfer,
  journal: MultipartJournal,
  req: MultipartRequest,
  readPart: ReadPart,
  handle: ShareFile,
  signal: AbortSignal,
): Promise<{ sha256: string; etag: string | null; resumedParts: number }> {
  const { s3, buffers } = transfer;
  const transport = await transfer.put();
  let uploadId: string;
  let done = new Map<number, UploadedPart>();
  const resumable = journal.previous ? await confirmParts(s3, req, journal.previous, signal) : null;
  if (journal.previous && resumable) {
    uploadId = journal.previous.uploadId;
    done = resumable;
  } else {
    if (journal.previous) await journal.forget(journal.previous.uploadId);
    const created = await s3.send(new CreateMultipartUploadCommand({ Bucket: req.bucket, Key: req.key }), { abortSignal: signal });
    if (!created.UploadId) throw new Error(`S3 returned no UploadId for ${req.key}`);
    uploadId = created.UploadId;
    await journal.created(uploadId);
  }

  const hash = req.hasher ? req.hasher.start() : hashOnThisThread();
  const sends: Promise<CompletedPart>[] = [];
  const failed = new AbortController();
  const partSignal = AbortSignal.any([signal, failed.signal]);
  // Half the memory budget at most, so small files find room beside a large one; one part at
  // a time for a part larger than that (a file enlarged past 10,000 parts).
  const inFlight = new Limiter(partsInFlight(req.partSize, buffers.capacity / 2, transfer.requests.size));
  try {
    for (let offset = 0, partNumber = 1; offset < req.size; offset += req.partSize, partNumber++) {
      const length = Math.min(req.partSize, req.size - offset);
      const known = done.get(partNumber);
      await inFlight.acquire(partSignal);
      let body: Buffer;
      try {
        body = await buffers.take(length, partSignal, req.partSize);
      } catch (err) {
        inFlight.release();
        throw err;
      }
      const read = readPart(body, offset);
      // The buffer goes back once it is both hashed and sent.
      const hashed = read.then(() => hash.update(body));
      const n = partNumber;
      let given = false;
      const giveBack = () => {
        given = true;
        buffers.give(body);
      };
      const settled =
        known && known.size === length
          ? hashed.then(() => {
              giveBack();
              return completedPart(known);
            })
          : hashed
              .then(async (crc) => {
                await transfer.bandwidth?.take(length, partSignal);
                const part = { key: req.key, uploadId, partNumber: n, body, checksumCrc32: crc };
                return transfer.requests.run(partSignal, () => transport.putPart(part, partSignal));
              })
              .then(async (res) => {
                giveBack();
                const part = { partNumber: n, etag: res.etag ?? '', size: length, checksumCrc32: res.checksumCrc32 };
                await journal.partDone(uploadId, part);
                req.onBytes?.(length);
                return completedPart(part);
              });
      const send = settled
        .catch((err: unknown) => {
          if (!given) buffers.discard(body);
          failed.abort(err);
          throw err;
        })
        .finally(() => inFlight.release());
      send.catch(() => undefined);
      sends.push(send);
      // Parts are read in order, one at a time (the hash must see every byte in order).
      await read;
    }
    await checkAtEnd(handle, req);
    const parts = await Promise.all(sends);
    const sha256 = await hash.digest();
    const completed = await s3
      .send(new CompleteMultipartUploadCommand({ Bucket: req.bucket, Key: req.key, UploadId: uploadId, MultipartUpload: { Parts: parts } }), {
        abortSignal: signal,
      })
      .catch((err: unknown) => {
        // A resumed upload may have been completed already by the attempt a crash cut short
        // (AWS then answers NoSuchUpload, some servers 500 forever): start this file afresh.
        if (journal.previous === null || signal.aborted || httpStatus(err) === undefined) throw err;
        throw new AgentError(
          'S3_RESUME_FAILED',
          `completing the resumed upload of ${req.key} failed (${classifyError(err).message}); the file is sent again from the start`,
          's3',
          true,
          { cause: err },
        );
      });
    await journal.forget(uploadId);
    return { sha256, etag: completed.ETag ?? null, resumedParts: [...done.keys()].length };
  } catch (err) {
    await Promise.allSettled(sends);
    hash.discard();
    // Keep what a retry can resume (an outage, a shutdown); give up on the rest so it never
    // accrues storage cost.
    const e = classifyError(err);
    if (
      !signal.aborted &&
      (!e.retryable || e.code === 'SESSION_CHANGED' || e.code === 'S3_InvalidPart' || e.code === 'S3_NoSuchUpload' || e.code === 'S3_RESUME_FAILED')
    ) {
      await s3.send(new AbortMultipartUploadCommand({ Bucket: req.bucket, Key: req.key, UploadId: uploadId })).catch(() => undefined);
      await journal.forget(uploadId).catch(() => undefined);
    }
    throw err;
  }
}

function completedPart(p: UploadedPart): CompletedPart {
  return { PartNumber: p.partNumber, ETag: p.etag, ...(p.checksumCrc32 ? { ChecksumCRC32: p.checksumCrc32 } : {}) };
}

/**
 * The recorded parts S3 still has (all of them when the server cannot list parts); null when
 * the upload itself is gone (aborted by the bucket's lifecycle rule, say).
 */
async function confirmParts(s3: S3Client, req: MultipartRequest, previous: ResumableUpload, signal: AbortSignal): Promise<Map<number, UploadedPart> | null> {
  const recorded = new Map(previous.parts.map((p) => [p.partNumber, p]));
  const listed = new Map<number, { etag: string; size: number }>();
  try {
    let marker: string | undefined;
    do {
      const res = await s3.send(new ListPartsCommand({ Bucket: req.bucket, Key: req.key, UploadId: previous.uploadId, PartNumberMarker: marker }), {
        abortSignal: signal,
      });
      for (const p of res.Parts ?? []) listed.set(p.PartNumber ?? 0, { etag: p.ETag ?? '', size: p.Size ?? -1 });
      marker = res.IsTruncated ? res.NextPartNumberMarker : undefined;
    } while (marker);
  } catch (err) {
    const status = httpStatus(err);
    if (status === 405 || status === 501) return recorded;
    if (status === 404) return null;
    throw err;
  }
  const confirmed = new Map<number, UploadedPart>();
  for (const [n, p] of recorded) {
    const s = listed.get(n);
    if (s && s.etag === p.etag && s.size === p.size) confirmed.set(n, p);
  }
  return confirmed;
}

async function checkAtEnd(handle: ShareFile, req: MultipartRequest): Promise<void> {
  const probe = Buffer.allocUnsafe(1);
  const bytesRead = await handle.read(probe, 0, 1, req.size);
  if (bytesRead !== 0) throw new SessionChangedError(`${req.relativePath} grew while it was being uploaded`);
}
