import type { Db } from '../db.js';
import { toSessionRow, type SessionRow } from '../session-row.js';

/**
 * Claims up to `limit` waiting sessions (no live claim, not yet handled this cycle) in one
 * statement, each with its own lease token, for an observation only. SKIP LOCKED, as for
 * single claims, so several agents share the work.
 */
export async function claimWaitingBatch(
  db: Pick<Db, 'query'>,
  req: { roots: string[]; agentId: string; leaseTokens: string[]; leaseSeconds: number; now: Date; skip: number[] },
): Promise<SessionRow[]> {
  const res = await db.query(
    `WITH next AS (
       SELECT id, row_number() OVER (ORDER BY id) AS n FROM (
         SELECT id FROM uploader_sessions
          WHERE root_path = ANY($1::text[])
            AND status = 'waiting_for_stable'
            AND (lease_token IS NULL OR lease_expires_at < $2)
            AND NOT (id = ANY($3::bigint[]))
          ORDER BY id
          LIMIT cardinality($5::text[])
          FOR UPDATE SKIP LOCKED) c),
     tokens AS (SELECT t, n FROM unnest($5::text[]) WITH ORDINALITY AS u(t, n))
     UPDATE uploader_sessions s
        SET lease_owner = $4, lease_token = tokens.t, lease_expires_at = $2::timestamptz + make_interval(secs => $6)
       FROM next JOIN tokens ON tokens.n = next.n
      WHERE s.id = next.id
     RETURNING s.*`,
    [req.roots, req.now, req.skip, req.agentId, req.leaseTokens, req.leaseSeconds],
  );
  return res.rows.map(toSessionRow).sort((a, b) => a.pk - b.pk);
}

/**
 * Records the observations of a batch and releases every claim of the batch, in one
 * statement. Sessions without an observation (ready to upload, or their listing failed) are
 * only released: the one-at-a-time path takes them next. Returns the pks whose observation
 * was recorded (a claim lost meanwhile is skipped, as `recordObservation` would refuse it).
 */
export async function recordObservationsAndRelease(
  db: Pick<Db, 'query'>,
  req: {
    observed: { pk: number; leaseToken: string; state: string; since: Date; waitingReason: string }[];
    releaseOnly: { pk: number; leaseToken: string }[];
    now: Date;
  },
): Promise<Set<number>> {
  const o = req.observed;
  const res = await db.query<{ id: string; observed: boolean }>(
    `WITH obs AS (
       UPDATE uploader_sessions s
          SET observed_state = f.state, observed_since = f.since, observed_at = $6, updated_at = $6,
              last_error = f.reason, last_error_code = NULL,
              lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
         FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[], $5::text[]) AS f(id, token, state, since, reason)
        WHERE s.id = f.id AND s.lease_token = f.token AND s.status = 'waiting_for_stable'
       RETURNING s.id),
     rel AS (
       UPDATE uploader_sessions s
          SET lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
         FROM unnest($7::bigint[], $8::text[]) AS r(id, token)
        WHERE s.id = r.id AND s.lease_token = r.token
       RETURNING s.id)
     SELECT id, true AS observed FROM obs`,
    [
      o.map((x) => x.pk),
      o.map((x) => x.leaseToken),
      o.map((x) => x.state),
      o.map((x) => x.since),
      o.map((x) => x.waitingReason),
      req.now,
      req.releaseOnly.map((x) => x.pk),
      req.releaseOnly.map((x) => x.leaseToken),
    ],
  );
  return new Set(res.rows.map((r) => Number(r.id)));
}
