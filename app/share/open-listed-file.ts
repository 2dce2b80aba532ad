import { SessionChangedError } from '../errors.js';
import type { Share, ShareFile } from './share.js';

/**
 * Opens a file the session's listing saw as a regular file. One that is gone, or is a link
 * or a special file now, means the folder is still changing (SessionChangedError: the
 * session waits for a stable folder again, no attempt counted).
 */
export async function openListedFile(share: Share, file: { absolutePath: string; relativePath: string }, signal: AbortSignal): Promise<ShareFile> {
  try {
    return await share.openFile(file.absolutePath, signal);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ENOENT') throw new SessionChangedError(`${file.relativePath} disappeared after the folder was listed`);
    if (code === 'ELOOP') throw new SessionChangedError(`${file.relativePath} became a link after the folder was listed`);
    if (code === 'EFTYPE') throw new SessionChangedError(`${file.relativePath} is no longer a regular file`);
    throw err;
  }
}
