import { resolve } from 'node:path';
import type { AgentConfig } from '../config/schema.js';
import { resolveSessionId } from '../pipeline/session-id.js';
import type { Share } from '../share/share.js';
import type { Db } from '../state/db.js';
import { findSessions, listUnnamedSessions } from '../state/queries/operator.js';
import type { SessionRow } from '../state/session-row.js';

/**
 * The sessions an operator means by `ref`: a session_id, a folder (name, or path relative to
 * here or absolute, before or after its move) or a row number. A session_id is recorded once
 * the session is stable; until then it is read from the folder's metadata file, which is
 * where operators find it.
 */
export async function findSessionsByRef(db: Pick<Db, 'query'>, share: Share, config: AgentConfig, ref: string, signal: AbortSignal): Promise<SessionRow[]> {
  const found = await findSessions(db, ref, resolve(ref).replace(/(.)\/+$/, '$1'));
  if (found.length > 0) return found;
  const named: SessionRow[] = [];
  for (const row of await listUnnamedSessions(db)) {
    const metadataFiles = config.profiles[row.profile]?.metadata_files ?? [];
    const id = await resolveSessionId(share, row.folderPath, row.folderName, metadataFiles, signal).catch(() => null);
    if (id?.sessionId === ref) named.push(row);
  }
  return named;
}
