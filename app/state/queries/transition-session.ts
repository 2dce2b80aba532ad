import type { Clock } from '../../clock.js';
import { LeaseLostError } from '../../errors.js';
import type { Db } from '../db.js';
import { TRANSITIONS, type AgentTransition } from '../session-transitions.js';
import { toSessionRow, type SessionRow } from '../session-row.js';
import type { SessionStatus } from '../states.js';

/** What every guarded write on a claimed session needs, taken once from the claim. */
export interface SessionClaim {
  readonly pk: number;
  readonly leaseToken: string;
  readonly agentId: string;
  readonly clock: Clock;
}

export function sessionClaim(deps: { agentId: string; clock: Clock }, row: SessionRow): SessionClaim {
  if (row.leaseToken === null) throw new Error(`session row ${row.pk} is not claimed`);
  return { pk: row.pk, leaseToken: row.leaseToken, agentId: deps.agentId, clock: deps.clock };
}

/** What a transition records besides the new status. */
export interface TransitionChange {
  reason: string;
  sessionId?: string;
  manifestHash?: string;
  fileCount?: number;
  totalBytes?: number;
  processedPath?: string;
  /** The folder's state as uploaded (observedState of the listing), kept to notice later changes. */
  observedState?: string;
  countAttempt?: boolean;
  nextAttemptAt?: Date | null;
  /** undefined keeps the last error, null clears it. */
  error?: { code: string; message: string } | null;
}

export interface TransitionResult {
  row: SessionRow;
  from: SessionStatus;
}

/**
 * One statement: applies the named transition only while the session is in one of its `from`
 * states and we hold its lease (so a stale agent cannot overwrite newer state), and records
 * the event. Throws LeaseLostError when the guard does not match.
 */
export async function transitionSession(db: Pick<Db, 'query'>, claim: SessionClaim, name: AgentTransition, t: TransitionChange): Promise<TransitionResult> {
  const { from, to } = TRANSITIONS[name];
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
         attempts = CASE WHEN $11::boolean THEN s.attempts + 1 ELSE s.attempts END,
         next_attempt_at = CASE WHEN $12::boolean THEN $13::timestamptz ELSE s.next_attempt_at END,
         last_error = CASE WHEN $14::boolean THEN $15 ELSE s.last_error END,
         last_error_code = CASE WHEN $14::boolean THEN $16 ELSE s.last_error_code END,
         stable_at = CASE WHEN $4::text = 'ready_to_upload' THEN $5 ELSE s.stable_at END,
         uploaded_at = CASE WHEN $4::text = 'uploaded' THEN $5 ELSE s.uploaded_at END,
         processed_at = CASE WHEN $4::text = 'processed' THEN $5 ELSE s.processed_at END,
         observed_state = CASE WHEN $4::text = 'waiting_for_stable' THEN NULL ELSE COALESCE($19, s.observed_state) END,
         observed_since = CASE WHEN $4::text = 'waiting_for_stable' THEN NULL ELSE s.observed_since END
       FROM prev WHERE s.id = prev.id
       RETURNING s.*, prev.status AS from_status),
     ev AS (
       INSERT INTO uploader_events (session_pk, from_status, to_status, reason, agent_id, at)
       SELECT id, from_status, status, $17, $18, $5 FROM upd)
     SELECT * FROM upd`,
    [
      claim.pk,
      claim.leaseToken,
      from,
      to,
      claim.clock.now(),
      t.sessionId ?? null,
      t.manifestHash ?? null,
      t.fileCount ?? null,
      t.totalBytes ?? null,
      t.processedPath ?? null,
      t.countAttempt ?? false,
      t.nextAttemptAt !== undefined,
      t.nextAttemptAt ?? null,
      t.error !== undefined,
      t.error?.message ?? null,
      t.error?.code ?? null,
      t.reason,
      claim.agentId,
      t.observedState ?? null,
    ],
  );
  const raw = res.rows[0];
  if (!raw) throw new LeaseLostError(claim.pk);
  return { row: toSessionRow(raw), from: raw.from_status as SessionStatus };
}
