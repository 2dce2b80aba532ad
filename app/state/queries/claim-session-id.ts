import type { Db } from '../db.js';
import type { SessionStatus } from '../states.js';

export interface SessionIdOwner {
  pk: number;
  folderPath: string;
  status: SessionStatus;
  manifestHash: string | null;
}

/** Takes `sessionId` for session `pk` unless another session has it; returns the owner either way. */
export async function claimSessionId(db: Pick<Db, 'query'>, sessionId: string, pk: number, now: Date): Promise<SessionIdOwner> {
  // A claim committed by another agent during our statement is invisible to its snapshot: ask again.
  for (let attempt = 0; attempt < 3; attempt++) {
    const owner = await tryClaim(db, sessionId, pk, now);
    if (owner) return owner;
  }
  throw new Error(`session_id ${sessionId}: could not read its owner`);
}

async function tryClaim(db: Pick<Db, 'query'>, sessionId: string, pk: number, now: Date): Promise<SessionIdOwner | null> {
  const res = await db.query<{ id: string; folder_path: string; status: SessionStatus; manifest_hash: string | null }>(
    `WITH ins AS (
       INSERT INTO uploader_session_ids (session_id, session_pk, claimed_at) VALUES ($1, $2, $3)
       ON CONFLICT (session_id) DO NOTHING
       RETURNING session_pk)
     SELECT s.id, s.folder_path, s.status, s.manifest_hash
       FROM uploader_sessions s
      WHERE s.id = COALESCE((SELECT session_pk FROM ins), (SELECT session_pk FROM uploader_session_ids WHERE session_id = $1))`,
    [sessionId, pk, now],
  );
  const r = res.rows[0];
  if (!r) return null;
  return { pk: Number(r.id), folderPath: r.folder_path, status: r.status, manifestHash: r.manifest_hash };
}

/** Who has `sessionId` now, without claiming it (dry runs). */
export async function findSessionIdOwner(db: Pick<Db, 'query'>, sessionId: string): Promise<SessionIdOwner | null> {
  const res = await db.query<{ id: string; folder_path: string; status: SessionStatus; manifest_hash: string | null }>(
    `SELECT s.id, s.folder_path, s.status, s.manifest_hash FROM uploader_session_ids i JOIN uploader_sessions s ON s.id = i.session_pk WHERE i.session_id = $1`,
    [sessionId],
  );
  const r = res.rows[0];
  return r ? { pk: Number(r.id), folderPath: r.folder_path, status: r.status, manifestHash: r.manifest_hash } : null;
}
