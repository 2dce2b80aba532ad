import type { Db } from '../db.js';

export interface HeldLease {
  pk: number;
  folderPath: string;
  sessionId: string | null;
  status: string;
  holder: string;
  token: string;
  expiresAt: Date;
}

/** Live leases other agents hold on sessions under these roots. */
export async function leasesHeldByOthers(db: Pick<Db, 'query'>, roots: string[], agentId: string, now: Date): Promise<HeldLease[]> {
  const res = await db.query<{
    id: string;
    folder_path: string;
    session_id: string | null;
    status: string;
    lease_owner: string;
    lease_token: string;
    lease_expires_at: Date;
  }>(
    `SELECT id, folder_path, session_id, status, lease_owner, lease_token, lease_expires_at FROM uploader_sessions
      WHERE root_path = ANY($1::text[]) AND lease_token IS NOT NULL AND lease_expires_at >= $2 AND lease_owner <> $3
      ORDER BY id`,
    [roots, now, agentId],
  );
  return res.rows.map((r) => ({
    pk: Number(r.id),
    folderPath: r.folder_path,
    sessionId: r.session_id,
    status: r.status,
    holder: r.lease_owner,
    token: r.lease_token,
    expiresAt: new Date(r.lease_expires_at),
  }));
}

/** Ends a dead holder's lease now, so the next claim takes the session; false when it changed hands meanwhile. */
export async function expireLease(db: Pick<Db, 'query'>, pk: number, token: string, now: Date): Promise<boolean> {
  const res = await db.query(`UPDATE uploader_sessions SET lease_expires_at = $3::timestamptz - interval '1 millisecond' WHERE id = $1 AND lease_token = $2`, [
    pk,
    token,
    now,
  ]);
  return res.rowCount === 1;
}
