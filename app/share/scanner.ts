import type { SessionRoot } from '../config/schema.js';
import { classifyError } from '../errors.js';
import type { DiscoveredFolder } from '../state/queries/record-discovered.js';
import { escapeBytes } from './session-listing.js';
import { childPath, type Share } from './share.js';

/** Folder names at the top of a root that are never sessions. */
export const RESERVED_ROOT_ENTRIES = new Set(['processed', 'lost+found', '$RECYCLE.BIN', 'System Volume Information']);

export function isCandidateFolderName(name: string): boolean {
  return !RESERVED_ROOT_ENTRIES.has(name) && !name.startsWith('.');
}

export interface ScanResult {
  folders: DiscoveredFolder[];
  /** Roots that could be listed this cycle; sessions of the others are left alone. */
  readableRoots: string[];
  rootErrors: { root: string; code: string; message: string }[];
  /** Folders that look like sessions but cannot be recorded (a name that is not UTF-8): shown, never silently dropped. */
  unusableFolders: { root: string; name: string; reason: string }[];
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Lists session folders (directories only; links are not followed) in every root. A root
 * that is missing or unreadable is reported and skipped; the others still count.
 */
export async function scanRoots(share: Share, roots: readonly SessionRoot[], signal: AbortSignal): Promise<ScanResult> {
  const result: ScanResult = { folders: [], readableRoots: [], rootErrors: [], unusableFolders: [] };
  for (const root of roots) {
    const rootPath = root.path;
    try {
      const found: DiscoveredFolder[] = [];
      for (const entry of await share.list(rootPath, signal)) {
        if (entry.type !== 'dir') continue;
        let name: string;
        try {
          name = utf8.decode(entry.name);
        } catch {
          // Its path cannot be stored or opened as text: the lab must rename it, so say so every cycle.
          result.unusableFolders.push({ root: rootPath, name: escapeBytes(entry.name), reason: 'the folder name is not valid UTF-8; rename it' });
          continue;
        }
        if (!isCandidateFolderName(name)) continue;
        found.push({ folderPath: childPath(rootPath, name), folderName: name, rootPath, profile: root.profile });
      }
      found.sort((a, b) => (a.folderName < b.folderName ? -1 : a.folderName > b.folderName ? 1 : 0));
      result.folders.push(...found);
      result.readableRoots.push(rootPath);
    } catch (err) {
      if (signal.aborted) throw err;
      const e = classifyError(err);
      result.rootErrors.push({ root: rootPath, code: e.code, message: e.message });
    }
  }
  return result;
}
