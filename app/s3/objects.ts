import { HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { httpStatus, sessionProblem } from '../errors.js';

export interface ObjectHead {
  size: number;
  metadata: Record<string, string>;
}

/** The object's size and metadata, or null when there is no such key. */
export async function headObject(s3: S3Client, bucket: string, key: string, signal: AbortSignal): Promise<ObjectHead | null> {
  try {
    const res = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal });
    return { size: res.ContentLength ?? 0, metadata: res.Metadata ?? {} };
  } catch (err) {
    const status = httpStatus(err);
    if (status === 404) return null;
    throw err;
  }
}

export async function putSmallObject(
  s3: S3Client,
  req: { bucket: string; key: string; body: Buffer; contentType?: string; metadata?: Record<string, string> },
  signal: AbortSignal,
): Promise<void> {
  await s3.send(
    new PutObjectCommand({
      Bucket: req.bucket,
      Key: req.key,
      Body: req.body,
      ContentLength: req.body.length,
      ...(req.contentType ? { ContentType: req.contentType } : {}),
      ...(req.metadata ? { Metadata: req.metadata } : {}),
    }),
    { abortSignal: signal },
  );
}

export const MANIFEST_HASH_METADATA = 'manifest-sha256';

/**
 * Writes the empty `_COMPLETE` object at most once per manifest. The caller holds the
 * session's lease and has checked the key is absent; `If-None-Match: *` makes S3 itself
 * refuse a second writer (412). A marker already there for the same manifest counts as
 * written; one for another manifest is a conflict a person must look at.
 */
export async function writeCompleteMarker(
  s3: S3Client,
  req: { bucket: string; key: string; manifestHash: string },
  signal: AbortSignal,
): Promise<'written' | 'already_present'> {
  const existing = await headObject(s3, req.bucket, req.key, signal);
  if (existing) return sameManifest(existing, req);
  try {
    await s3.send(
      new PutObjectCommand({
        Bucket: req.bucket,
        Key: req.key,
        Body: Buffer.alloc(0),
        ContentLength: 0,
        IfNoneMatch: '*',
        Metadata: { [MANIFEST_HASH_METADATA]: req.manifestHash },
      }),
      { abortSignal: signal },
    );
    return 'written';
  } catch (err) {
    const status = httpStatus(err);
    if (status !== 412) throw err;
    const now = await headObject(s3, req.bucket, req.key, signal);
    if (!now) throw err;
    return sameManifest(now, req);
  }
}

function sameManifest(head: ObjectHead, req: { key: string; manifestHash: string }): 'already_present' {
  const theirs = head.metadata[MANIFEST_HASH_METADATA];
  if (theirs === req.manifestHash) return 'already_present';
  throw sessionProblem(
    'COMPLETE_CONFLICT',
    `${req.key} already exists for manifest ${theirs ?? '(unknown)'}; this folder's manifest is ${req.manifestHash}. Nothing was overwritten.`,
  );
}
