import { createHash } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SessionFile, SkippedEntry } from '../share/session-listing.js';

export interface ManifestFile {
  relative_path: string;
  size: number;
  sha256: string;
  modified_time: string;
}

export interface Manifest {
  schema_version: '1.0';
  session_id: string;
  machine_id: string;
  lab_id: string;
  session_path: string;
  files: ManifestFile[];
  file_count: number;
  total_bytes: number;
  skipped_entries?: SkippedEntry[];
}

export function buildManifest(input: {
  sessionId: string;
  machineId: string;
  labId: string;
  sessionPath: string;
  files: readonly SessionFile[];
  sha256: ReadonlyMap<string, string>;
  skipped: readonly SkippedEntry[];
}): Manifest {
  const files = input.files.map((f) => {
    const sha = input.sha256.get(f.relativePath);
    if (!sha) throw new Error(`no SHA-256 for ${f.relativePath}`);
    return { relative_path: f.relativePath, size: f.size, sha256: sha, modified_time: isoFromNs(f.mtimeNs) };
  });
  const manifest: Manifest = {
    schema_version: '1.0',
    session_id: input.sessionId,
    machine_id: input.machineId,
    lab_id: input.labId,
    session_path: input.sessionPath,
    files,
    file_count: files.length,
    total_bytes: files.reduce((n, f) => n + f.size, 0),
  };
  if (input.skipped.length > 0) manifest.skipped_entries = [...input.skipped];
  return manifest;
}

/** ISO 8601 UTC with millisecond precision. */
export function isoFromNs(ns: bigint): string {
  return new Date(Number(ns / 1_000_000n)).toISOString();
}

/** Sorted keys, no whitespace: the form the manifest hash is taken over. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

/** The bytes of manifest.json in S3: the same object pretty-printed with sorted keys. */
export function prettyManifest(manifest: Manifest): Buffer {
  return Buffer.from(`${JSON.stringify(sortKeys(manifest), null, 2)}\n`, 'utf8');
}

export function manifestHash(manifest: Manifest): string {
  return createHash('sha256').update(canonicalJson(manifest)).digest('hex');
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/** Keeps `{dir}/{session_id}_{hash}.json`, written atomically. */
export async function writeManifestCopy(dir: string, manifest: Manifest, hash: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${manifest.session_id}_${hash}.json`);
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, prettyManifest(manifest));
  await rename(tmp, path);
  return path;
}
