import { LeaseLostError } from '../../errors.js';
import type { Db } from '../db.js';

/** Stores what the folder looked like now; `since` is when this exact state was first seen. */
export async function recordObservation(
  db: Pick<Db, 'query'>,
  o: { pk: number; leaseToken: string; state: string; since: Date; now: Date; waitingReason: string },
): Promise<void> {
  const res = await db.query(
    `UPDATE uploader_sessions
        SET observed_state = $3, observed_since = $4, observed_at = $5, updated_at = $5, last_error = $6, last_error_code = NULL
      WHERE id = $1 AND lease_token = $2 AND status = 'waiting_for_stable'`,
    [o.pk, o.leaseToken, o.state, o.since, o.now, o.waitingReason],
  );
  if (res.rowCount !== 1) throw new LeaseLostError(o.pk);
}
