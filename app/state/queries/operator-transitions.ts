import type { Db } from '../db.js';
import { TRANSITIONS } from '../session-transitions.js';
import type { SessionStatus } from '../states.js';

/**
 * Puts a failed or needs_attention session back in the queue from the start of the
 * stability window, with its retries reset. Refused while an agent holds it.
 */
export async function requeueSession(db: Pick<Db, 'query'>, pk: number, who: string, now: Date): Promise<SessionStatus | null> {
  const res = await db.query<{ from_status: SessionStatus }>(
    `WITH prev AS (
       SELECT id, status FROM uploader_sessions
        WHERE id = $1 AND status = ANY($4::text[]) AND (lease_token IS NULL OR lease_expires_at < $2)
        FOR UPDATE),
     upd AS (
       UPDATE uploader_sessions s
          SET status = $5::text, attempts = 0, next_attempt_at = NULL, last_error = NULL, last_error_code = NULL,
              observed_state = NULL, observed_since = NULL, lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, updated_at = $2
         FROM prev WHERE s.id = prev.id
       RETURNING s.id, prev.status AS from_status),
     ev AS (
       INSERT INTO uploader_events (session_pk, from_status, to_status, reason, agent_id, at)
       SELECT id, from_status, $5::text, 'retry requested by ' || $3, $3, $2 FROM upd)
     SELECT from_status FROM upd`,
    [pk, now, who, TRANSITIONS.retry.from, TRANSITIONS.retry.to],
  );
  return res.rows[0]?.from_status ?? null;
}

/**
 * Dismisses a failed or needs_attention session for good, recording who and why. A session
 * that never completed an upload gives its session_id back, so a folder that later carries
 * that id is uploaded rather than held as a collision. Refused while an agent holds it.
 */
export async function dismissSession(db: Pick<Db, 'query'>, pk: number, dismissal: { who: string; reason: string; now: Date }): Promise<SessionStatus | null> {
  const res = await db.query<{ from_status: SessionStatus }>(
    `WITH prev AS (
       SELECT id, status, uploaded_at FROM uploader_sessions
        WHERE id = $1 AND status = ANY($5::text[]) AND (lease_token IS NULL OR lease_expires_at < $2)
        FOR UPDATE),
     upd AS (
       UPDATE uploader_sessions s
          SET status = $6::text, dismissed_by = $3, dismissed_reason = $4, dismissed_at = $2, next_attempt_at = NULL,
              lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, updated_at = $2
         FROM prev WHERE s.id = prev.id
       RETURNING s.id, prev.status AS from_status, prev.uploaded_at),
     released AS (
       DELETE FROM uploader_session_ids WHERE session_pk IN (SELECT id FROM upd WHERE uploaded_at IS NULL)),
     ev AS (
       INSERT INTO uploader_events (session_pk, from_status, to_status, reason, agent_id, at)
       SELECT id, from_status, $6::text, 'dismissed by ' || $3 || ': ' || $4, $3, $2 FROM upd)
     SELECT from_status FROM upd`,
    [pk, dismissal.now, dismissal.who, dismissal.reason, TRANSITIONS.dismiss.from, TRANSITIONS.dismiss.to],
  );
  return res.rows[0]?.from_status ?? null;
}
