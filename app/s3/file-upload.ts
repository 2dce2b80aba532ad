import { createHash } from 'node:crypto';
import { SessionChangedError } from '../errors.js';
import { putMultipart, type MultipartJournal } from './multipart-upload.js';
import { openListedFile } from '../share/open-listed-file.js';
import type { Share, ShareAttributes, ShareFile } from '../share/share.js';
import type { HashWorker } from './hash-worker.js';
import type { Transfer } from './transfer.js';

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
export async function uploadFile(
  share: Share,
  transfer: Transfer,
  journal: MultipartJournal,
  req: FileUploadRequest,
  signal: AbortSignal,
): Promise<FileUploadResult> {
  const handle = await openListedFile(share, req, signal);
  try {
    checkUnchanged(handle.attributes, req);
    const result =
      req.expectedSize <= req.partSize
        ? await putWhole(transfer, handle, req, signal)
        : await putMultipart(
            transfer,
            journal,
            {
              bucket: req.bucket,
              key: req.key,
              relativePath: req.relativePath,
              size: req.expectedSize,
              partSize: req.partSize,
              onBytes: req.onBytes,
              hasher: req.hasher,
            },
            (body, position) => readExactly(handle, body, position, req),
            handle,
            signal,
          );
    // A large file is checked again at its end; a small one was read in one call, and the
    // session's re-listing before manifest.json checks every file's size and mtime anyway.
    if (req.expectedSize > req.partSize) checkUnchanged(await handle.currentAttributes(), req);
    return result;
  } finally {
    await handle.close();
  }
}

function checkUnchanged(now: ShareAttributes, req: FileUploadRequest): void {
  const changed = now.change !== null && req.expectedChange !== null && now.change !== req.expectedChange;
  if (changed || now.size !== req.expectedSize || now.mtimeNs !== req.expectedMtimeNs) {
    throw new SessionChangedError(`${req.relativePath} changed while it was being uploaded`);
  }
}

/** Fills `body` from `position`; fewer bytes than that means the file shrank. */
async function readExactly(handle: ShareFile, body: Buffer, position: number, req: FileUploadRequest): Promise<void> {
  for (let filled = 0; filled < body.length;) {
    const bytesRead = await handle.read(body, filled, body.length - filled, position + filled);
    if (bytesRead === 0) throw new SessionChangedError(`${req.relativePath} shrank while it was being uploaded`);
    filled += bytesRead;
  }
}

async function putWhole(transfer: Transfer, handle: ShareFile, req: FileUploadRequest, signal: AbortSignal): Promise<FileUploadResult> {
  const transport = await transfer.put();
  const body = await transfer.buffers.take(req.expectedSize, signal);
  try {
    // Growth during the read shows in the session's re-listing (size and mtime), so a small
    // file costs open, fstat, read, close.
    await readExactly(handle, body, 0, req);
    // It signs the request, and S3 checks the body against it.
    const sha256 = createHash('sha256').update(body).digest('hex');
    await transfer.bandwidth?.take(body.length, signal);
    const put = { key: req.key, body, sha256, metadata: { sha256 } };
    const { etag } = await transfer.requests.run(signal, () => transport.putObject(put, signal));
    // Only after a success: a failed request's socket may still reference the buffer.
    transfer.buffers.give(body);
    req.onBytes?.(body.length);
    return { sha256, etag, resumedParts: 0 };
  } catch (err) {
    transfer.buffers.discard(body);
    throw err;
  }
}
