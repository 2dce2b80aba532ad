import type { Db } from '../db.js';

export interface Backlog {
  /** Sessions an agent could be uploading now: ready, uploading, or failed and due for a retry. */
  sessions: number;
  /** Their bytes not yet in S3 (the last observed size until the manifest gives the total). */
  bytes: number;
}

/**
 * The upload backlog of every agent sharing this database. Sessions still waiting to become
 * stable are left out: more agents cannot make an instrument finish sooner.
 */
export async function readBacklog(db: Pick<Db, 'query'>, now: Date): Promise<Backlog> {
  const res = await db.query<{ sessions: string; bytes: string }>(
    `SELECT count(*)::text AS sessions,
            coalesce(sum(greatest(coalesce(
              s.total_bytes,
              CASE WHEN split_part(s.observed_state, ':', 2) ~ '^[0-9]+$' THEN split_part(s.observed_state, ':', 2)::bigint END,
              0) - coalesce(u.done, 0), 0)), 0)::text AS bytes
       FROM uploader_sessions s
       LEFT JOIN LATERAL (
         SELECT sum(f.size) AS done FROM uploader_files f WHERE f.session_pk = s.id AND f.status = 'uploaded') u ON true
      WHERE s.status IN ('ready_to_upload', 'uploading')
         OR (s.status = 'failed' AND (s.next_attempt_at IS NULL OR s.next_attempt_at <= $1))`,
    [now],
  );
  const row = res.rows[0];
  return { sessions: Number(row?.sessions ?? 0), bytes: Number(row?.bytes ?? 0) };
}
