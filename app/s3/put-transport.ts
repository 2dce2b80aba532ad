import { PutObjectCommand, UploadPartCommand, type S3Client } from '@aws-sdk/client-s3';
import { setPayloadHash, UNSIGNED_PAYLOAD } from './payload.js';

export interface WholePut {
  key: string;
  body: Buffer;
  /** The body's SHA-256 (hex): it signs the request, and S3 checks the body against it. */
  sha256: string;
  metadata?: Record<string, string>;
}

export interface PartPut {
  key: string;
  uploadId: string;
  partNumber: number;
  body: Buffer;
  /** The part's CRC32, base64 (taken beside the file's SHA-256), which S3 verifies. */
  checksumCrc32: string;
}

/**
 * How file data reaches S3: a whole file in one PutObject, or one part of a multipart upload.
 * Chosen once per process (the lean HTTP/1 PUT where the endpoint is plain SigV4, else the
 * SDK); everything above it is the same whichever carries the bytes.
 */
export interface PutTransport {
  putObject(req: WholePut, signal: AbortSignal): Promise<{ etag: string | null }>;
  putPart(req: PartPut, signal: AbortSignal): Promise<{ etag: string | null; checksumCrc32: string | null }>;
  /** Closes the transport's own connections. */
  close(): void;
}

/** File data through the AWS SDK (S3 Express, SigV4a and whatever else the lean PUT does not sign). */
export class SdkPut implements PutTransport {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
  ) {}

  async putObject(req: WholePut, signal: AbortSignal): Promise<{ etag: string | null }> {
    const command = new PutObjectCommand({
      Bucket: this.bucket,
      Key: req.key,
      Body: req.body,
      ContentLength: req.body.length,
      ...(req.metadata ? { Metadata: req.metadata } : {}),
    });
    setPayloadHash(command, req.sha256);
    const res = await this.s3.send(command, { abortSignal: signal });
    return { etag: res.ETag ?? null };
  }

  async putPart(req: PartPut, signal: AbortSignal): Promise<{ etag: string | null; checksumCrc32: string | null }> {
    const command = new UploadPartCommand({
      Bucket: this.bucket,
      Key: req.key,
      UploadId: req.uploadId,
      PartNumber: req.partNumber,
      Body: req.body,
      ContentLength: req.body.length,
      ChecksumCRC32: req.checksumCrc32,
    });
    // No second SHA-256 pass for the signature: the part's CRC32 (which S3 verifies) and TLS
    // protect it, the manifest's SHA-256 covers the file.
    setPayloadHash(command, UNSIGNED_PAYLOAD);
    const res = await this.s3.send(command, { abortSignal: signal });
    return { etag: res.ETag ?? null, checksumCrc32: res.ChecksumCRC32 ?? null };
  }

  close(): void {
    // The S3 client's connections are the client's: it is destroyed by whoever made it.
  }
}
