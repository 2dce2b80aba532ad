import type { PutObjectCommand, UploadPartCommand } from '@aws-sdk/client-s3';

/**
 * Request bodies without a second hash pass, and part buffers that are reused.
 *
 * SigV4 signs `x-amz-content-sha256`; left alone, the SDK hashes every body for it (a full
 * SHA-256 pass over every byte, on top of the one the manifest needs). A whole-file PUT
 * already has its SHA-256 from our own read: that hex digest is the payload hash, so S3
 * itself checks the body against the manifest's hash, at no extra cost. A part of a multipart
 * upload is sent as `UNSIGNED-PAYLOAD`: its `x-amz-checksum-crc32` (taken beside the file's
 * SHA-256, see hash-worker.ts) is still verified by S3, TLS protects it on the way, and the
 * manifest's SHA-256 covers the whole file.
 */
export function setPayloadHash(command: PutObjectCommand | UploadPartCommand, value: string): void {
  const add = command.middlewareStack.add.bind(command.middlewareStack) as unknown as AddMiddleware;
  add(
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string> } | undefined;
      if (request?.headers) request.headers['x-amz-content-sha256'] = value;
      return next(args);
    },
    { step: 'build', name: 'labPayloadHash', override: true },
  );
}

export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';

type AddMiddleware = (
  middleware: (next: (args: { request: unknown }) => Promise<unknown>) => (args: { request: unknown }) => Promise<unknown>,
  options: { step: 'build'; name: string; override: boolean },
) => void;

/**
 * Part-sized buffers, reused: memory stays at (buffers in flight × part size) instead of
 * growing with the garbage collector's lag behind 8 MiB allocations. A buffer is given back
 * only after the request that used it has finished (never after a failure, when a socket
 * might still hold it).
 */
export class BufferPool {
  private readonly free: Buffer[] = [];

  constructor(readonly bufferSize: number, readonly maxFree: number) {}

  /**
   * A buffer of exactly `length` bytes (a view on a pooled one when it fits). Shared memory,
   * so the hashing worker thread reads it where it is.
   */
  take(length: number): Buffer {
    if (length > this.bufferSize) return sharedBuffer(length);
    const buf = this.free.pop() ?? sharedBuffer(this.bufferSize);
    return length === this.bufferSize ? buf : buf.subarray(0, length);
  }

  /** Gives a buffer from `take` back (once); others are left to the garbage collector. */
  give(view: Buffer): void {
    const ab = view.buffer;
    if (ab.byteLength !== this.bufferSize || view.byteOffset !== 0 || this.free.length >= this.maxFree) return;
    this.free.push(Buffer.from(ab, 0, ab.byteLength));
  }
}

function sharedBuffer(size: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(size));
}
