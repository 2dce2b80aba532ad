import type { Deps } from '../deps.js';
import { headObject } from '../s3/objects.js';
import { uploadFile } from '../s3/file-upload.js';
import { HashWorker } from '../s3/hash-worker.js';
import { partSizeFor } from '../s3/part-size.js';
import { eachConcurrently } from '../each-concurrently.js';
import type { MultipartJournal } from '../s3/multipart-upload.js';
import { abortUnknownUploads } from '../s3/stale-uploads.js';
import { deleteFileRecordsExcept, markFilesUploaded, upsertFileRecords } from '../state/queries/file-records.js';
import { findMultipart, forgetMultipart, listMultipartUploadIds, recordMultipartCreated, recordPart } from '../state/queries/multipart.js';
import { uploadProgress } from './progress.js';
import { objectKey } from './s3-keys.js';
import type { SessionFile } from '../share/session-listing.js';

/**
 * Uploaded files are recorded every 5,000 files or 1 GiB, whichever comes first: a crash
 * sends at most that much again, and a 100,000-file session costs 20 statements.
 */
const RECORD_EVERY_FILES = 5_000;
const RECORD_EVERY_BYTES = 1024 ** 3;

/**
 * Uploads every file of the session (several at once), skipping files an earlier attempt
 * already put in S3 intact. Returns each file's SHA-256, taken from the upload's own read.
 * File records are written in batches so DB work does not grow per file.
 */
export async function uploadSessionFiles(
  deps: Deps,
  session: { pk: number; sessionId: string },
  files: readonly SessionFile[],
  signal: AbortSignal,
): Promise<Map<string, string>> {
  const { db, s3, config, logger, clock, metrics } = deps;
  const bucket = config.upload.s3_bucket;
  const partSize = config.upload.part_size_mb * 1024 * 1024;
  const uploadedBefore = await upsertFileRecords(
    db,
    session.pk,
    files.map((f) => ({ relativePath: f.relativePath, size: f.size, mtimeNs: String(f.mtimeNs) })),
  );
  await deleteFileRecordsExcept(
    db,
    session.pk,
    files.map((f) => f.relativePath),
  );
  const aborted = await abortUnknownUploads(
    s3,
    bucket,
    `${objectKey(config.upload.s3_prefix, session.sessionId, '')}/`,
    await listMultipartUploadIds(db, session.pk),
    signal,
  );
  if (aborted.length > 0) logger.warn({ event: 'stale_uploads_aborted', keys: aborted }, 'aborted multipart uploads no record knows');
  const sha256 = new Map<string, string>();
  const pending: { relativePath: string; sha256: string; etag: string | null }[] = [];
  let pendingBytes = 0;
  const flush = async () => {
    const batch = pending.splice(0, pending.length);
    pendingBytes = 0;
    await markFilesUploaded(db, session.pk, batch, clock.now());
  };

  const progress = uploadProgress(
    logger,
    files.reduce((n, f) => n + f.size, 0),
  );
  // Requests in flight and the memory for their bodies are the process's (deps.transfer),
  // shared with the sessions uploaded beside this one.
  const { transfer } = deps;
  // Large files are hashed on a worker thread, beside their requests.
  const hasher = files.some((f) => f.size > partSize) ? new HashWorker() : undefined;
  let resumed = 0;
  // The first failure stops the other files; it is the error reported.
  const stop = new AbortController();
  signal = AbortSignal.any([signal, stop.signal]);
  const uploadOne = async (file: SessionFile) => {
    signal.throwIfAborted();
    const key = objectKey(config.upload.s3_prefix, session.sessionId, file.relativePath);
    const recordedSha = uploadedBefore.get(file.relativePath);
    if (recordedSha) {
      const head = await transfer.requests.run(signal, () => headObject(s3, bucket, key, signal));
      const metaSha = head?.metadata.sha256;
      if (head && head.size === file.size && (metaSha === undefined || metaSha === recordedSha)) {
        sha256.set(file.relativePath, recordedSha);
        progress.add(file.size);
        resumed++;
        return;
      }
    }
    const started = Date.now();
    // More than 10,000 parts of the configured size: larger parts, for this file only.
    const filePartSize = partSizeFor(file.size, partSize);
    const result = await uploadFile(
      deps.share,
      transfer,
      await journalFor(deps, session.pk, file, key, filePartSize),
      {
        bucket,
        key,
        absolutePath: file.absolutePath,
        relativePath: file.relativePath,
        expectedSize: file.size,
        expectedMtimeNs: file.mtimeNs,
        expectedChange: file.change,
        partSize: filePartSize,
        hasher,
        onBytes: (n) => {
          metrics.bytesUploaded.inc(n);
          progress.add(n);
        },
      },
      signal,
    );
    sha256.set(file.relativePath, result.sha256);
    metrics.filesUploaded.inc();
    // Debug: one line per file is thousands for a large session (upload_completed sums them up).
    if (logger.isLevelEnabled('debug')) {
      logger.debug(
        {
          event: 'upload_file_succeeded',
          file: file.relativePath,
          key,
          bytes: file.size,
          ms: Date.now() - started,
          ...(result.resumedParts > 0 ? { resumed_parts: result.resumedParts } : {}),
        },
        'file uploaded',
      );
    }
    pending.push({ relativePath: file.relativePath, sha256: result.sha256, etag: result.etag });
    pendingBytes += file.size;
    if (pending.length >= RECORD_EVERY_FILES || pendingBytes >= RECORD_EVERY_BYTES) await flush();
  };
  let failure: { err: unknown } | null = null;
  try {
    await eachConcurrently(files, config.upload.concurrency, async (file) => {
      try {
        await uploadOne(file);
      } catch (err) {
        stop.abort(err);
        throw err;
      }
    });
  } catch (err) {
    failure = { err };
  } finally {
    await hasher?.close();
  }
  // What did reach S3 is recorded even when another file failed, so the retry resumes.
  await flush();
  if (failure) throw failure.err;
  if (resumed > 0) logger.info({ event: 'upload_resumed', files_skipped: resumed }, 'files already in S3 were not sent again');
  return sha256;
}

/** The DB side of one file's multipart upload; an earlier upload counts only for the same bytes. */
async function journalFor(deps: Deps, pk: number, file: SessionFile, key: string, partSize: number): Promise<MultipartJournal> {
  const { db, clock } = deps;
  if (file.size <= partSize) return { previous: null, created: async () => undefined, partDone: async () => undefined, forget: async () => undefined };
  const found = await findMultipart(db, pk, file.relativePath);
  const same = found !== null && found.objectKey === key && found.partSize === partSize && found.size === file.size && found.mtimeNs === String(file.mtimeNs);
  return {
    previous: same ? found : null,
    created: (uploadId) =>
      recordMultipartCreated(db, {
        pk,
        relativePath: file.relativePath,
        objectKey: key,
        uploadId,
        partSize,
        size: file.size,
        mtimeNs: String(file.mtimeNs),
        now: clock.now(),
      }),
    partDone: (uploadId, part) => recordPart(db, uploadId, part),
    forget: (uploadId) => forgetMultipart(db, pk, file.relativePath, uploadId),
  };
}
