import { AgentError } from '../errors.js';
import { childPath, type Share } from './share.js';

/** `processed/<name>`, or `<name>.1`, `<name>.2`, … when that is taken. */
export function processedCandidate(rootPath: string, folderName: string, n: number): string {
  return childPath(childPath(rootPath, 'processed'), n === 0 ? folderName : `${folderName}.${n}`);
}

/**
 * Why `<root>/processed` cannot take moved sessions, or null when it can (a real folder, or
 * none yet). It is never followed: a link could carry lab data out of the root, and a file
 * there would fail every move.
 */
export async function processedFolderProblem(share: Share, rootPath: string, signal: AbortSignal): Promise<string | null> {
  const path = childPath(rootPath, 'processed');
  const attributes = await share.stat(path, signal).catch((err: { code?: string }) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (attributes === null || attributes.type === 'dir') return null;
  const what = attributes.type === 'symlink' ? 'a symbolic link' : attributes.type === 'file' ? 'a file' : `a ${attributes.type.replace('_', ' ')}`;
  return `${path} is ${what}, not a folder: sessions are moved only into a real processed/ folder inside the root, never through a link. Replace it with a folder; the move is retried every cycle`;
}

/** Makes sure `<root>/processed` is a real folder, creating it when there is none. */
export async function ensureProcessedFolder(share: Share, rootPath: string, signal: AbortSignal): Promise<void> {
  const problem = await processedFolderProblem(share, rootPath, signal);
  if (problem) throw new AgentError('PROCESSED_NOT_A_FOLDER', problem, 'fs', false);
  await share.createFolder(childPath(rootPath, 'processed'), signal).catch((err: { code?: string }) => {
    if (err.code !== 'EEXIST') throw err;
  });
}

/**
 * Reserves a free name in `processed/` by creating it as an empty folder: creating fails
 * when the name exists, so an existing `processed/<name>` is never overwritten, and the
 * later rename over the empty folder never nests the session inside another.
 */
export async function reserveProcessedName(share: Share, rootPath: string, folderName: string, signal: AbortSignal): Promise<string> {
  for (let n = 0; n < 1000; n++) {
    const target = processedCandidate(rootPath, folderName, n);
    try {
      await share.createFolder(target, signal);
      return target;
    } catch (err) {
      if ((err as { code?: string }).code !== 'EEXIST') throw err;
    }
  }
  throw new Error(`no free name for ${folderName} in ${childPath(rootPath, 'processed')}`);
}

/** True when `path` is a folder with nothing in it (a reservation from a crashed move). */
export async function isEmptyFolder(share: Share, path: string, signal: AbortSignal): Promise<boolean> {
  try {
    return (await share.stat(path, signal)).type === 'dir' && (await share.list(path, signal)).length === 0;
  } catch (err) {
    if (signal.aborted) throw err;
    return false;
  }
}
