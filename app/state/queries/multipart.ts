import type { Db } from '../db.js';

export interface RecordedPart {
  partNumber: number;
  etag: string;
  size: number;
  checksumCrc32: string | null;
}

export interface RecordedMultipart {
  uploadId: string;
  objectKey: string;
  partSize: number;
  size: number;
  mtimeNs: string;
  parts: RecordedPart[];
}

export async function findMultipart(db: Pick<Db, 'query'>, pk: number, relativePath: string): Promise<RecordedMultipart | null> {
  const res = await db.query<{ upload_id: string; object_key: string; part_size: string; size: string; mtime_ns: string }>(
    'SELECT upload_id, object_key, part_size, size, mtime_ns FROM uploader_multipart_uploads WHERE session_pk = $1 AND relative_path = $2',
    [pk, relativePath],
  );
  const row = res.rows[0];
  if (!row) return null;
  const parts = await db.query<{ part_number: number; etag: string; size: string; checksum_crc32: string | null }>(
    'SELECT part_number, etag, size, checksum_crc32 FROM uploader_multipart_parts WHERE upload_id = $1 ORDER BY part_number',
    [row.upload_id],
  );
  return {
    uploadId: row.upload_id,
    objectKey: row.object_key,
    partSize: Number(row.part_size),
    size: Number(row.size),
    mtimeNs: row.mtime_ns,
    parts: parts.rows.map((p) => ({ partNumber: Number(p.part_number), etag: p.etag, size: Number(p.size), checksumCrc32: p.checksum_crc32 })),
  };
}

/** Upload ids this session's records know: anything else under its key prefix is abandoned. */
export async function listMultipartUploadIds(db: Pick<Db, 'query'>, pk: number): Promise<Set<string>> {
  const res = await db.query<{ upload_id: string }>('SELECT upload_id FROM uploader_multipart_uploads WHERE session_pk = $1', [pk]);
  return new Set(res.rows.map((r) => r.upload_id));
}

/** Recorded before any part is sent, so a crash never leaves an upload the DB does not know. */
export async function recordMultipartCreated(
  db: Pick<Db, 'query'>,
  m: { pk: number; relativePath: string; objectKey: string; uploadId: string; partSize: number; size: number; mtimeNs: string; now: Date },
): Promise<void> {
  await db.query(
    `INSERT INTO uploader_multipart_uploads (session_pk, relative_path, object_key, upload_id, part_size, size, mtime_ns, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (session_pk, relative_path) DO UPDATE
        SET object_key = EXCLUDED.object_key, upload_id = EXCLUDED.upload_id, part_size = EXCLUDED.part_size,
            size = EXCLUDED.size, mtime_ns = EXCLUDED.mtime_ns, created_at = EXCLUDED.created_at`,
    [m.pk, m.relativePath, m.objectKey, m.uploadId, m.partSize, m.size, m.mtimeNs, m.now],
  );
}

export async function recordPart(db: Pick<Db, 'query'>, uploadId: string, part: RecordedPart): Promise<void> {
  await db.query(
    `INSERT INTO uploader_multipart_parts (upload_id, part_number, etag, size, checksum_crc32) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (upload_id, part_number) DO UPDATE SET etag = EXCLUDED.etag, size = EXCLUDED.size, checksum_crc32 = EXCLUDED.checksum_crc32`,
    [uploadId, part.partNumber, part.etag, part.size, part.checksumCrc32],
  );
}

export async function forgetMultipart(db: Pick<Db, 'query'>, pk: number, relativePath: string, uploadId: string): Promise<void> {
  await db.query('DELETE FROM uploader_multipart_parts WHERE upload_id = $1', [uploadId]);
  await db.query('DELETE FROM uploader_multipart_uploads WHERE session_pk = $1 AND relative_path = $2 AND upload_id = $3', [pk, relativePath, uploadId]);
}
