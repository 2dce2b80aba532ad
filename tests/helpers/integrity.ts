import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { expect } from 'vitest';
import { getMetadata, getObject, listKeys, sha256, type Bucket } from './s3.js';

interface StoredManifest {
  session_path: string;
  files: { relative_path: string; size: number; sha256: string }[];
}

/** JSON with sorted keys and no whitespace: what the manifest hash is taken over (SPEC §7). */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Where the session's files are now: moved to processed/ beside it, or still where they were listed. */
function localFolder(sessionPath: string): string {
  const moved = join(dirname(sessionPath), 'processed', basename(sessionPath));
  return existsSync(moved) ? moved : sessionPath;
}

/**
 * Checks every session that has a `_COMPLETE` in the bucket: for each file of its stored
 * manifest, the manifest's SHA-256 equals that of the object's bytes and that of the local
 * file; `_COMPLETE`'s `manifest-sha256` is the hash of the stored manifest.json; and nothing
 * else lies under the session's prefix. Returns the session prefixes checked, so a caller can
 * tell an empty bucket from an intact one.
 */
export async function expectCompletedSessionsIntact(store: Bucket, prefix = ''): Promise<string[]> {
  const keys = await listKeys(store, prefix);
  const bases = keys.filter((k) => k.endsWith('/_COMPLETE')).map((k) => k.slice(0, -'/_COMPLETE'.length));
  for (const base of bases) {
    const manifestBytes = await getObject(store, `${base}/manifest.json`);
    const manifest = JSON.parse(manifestBytes.toString('utf8')) as StoredManifest;
    const marker = await getMetadata(store, `${base}/_COMPLETE`);
    expect(marker['manifest-sha256'], `${base}/_COMPLETE manifest-sha256`).toBe(sha256(canonicalJson(manifest)));
    const folder = localFolder(manifest.session_path);
    for (const f of manifest.files) {
      const stored = await getObject(store, `${base}/${f.relative_path}`);
      expect(stored.length, `${base}/${f.relative_path} size`).toBe(f.size);
      expect(sha256(stored), `${base}/${f.relative_path}: the object's SHA-256 against the manifest's`).toBe(f.sha256);
      expect(sha256(await readFile(join(folder, f.relative_path))), `${folder}/${f.relative_path}: the local file's SHA-256 against the manifest's`).toBe(
        f.sha256,
      );
    }
    const expected = new Set([`${base}/manifest.json`, `${base}/_COMPLETE`, ...manifest.files.map((f) => `${base}/${f.relative_path}`)]);
    expect(
      keys.filter((k) => k.startsWith(`${base}/`) && !expected.has(k)),
      `objects under ${base}/ the manifest does not list`,
    ).toEqual([]);
  }
  return bases.sort();
}
