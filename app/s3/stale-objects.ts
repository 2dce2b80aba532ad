import { DeleteObjectsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';

export interface StaleObject {
  key: string;
  size: number;
}

/** DeleteObjects takes at most this many keys per request. */
const DELETE_BATCH = 1000;

/**
 * Deletes every object under `sessionPrefix` (ending in `/`) whose key is not in `keep`:
 * files an earlier attempt uploaded and the folder no longer has. Run before `_COMPLETE`,
 * so the prefix holds exactly what the manifest lists when the ETL starts. Returns what
 * was deleted; a key S3 refuses to delete fails the attempt (retryable as S3 says).
 */
export async function deleteObjectsNotIn(
  s3: S3Client,
  bucket: string,
  sessionPrefix: string,
  keep: ReadonlySet<string>,
  signal: AbortSignal,
): Promise<StaleObject[]> {
  const stale: StaleObject[] = [];
  let token: string | undefined;
  do {
    const res = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: sessionPrefix, ContinuationToken: token }), { abortSignal: signal });
    for (const o of res.Contents ?? []) if (o.Key && !keep.has(o.Key)) stale.push({ key: o.Key, size: o.Size ?? 0 });
    token = res.IsTruncated ? res.NextContinuationToken : undefined;
  } while (token);
  for (let i = 0; i < stale.length; i += DELETE_BATCH) {
    const batch = stale.slice(i, i + DELETE_BATCH);
    const res = await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch.map((o) => ({ Key: o.key })), Quiet: true } }), {
      abortSignal: signal,
    });
    const refused = res.Errors?.[0];
    if (refused) {
      throw Object.assign(new Error(`could not delete ${refused.Key ?? '?'}: ${refused.Message ?? ''}`), {
        name: refused.Code ?? 'DeleteFailed',
        $metadata: { httpStatusCode: 200 },
      });
    }
  }
  return stale;
}
