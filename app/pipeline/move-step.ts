import type { Deps } from '../deps.js';
import type { SessionRow } from '../state/session-row.js';
import { transitionSession } from '../state/queries/transition-session.js';
import { isEmptyDir, moveOnto, pathExists, removeReservation, reserveProcessedName } from './mover.js';

/**
 * uploaded → processed. The target is reserved and recorded before the rename, so a crash
 * mid-move is finished on the next cycle rather than guessed at.
 */
export async function moveUploadedSession(deps: Deps, row: SessionRow, leaseToken: string): Promise<SessionRow> {
  const { db, clock, agentId, logger } = deps;
  const base = { pk: row.pk, leaseToken, agentId, from: ['uploaded'] as const };
  if (!(await pathExists(row.folderPath))) {
    const landed = row.processedPath !== null && (await pathExists(row.processedPath));
    const { row: done } = await transitionSession(db, {
      ...base,
      to: 'processed',
      now: clock.now(),
      reason: landed ? 'move finished before a restart' : 'folder left the share after its upload completed',
    });
    logger.warn(
      { event: 'session_moved_to_processed', session_id: row.sessionId, from: 'uploaded', to: 'processed', folder: row.folderPath, processed_path: row.processedPath, found_moved: landed },
      landed ? 'move had completed before a restart' : 'session folder was no longer on the share; its upload was already complete',
    );
    return done;
  }
  let target = row.processedPath;
  if (target === null || !(await isEmptyDir(target))) {
    target = await reserveProcessedName(row.rootPath, row.folderName);
    try {
      await transitionSession(db, { ...base, to: 'uploaded', now: clock.now(), reason: `move planned to ${target}`, processedPath: target });
    } catch (err) {
      await removeReservation(target);
      throw err;
    }
  }
  await moveOnto(row.folderPath, target);
  const { row: done } = await transitionSession(db, { ...base, to: 'processed', now: clock.now(), reason: 'moved', processedPath: target, error: null });
  logger.info(
    { event: 'session_moved_to_processed', session_id: row.sessionId, from: 'uploaded', to: 'processed', folder: row.folderPath, processed_path: target },
    'session moved to processed/',
  );
  return done;
}
