import type { Db } from '../db.js';
import type { SessionStatus } from '../states.js';

/** The session's state as recorded now. */
export async function readSessionStatus(db: Pick<Db, 'query'>, pk: number): Promise<SessionStatus> {
  const res = await db.query<{ status: SessionStatus }>('SELECT status FROM uploader_sessions WHERE id = $1', [pk]);
  const row = res.rows[0];
  if (!row) throw new Error(`session #${pk} is not in the database`);
  return row.status;
}
