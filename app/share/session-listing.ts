import { lstat as lstatCallback, type BigIntStats } from 'node:fs';
import { lstat, opendir } from 'node:fs/promises';
import { join } from 'node:path';
import type { IgnoreMatcher } from './ignore-patterns.js';

export interface SessionFile {
  relativePath: string;
  absolutePath: string;
  size: number;
  mtimeNs: bigint;
}

export interface SkippedEntry {
  relative_path: string;
  type: 'symlink' | 'fifo' | 'socket' | 'block_device' | 'character_device' | 'other';
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
const STAT_CONCURRENCY = 32;

/**
 * Lists a session folder without following links: nothing outside the folder is ever
 * reached. Ignored names (and whole ignored subfolders) are left out.
 */
export async function listSessionFiles(folder: string, ignored: IgnoreMatcher): Promise<SessionListing> {
  const listing: SessionListing = { files: [], skipped: [], invalidNames: [], ignoredCount: 0 };
  const regular: { relativePath: string; absolutePath: string }[] = [];
  const dirs = [''];
  while (dirs.length > 0) {
    const rel = dirs.pop() as string;
    const dir = await opendir(rel ? join(folder, rel) : folder, { encoding: 'buffer' } as unknown as { encoding: 'utf8' });
    for await (const entry of dir) {
      const rawName = entry.name as unknown as Buffer;
      let name: string;
      try {
        name = utf8.decode(rawName);
      } catch {
        listing.invalidNames.push(`${rel ? `${rel}/` : ''}${escapeBytes(rawName)}`);
        continue;
      }
      const relativePath = rel ? `${rel}/${name}` : name;
      if (ignored(relativePath)) {
        listing.ignoredCount++;
        continue;
      }
      // Some NFS servers report no type in directory entries: ask lstat then.
      const kind = entryType(entry) === 'other' && !entry.isDirectory() && !entry.isFile() ? await lstat(join(folder, relativePath)) : entry;
      if (kind.isDirectory()) dirs.push(relativePath);
      else if (kind.isFile()) regular.push({ relativePath, absolutePath: join(folder, relativePath) });
      else listing.skipped.push({ relative_path: relativePath, type: entryType(kind) });
    }
  }
  const stats = await lstatAll(regular.map((f) => f.absolutePath));
  regular.forEach((f, i) => {
    const st = stats[i] as BigIntStats;
    if (st.isFile()) listing.files.push({ ...f, size: Number(st.size), mtimeNs: st.mtimeNs });
    else listing.skipped.push({ relative_path: f.relativePath, type: st.isSymbolicLink() ? 'symlink' : 'other' });
  });
  listing.files.sort((a, b) => compareUtf8(a.relativePath, b.relativePath));
  listing.skipped.sort((a, b) => compareUtf8(a.relative_path, b.relative_path));
  return listing;
}

/**
 * lstat of every path, STAT_CONCURRENCY at a time (a new one as each returns: on NFS each is a
 * round trip). The callback API: fs/promises costs more CPU per call, and a session's
 * listing is repeated before its manifest and in every cycle it waits.
 */
async function lstatAll(paths: readonly string[]): Promise<BigIntStats[]> {
  const stats = new Array<BigIntStats>(paths.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(STAT_CONCURRENCY, paths.length) }, async () => {
      for (let i = next++; i < paths.length; i = next++) {
        try {
          stats[i] = await lstatBigint(paths[i] as string);
        } catch (err) {
          next = paths.length; // the listing has failed: start no more
          throw err;
        }
      }
    }),
  );
  return stats;
}

function lstatBigint(path: string): Promise<BigIntStats> {
  return new Promise((resolve, reject) => lstatCallback(path, { bigint: true }, (err, st) => (err ? reject(err) : resolve(st))));
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

function entryType(entry: { isSymbolicLink(): boolean; isFIFO(): boolean; isSocket(): boolean; isBlockDevice(): boolean; isCharacterDevice(): boolean }): SkippedEntry['type'] {
  if (entry.isSymbolicLink()) return 'symlink';
  if (entry.isFIFO()) return 'fifo';
  if (entry.isSocket()) return 'socket';
  if (entry.isBlockDevice()) return 'block_device';
  if (entry.isCharacterDevice()) return 'character_device';
  return 'other';
}

function escapeBytes(buf: Buffer): string {
  return [...buf].map((b) => (b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');
}
