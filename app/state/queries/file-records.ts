import type { Db } from '../db.js';

export interface FileRecord {
  relativePath: string;
  size: number;
  mtimeNs: string;
  sha256: string | null;
  status: 'pending' | 'uploaded';
  etag: string | null;
}

/**
 * Rows per statement: a 100,000-file session costs ten statements to record, not one per
 * file, and no statement carries more than a few MB of parameters.
 */
export const RECORD_CHUNK = 10_000;

/**
 * Records the files an attempt will upload, RECORD_CHUNK per statement. A file already
 * uploaded by an earlier attempt keeps its record only if its size and mtime are unchanged;
 * otherwise it is pending again. Returns the SHA-256 of each file still recorded as uploaded
 * (the only records the upload needs; none on a first attempt), from the same statements.
 */
export async function upsertFileRecords(
  db: Pick<Db, 'query'>,
  pk: number,
  files: readonly { relativePath: string; size: number; mtimeNs: string }[],
): Promise<Map<string, string>> {
  const uploaded = new Map<string, string>();
  for (let start = 0; start < files.length; start += RECORD_CHUNK) {
    const chunk = files.slice(start, start + RECORD_CHUNK);
    const res = await db.query<{ relative_path: string; sha256: string }>(
      `WITH up AS (
         INSERT INTO uploader_files (session_pk, relative_path, size, mtime_ns)
         SELECT $1, f.path, f.size, f.mtime FROM unnest($2::text[], $3::bigint[], $4::text[]) AS f(path, size, mtime)
         ON CONFLICT (session_pk, relative_path) DO UPDATE
            SET size = EXCLUDED.size, mtime_ns = EXCLUDED.mtime_ns,
                status = CASE WHEN uploader_files.size = EXCLUDED.size AND uploader_files.mtime_ns = EXCLUDED.mtime_ns
                              THEN uploader_files.status ELSE 'pending' END,
                sha256 = CASE WHEN uploader_files.size = EXCLUDED.size AND uploader_files.mtime_ns = EXCLUDED.mtime_ns
                              THEN uploader_files.sha256 ELSE NULL END
         RETURNING relative_path, status, sha256)
       SELECT relative_path, sha256 FROM up WHERE status = 'uploaded' AND sha256 IS NOT NULL`,
      [pk, chunk.map((f) => f.relativePath), chunk.map((f) => f.size), chunk.map((f) => f.mtimeNs)],
    );
    for (const r of res.rows) uploaded.set(r.relative_path, r.sha256);
  }
  return uploaded;
}

/** Drops records of files no longer in the folder (so the record set matches the manifest). */
export async function deleteFileRecordsExcept(db: Pick<Db, 'query'>, pk: number, keep: string[]): Promise<void> {
  await db.query('DELETE FROM uploader_files WHERE session_pk = $1 AND NOT (relative_path = ANY($2::text[]))', [pk, keep]);
}

export async function listFileRecords(db: Pick<Db, 'query'>, pk: number): Promise<FileRecord[]> {
  const res = await db.query<{
    relative_path: string;
    size: string;
    mtime_ns: string;
    sha256: string | null;
    status: 'pending' | 'uploaded';
    etag: string | null;
  }>('SELECT relative_path, size, mtime_ns, sha256, status, etag FROM uploader_files WHERE session_pk = $1 ORDER BY relative_path', [pk]);
  return res.rows.map((r) => ({
    relativePath: r.relative_path,
    size: Number(r.size),
    mtimeNs: r.mtime_ns,
    sha256: r.sha256,
    status: r.status,
    etag: r.etag,
  }));
}

/** Marks a batch of files uploaded, RECORD_CHUNK per statement. */
export async function markFilesUploaded(
  db: Pick<Db, 'query'>,
  pk: number,
  files: { relativePath: string; sha256: string; etag: string | null }[],
  now: Date,
): Promise<void> {
  for (let start = 0; start < files.length; start += RECORD_CHUNK) {
    const chunk = files.slice(start, start + RECORD_CHUNK);
    await db.query(
      `UPDATE uploader_files u SET status = 'uploaded', sha256 = f.sha256, etag = f.etag, uploaded_at = $5
         FROM unnest($2::text[], $3::text[], $4::text[]) AS f(path, sha256, etag)
        WHERE u.session_pk = $1 AND u.relative_path = f.path`,
      [pk, chunk.map((f) => f.relativePath), chunk.map((f) => f.sha256), chunk.map((f) => f.etag), now],
    );
  }
}
