import type { Db } from '../db.js';
import { toSessionRow, type SessionRow } from '../session-row.js';

export interface ClaimRequest {
  roots: string[];
  agentId: string;
  leaseToken: string;
  leaseSeconds: number;
  now: Date;
  includeUploaded: boolean;
  /** Sessions this cycle already handled: each is visited once per cycle. */
  skip: number[];
}

/**
 * Takes the next session that has work due and no live claim. SKIP LOCKED lets several
 * agents claim side by side; an expired lease (a crashed agent) is taken over.
 */
export async function claimNextSession(db: Pick<Db, 'query'>, req: ClaimRequest): Promise<SessionRow | null> {
  const res = await db.query(
    `WITH next AS (
       SELECT id FROM uploader_sessions
        WHERE root_path = ANY($1::text[])
          AND status <> 'processed'
          AND (lease_token IS NULL OR lease_expires_at < $2)
          AND (status IN ('waiting_for_stable', 'ready_to_upload', 'uploading')
               OR (status = 'failed' AND (next_attempt_at IS NULL OR next_attempt_at <= $2))
               OR (status = 'uploaded' AND $3::boolean))
          AND NOT (id = ANY($4::bigint[]))
        ORDER BY id
        LIMIT 1
        FOR UPDATE SKIP LOCKED)
     UPDATE uploader_sessions s
        SET lease_owner = $5, lease_token = $6, lease_expires_at = $2::timestamptz + make_interval(secs => $7)
       FROM next
      WHERE s.id = next.id
     RETURNING s.*`,
    [req.roots, req.now, req.includeUploaded, req.skip, req.agentId, req.leaseToken, req.leaseSeconds],
  );
  const row = res.rows[0];
  return row ? toSessionRow(row) : null;
}
