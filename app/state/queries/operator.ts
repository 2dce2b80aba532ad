import type { Db } from '../db.js';
import { toSessionRow, type SessionRow } from '../session-row.js';
import type { SessionStatus } from '../states.js';

export async function listSessions(db: Pick<Db, 'query'>, statuses?: SessionStatus[]): Promise<SessionRow[]> {
  const res = await db.query(`SELECT * FROM uploader_sessions WHERE ($1::text[] IS NULL OR status = ANY($1::text[])) ORDER BY discovered_at, id`, [
    statuses && statuses.length > 0 ? statuses : null,
  ]);
  return res.rows.map(toSessionRow);
}

/**
 * Sessions an operator may mean by `ref`: a session_id, a folder name or a row number, or by
 * `path` (the ref made absolute): the folder where it was found or where it was moved.
 */
export async function findSessions(db: Pick<Db, 'query'>, ref: string, path = ref): Promise<SessionRow[]> {
  const res = await db.query(
    `SELECT * FROM uploader_sessions
      WHERE session_id = $1 OR folder_name = $1 OR folder_path = $1 OR id::text = $1 OR folder_path = $2 OR processed_path = $2
      ORDER BY id`,
    [ref, path],
  );
  return res.rows.map(toSessionRow);
}

export interface SessionEvent {
  from: string | null;
  to: string;
  reason: string | null;
  agentId: string;
  at: Date;
}

export async function listEvents(db: Pick<Db, 'query'>, pk: number): Promise<SessionEvent[]> {
  const res = await db.query<{ from_status: string | null; to_status: string; reason: string | null; agent_id: string; at: Date }>(
    'SELECT from_status, to_status, reason, agent_id, at FROM uploader_events WHERE session_pk = $1 ORDER BY id',
    [pk],
  );
  return res.rows.map((r) => ({ from: r.from_status, to: r.to_status, reason: r.reason, agentId: r.agent_id, at: new Date(r.at) }));
}

/** The active rows for these folders (read only: for dry runs). */
export async function findActiveByFolders(db: Pick<Db, 'query'>, folderPaths: string[]): Promise<Map<string, SessionRow>> {
  const res = await db.query(`SELECT * FROM uploader_sessions WHERE folder_path = ANY($1::text[]) AND status <> 'processed' AND status <> 'dismissed'`, [
    folderPaths,
  ]);
  return new Map(res.rows.map(toSessionRow).map((r) => [r.folderPath, r]));
}

/** Sessions whose session_id is not recorded yet (not stable so far); a dismissed one is over and its folder gone. */
export async function listUnnamedSessions(db: Pick<Db, 'query'>): Promise<SessionRow[]> {
  const res = await db.query(`SELECT * FROM uploader_sessions WHERE session_id IS NULL AND status <> 'processed' AND status <> 'dismissed' ORDER BY id`);
  return res.rows.map(toSessionRow);
}

export async function listSessionsInState(db: Pick<Db, 'query'>, status: SessionStatus): Promise<SessionRow[]> {
  const res = await db.query('SELECT * FROM uploader_sessions WHERE status = $1 ORDER BY id', [status]);
  return res.rows.map(toSessionRow);
}
