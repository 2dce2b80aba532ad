import type { IgnoreMatcher } from './ignore-patterns.js';
import { childPath, type EntryType, type Share } from './share.js';

export interface SessionFile {
  relativePath: string;
  absolutePath: string;
  size: number;
  mtimeNs: bigint;
  /** The NFSv4 change attribute, where the share has one: it moves on any write, even one that keeps size and mtime. */
  change: bigint | null;
}

export interface SkippedEntry {
  relative_path: string;
  type: Exclude<EntryType, 'file' | 'dir'>;
}

export interface SessionListing {
  /** Regular files, sorted by relative path (byte order of the UTF-8 names). */
  files: SessionFile[];
  /** Links and special files: never followed or read, listed in the manifest. */
  skipped: SkippedEntry[];
  /** Names that are not valid UTF-8 (shown escaped); such a session cannot be keyed in S3. */
  invalidNames: string[];
  ignoredCount: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Lists a session folder without following links: nothing outside the folder is ever
 * reached. Types, sizes and mtimes come from the share's own attributes. Ignored names (and
 * whole ignored subfolders) are left out.
 */
export async function listSessionFiles(share: Share, folder: string, ignored: IgnoreMatcher, signal: AbortSignal): Promise<SessionListing> {
  const listing: SessionListing = { files: [], skipped: [], invalidNames: [], ignoredCount: 0 };
  const dirs = [''];
  while (dirs.length > 0) {
    const rel = dirs.pop() as string;
    for (const entry of await share.list(rel ? childPath(folder, rel) : folder, signal)) {
      let name: string;
      try {
        name = utf8.decode(entry.name);
      } catch {
        listing.invalidNames.push(`${rel ? `${rel}/` : ''}${escapeBytes(entry.name)}`);
        continue;
      }
      const relativePath = rel ? `${rel}/${name}` : name;
      if (ignored(relativePath)) {
        listing.ignoredCount++;
        continue;
      }
      if (entry.type === 'dir') dirs.push(relativePath);
      else if (entry.type === 'file')
        listing.files.push({ relativePath, absolutePath: childPath(folder, relativePath), size: entry.size, mtimeNs: entry.mtimeNs, change: entry.change });
      else listing.skipped.push({ relative_path: relativePath, type: entry.type });
    }
  }
  listing.files.sort((a, b) => compareUtf8(a.relativePath, b.relativePath));
  listing.skipped.sort((a, b) => compareUtf8(a.relative_path, b.relative_path));
  return listing;
}

/**
 * Orders strings as their UTF-8 bytes (code point order) without encoding them: UTF-16 order
 * differs only where a surrogate (a code point above U+FFFF) meets U+E000–U+FFFF, so those
 * units are shifted above the rest at the first difference.
 */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

function codePointRank(unit: number): number {
  if (unit < 0xd800) return unit;
  return unit >= 0xe000 ? unit - 0x800 : unit + 0x2000;
}

/** A name's bytes with everything but printable ASCII as \xNN (how the logs show a name that is not UTF-8). */
export function escapeBytes(buf: Buffer): string {
  return [...buf].map((b) => (b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');
}
