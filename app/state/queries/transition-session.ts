import { LeaseLostError } from '../../errors.js';
import type { Db } from '../db.js';
import { toSessionRow, type SessionRow } from '../session-row.js';
import type { SessionStatus } from '../states.js';

export interface Transition {
  pk: number;
  leaseToken: string;
  from: readonly SessionStatus[];
  to: SessionStatus;
  now: Date;
  agentId: string;
  reason: string;
  sessionId?: string;
  manifestHash?: string;
  fileCount?: number;
  totalBytes?: number;
  processedPath?: string;
  /** The folder's state as uploaded (observedState of the listing), kept to notice later changes. */
  observedState?: string;
  countAttempt?: boolean;
  resetAttempts?: boolean;
  nextAttemptAt?: Date | null;
  /** undefined keeps the last error, null clears it. */
  error?: { code: string; message: string } | null;
}

export interface TransitionResult {
  row: SessionRow;
  from: SessionStatus;
}

/**
 * One statement: moves the session from one of `from` to `to` only while we hold its lease
 * (so a stale agent cannot overwrite newer state) and records the event. Throws
 * LeaseLostError when the guard does not match.
 */
export async function transitionSession(db: Pick<Db, 'query'>, t: Transition): Promise<TransitionResult> {
  const res = await db.query(
    `WITH prev AS (
       SELECT id, status FROM uploader_sessions
        WHERE id = $1 AND lease_token = $2 AND status = ANY($3::text[])
        FOR UPDATE),
     upd AS (
       UPDATE uploader_sessions s SET
         status = $4::text,
         updated_at = $5,
         session_id = COALESCE($6, s.session_id),
         manifest_hash = COALESCE($7, s.manifest_hash),
         file_count = COALESCE($8, s.file_count),
         total_bytes = COALESCE($9, s.total_bytes),
         processed_path = COALESCE($10, s.processed_path),
         attempts = CASE WHEN $12::boolean THEN 0 WHEN $11::boolean THEN s.attempts + 1 ELSE s.attempts END,
         next_attempt_at = CASE WHEN $13::boolean THEN $14::timestamptz ELSE s.next_attempt_at END,
         last_error = CASE WHEN $15::boolean THEN $16 ELSE s.last_error END,
         last_error_code = CASE WHEN $15::boolean THEN $17 ELSE s.last_error_code END,
         stable_at = CASE WHEN $4::text = 'ready_to_upload' THEN $5 ELSE s.stable_at END,
         uploaded_at = CASE WHEN $4::text = 'uploaded' THEN $5 ELSE s.uploaded_at END,
         processed_at = CASE WHEN $4::text = 'processed' THEN $5 ELSE s.processed_at END,
         observed_state = CASE WHEN $4::text = 'waiting_for_stable' THEN NULL ELSE COALESCE($20, s.observed_state) END,
         observed_since = CASE WHEN $4::text = 'waiting_for_stable' THEN NULL ELSE s.observed_since END
       FROM prev WHERE s.id = prev.id
       RETURNING s.*, prev.status AS from_status),
     ev AS (
       INSERT INTO uploader_events (session_pk, from_status, to_status, reason, agent_id, at)
       SELECT id, from_status, status, $18, $19, $5 FROM upd)
     SELECT * FROM upd`,
    [
      t.pk,
      t.leaseToken,
      t.from,
      t.to,
      t.now,
      t.sessionId ?? null,
      t.manifestHash ?? null,
      t.fileCount ?? null,
      t.totalBytes ?? null,
      t.processedPath ?? null,
      t.countAttempt ?? false,
      t.resetAttempts ?? false,
      t.nextAttemptAt !== undefined,
      t.nextAttemptAt ?? null,
      t.error !== undefined,
      t.error?.message ?? null,
      t.error?.code ?? null,
      t.reason,
      t.agentId,
      t.observedState ?? null,
    ],
  );
  const raw = res.rows[0];
  if (!raw) throw new LeaseLostError(t.pk);
  return { row: toSessionRow(raw), from: raw.from_status as SessionStatus };
}
