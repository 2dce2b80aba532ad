import { someOf } from './content-checks.js';
import type { SessionFile } from '../share/session-listing.js';

export interface FolderChanges {
  added: string[];
  removed: string[];
  changed: string[];
}

/** What differs between the files an upload recorded and the folder as listed now (by size and mtime). */
export function folderChanges(uploaded: readonly { relativePath: string; size: number; mtimeNs: string }[], current: readonly SessionFile[]): FolderChanges {
  const before = new Map(uploaded.map((f) => [f.relativePath, f]));
  const changes: FolderChanges = { added: [], removed: [], changed: [] };
  const seen = new Set<string>();
  for (const f of current) {
    seen.add(f.relativePath);
    const was = before.get(f.relativePath);
    if (!was) changes.added.push(f.relativePath);
    else if (was.size !== f.size || was.mtimeNs !== String(f.mtimeNs)) changes.changed.push(f.relativePath);
  }
  for (const f of uploaded) if (!seen.has(f.relativePath)) changes.removed.push(f.relativePath);
  return changes;
}

/** "added late.csv; changed data.csv, raw/a.bin (+3 more)", for an operator. */
export function describeChanges(c: FolderChanges): string {
  const part = (verb: string, paths: string[]) => (paths.length === 0 ? [] : [`${verb} ${someOf(paths, 5)}`]);
  return [...part('added', c.added), ...part('changed', c.changed), ...part('removed', c.removed)].join('; ');
}
