import { lstat, mkdir, readdir, rename, rmdir } from 'node:fs/promises';
import { join } from 'node:path';

/** `processed/<name>`, or `<name>.1`, `<name>.2`, … when that is taken. */
export function processedCandidate(rootPath: string, folderName: string, n: number): string {
  return join(rootPath, 'processed', n === 0 ? folderName : `${folderName}.${n}`);
}

/**
 * Reserves a free name in `processed/` by creating it as an empty directory: mkdir fails
 * when the name exists, so an existing `processed/<name>` is never overwritten, and the
 * later rename over the empty directory never nests the folder inside another.
 */
export async function reserveProcessedName(rootPath: string, folderName: string): Promise<string> {
  await mkdir(join(rootPath, 'processed'), { recursive: true });
  for (let n = 0; n < 1000; n++) {
    const target = processedCandidate(rootPath, folderName, n);
    try {
      await mkdir(target);
      return target;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  throw new Error(`no free name for ${folderName} in ${join(rootPath, 'processed')}`);
}

/** Renames the folder onto its reserved (empty) target: atomic on one filesystem. */
export async function moveOnto(folderPath: string, target: string): Promise<void> {
  await rename(folderPath, target);
}

/** True when `path` is a directory with nothing in it (a reservation from a crashed move). */
export async function isEmptyDir(path: string): Promise<boolean> {
  try {
    return (await readdir(path)).length === 0;
  } catch {
    return false;
  }
}

export async function removeReservation(path: string): Promise<void> {
  await rmdir(path).catch(() => undefined);
}

export async function pathExists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
