import { AbortMultipartUploadCommand, ListMultipartUploadsCommand, type S3Client } from '@aws-sdk/client-s3';
import { httpStatus } from '../errors.js';

/**
 * Aborts multipart uploads under `prefix` whose ids are not in `known`: left by a crash
 * before the id was recorded, or by a database that was lost. They would accrue storage cost
 * until the bucket's lifecycle rule (the backstop) removes them. Servers without
 * ListMultipartUploads are skipped. Returns the keys aborted.
 */
export async function abortUnknownUploads(s3: S3Client, bucket: string, prefix: string, known: ReadonlySet<string>, signal: AbortSignal): Promise<string[]> {
  const aborted: string[] = [];
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  try {
    do {
      const res = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }), {
        abortSignal: signal,
      });
      for (const u of res.Uploads ?? []) {
        if (!u.Key || !u.UploadId || known.has(u.UploadId)) continue;
        await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }), { abortSignal: signal });
        aborted.push(u.Key);
      }
      keyMarker = res.IsTruncated ? res.NextKeyMarker : undefined;
      uploadIdMarker = res.IsTruncated ? res.NextUploadIdMarker : undefined;
    } while (keyMarker);
  } catch (err) {
    const status = httpStatus(err);
    if (status === 405 || status === 501) return aborted;
    throw err;
  }
  return aborted;
}
