import type { Db } from '../db.js';

/** Extends our claim; false when another agent has taken the session since. */
export async function renewLease(db: Pick<Db, 'query'>, pk: number, leaseToken: string, expiresAt: Date): Promise<boolean> {
  const res = await db.query('UPDATE uploader_sessions SET lease_expires_at = $3 WHERE id = $1 AND lease_token = $2', [pk, leaseToken, expiresAt]);
  return res.rowCount === 1;
}

export async function releaseLease(db: Pick<Db, 'query'>, pk: number, leaseToken: string): Promise<void> {
  await db.query('UPDATE uploader_sessions SET lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL WHERE id = $1 AND lease_token = $2', [
    pk,
    leaseToken,
  ]);
}
