import type { PutObjectCommand, UploadPartCommand } from '@aws-sdk/client-s3';

/**
 * Request bodies without a second hash pass.
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
