import type { Deps } from '../deps.js';
import type { SessionRow } from '../state/session-row.js';
import { listFileRecords } from '../state/queries/file-records.js';
import { transitionSession, type SessionClaim } from '../state/queries/transition-session.js';
import { observedState } from './completion-detector.js';
import { describeChanges, folderChanges } from './folder-changes.js';
import { ignoreMatcher } from '../share/ignore-patterns.js';
import { listSessionFiles } from '../share/session-listing.js';
import { ensureProcessedFolder, isEmptyFolder, reserveProcessedName } from '../share/processed-folder.js';
import { pathExists } from '../share/share.js';

/**
 * uploaded → processed. The target is reserved and recorded before the rename, so a crash
 * mid-move is finished on the next cycle rather than guessed at. `checkUnchanged`: the
 * upload ended some time ago (a move that failed, a restart), so the folder is listed again
 * first; one that changed since is held in needs_attention instead of moved, since the
 * files added or changed after the upload are not in S3.
 */
export async function moveUploadedSession(deps: Deps, row: SessionRow, claim: SessionClaim, checkUnchanged: boolean, signal: AbortSignal): Promise<SessionRow> {
  const { db, share, logger } = deps;
  if (!(await pathExists(share, row.folderPath, signal))) {
    const landed = row.processedPath !== null && (await pathExists(share, row.processedPath, signal));
    const { row: done, from } = await transitionSession(db, claim, 'markProcessed', {
      reason: landed ? 'move finished before a restart' : 'folder left the share after its upload completed',
    });
    logger.warn(
      { event: 'session_moved_to_processed', from, to: done.status, processed_path: row.processedPath, found_moved: landed },
      landed ? 'move had completed before a restart' : 'session folder was no longer on the share; its upload was already complete',
    );
    return done;
  }
  if (checkUnchanged) {
    const changes = await changesSinceUpload(deps, row, signal);
    if (changes !== null) return holdChangedSession(deps, claim, changes);
  }
  // Checked before every move, a reserved target included: processed/ may have been replaced since.
  await ensureProcessedFolder(share, row.rootPath, signal);
  let target = row.processedPath;
  if (target === null || !(await isEmptyFolder(share, target, signal))) {
    target = await reserveProcessedName(share, row.rootPath, row.folderName, signal);
    try {
      await transitionSession(db, claim, 'planMove', { reason: `move planned to ${target}`, processedPath: target });
    } catch (err) {
      await share.removeEmptyFolder(target, signal).catch(() => undefined);
      throw err;
    }
  }
  await share.renameFolder(row.folderPath, target, signal);
  const { row: done, from } = await transitionSession(db, claim, 'markProcessed', { reason: 'moved', processedPath: target, error: null });
  logger.info({ event: 'session_moved_to_processed', from, to: done.status, processed_path: target }, 'session moved to processed/');
  return done;
}

/** What changed in the folder since its upload, or null when nothing did (or it cannot be told). */
async function changesSinceUpload(deps: Deps, row: SessionRow, signal: AbortSignal): Promise<string | null> {
  const profile = deps.config.profiles[row.profile];
  if (!profile || row.observedState === null) return null;
  const listing = await listSessionFiles(deps.share, row.folderPath, ignoreMatcher(profile.ignore_patterns), signal);
  if (observedState(listing.files) === row.observedState) return null;
  const records = await listFileRecords(deps.db, row.pk);
  // A duplicate session has no file records of its own: nothing to name the changes by.
  return (records.length > 0 ? describeChanges(folderChanges(records, listing.files)) : '') || 'files were added, removed or changed';
}

async function holdChangedSession(deps: Deps, claim: SessionClaim, changes: string): Promise<SessionRow> {
  const error = {
    code: 'CHANGED_AFTER_UPLOAD',
    message: `the folder changed after its upload completed (${changes}); S3 and its _COMPLETE hold the folder as it was uploaded. The folder was not moved: put new files in a new session folder (with its own session_id), restore the folder as uploaded, or move it yourself; then run retry`,
  };
  const { row: held, from } = await transitionSession(deps.db, claim, 'holdChangedAfterUpload', { reason: error.message, error });
  deps.metrics.sessionFailures.inc({ code: error.code });
  deps.logger.error({ event: 'session_changed_after_upload', from, to: held.status, changes }, 'session folder changed after its upload completed; not moved');
  return held;
}
