import type { Db } from '../db.js';

export interface DiscoveredFolder {
  folderPath: string;
  folderName: string;
  rootPath: string;
  profile: string;
}

/** Inserts the folders not yet known (one statement for the whole scan); returns the new ones. */
export async function recordDiscovered(
  db: Pick<Db, 'query'>,
  folders: DiscoveredFolder[],
  agentId: string,
  now: Date,
): Promise<{ pk: number; folderPath: string }[]> {
  if (folders.length === 0) return [];
  const res = await db.query<{ id: string; folder_path: string }>(
    `WITH ins AS (
       INSERT INTO uploader_sessions (folder_path, folder_name, root_path, profile, discovered_at, updated_at)
       SELECT f.path, f.name, f.root, f.profile, $5, $5
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS f(path, name, root, profile)
       ON CONFLICT (folder_path) WHERE status <> 'processed' AND status <> 'dismissed' DO NOTHING
       RETURNING id, folder_path),
     ev AS (
       INSERT INTO uploader_events (session_pk, from_status, to_status, reason, agent_id, at)
       SELECT id, NULL, 'waiting_for_stable', 'discovered', $6, $5 FROM ins)
     SELECT id, folder_path FROM ins`,
    [folders.map((f) => f.folderPath), folders.map((f) => f.folderName), folders.map((f) => f.rootPath), folders.map((f) => f.profile), now, agentId],
  );
  return res.rows.map((r) => ({ pk: Number(r.id), folderPath: r.folder_path }));
}

/**
 * Forgets a just-recorded folder that turned out to be gone (another agent moved it between
 * our scan and our insert). Only a row nobody has claimed or observed yet is removed.
 */
export async function forgetVanished(db: Pick<Db, 'query'>, pk: number): Promise<boolean> {
  const res = await db.query(
    `DELETE FROM uploader_sessions
      WHERE id = $1 AND status = 'waiting_for_stable' AND lease_token IS NULL AND observed_state IS NULL`,
    [pk],
  );
  return res.rowCount === 1;
}
