import { sessionProblem } from '../errors.js';
import { readWholeFile } from '../share/read-whole-file.js';
import { childPath, type Share } from '../share/share.js';

const SAFE_ID = /^[A-Za-z0-9._-]{1,255}$/;
const MAX_METADATA_BYTES = 1024 * 1024;

/** Why `id` cannot be an S3 key segment, or null when it can. */
export function sessionIdProblem(id: string): string | null {
  if (id === '.' || id === '..') return `"${id}" is not allowed`;
  if (id.length === 0) return 'is empty';
  if (id.length > 255) return `is ${id.length} characters long (at most 255)`;
  if (!SAFE_ID.test(id)) return `${JSON.stringify(id)} has characters outside [A-Za-z0-9._-]`;
  return null;
}

/**
 * The `session_id` of the first metadata file that has one, else the folder name; throws a
 * needs-attention error when that id is unusable or a metadata file is not what it should be.
 */
export async function resolveSessionId(
  share: Share,
  folder: string,
  folderName: string,
  metadataFiles: readonly string[],
  signal: AbortSignal,
): Promise<{ sessionId: string; source: string }> {
  for (const rel of metadataFiles) {
    const path = childPath(folder, rel);
    const st = await share.stat(path, signal).catch((err: { code?: string }) => {
      if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return null;
      throw err;
    });
    if (st === null) continue;
    if (st.type !== 'file') throw sessionProblem('BAD_METADATA', `metadata file ${rel} is not a regular file`);
    if (st.size > MAX_METADATA_BYTES) throw sessionProblem('BAD_METADATA', `metadata file ${rel} is ${st.size} bytes (at most ${MAX_METADATA_BYTES} are read)`);
    let parsed: unknown;
    try {
      // Windows Notepad and PowerShell 5 start UTF-8 files with a byte order mark; JSON.parse refuses it.
      parsed = JSON.parse((await readWholeFile(share, path, st.size, signal)).toString('utf8').replace(/^\uFEFF/, ''));
    } catch (err) {
      throw sessionProblem('BAD_METADATA', `metadata file ${rel} is not valid JSON: ${(err as Error).message}`);
    }
    if (parsed === null || typeof parsed !== 'object' || !('session_id' in parsed)) continue;
    const value = (parsed as { session_id: unknown }).session_id;
    if (typeof value !== 'string')
      throw sessionProblem('BAD_SESSION_ID', `session_id in ${rel} must be a string, found ${value === null ? 'null' : typeof value}`);
    const problem = sessionIdProblem(value);
    if (problem) throw sessionProblem('BAD_SESSION_ID', `session_id from ${rel} ${problem}`);
    return { sessionId: value, source: rel };
  }
  const problem = sessionIdProblem(folderName);
  if (problem)
    throw sessionProblem('BAD_SESSION_ID', `folder name used as session_id ${problem}; add a metadata file with a valid session_id or rename the folder`);
  return { sessionId: folderName, source: 'folder name' };
}
