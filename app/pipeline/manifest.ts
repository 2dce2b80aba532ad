import { createHash } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
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
  return [...jsonPieces(value, '', '')].join('');
}

/**
 * The bytes of manifest.json in S3: the same object pretty-printed with sorted keys. Built
 * once per upload (a 100,000-file manifest is ~20 MB) and written from that one buffer. Two
 * passes, one to measure and one to write, so the bytes are never held twice.
 */
export function prettyManifest(manifest: Manifest): Buffer {
  let length = 1;
  for (const text of batched(jsonPieces(manifest, '  ', ''))) length += Buffer.byteLength(text, 'utf8');
  const body = Buffer.allocUnsafe(length);
  let offset = 0;
  for (const text of batched(jsonPieces(manifest, '  ', ''))) offset += body.write(text, offset, 'utf8');
  body.write('\n', offset);
  return body;
}

/** The SHA-256 of the canonical JSON, taken piece by piece (no copy of the whole manifest as one string). */
export function manifestHash(manifest: Manifest): string {
  const hash = createHash('sha256');
  for (const text of batched(jsonPieces(manifest, '', ''))) hash.update(text, 'utf8');
  return hash.digest('hex');
}

/**
 * `JSON.stringify(value, null, indent)` with every object's keys sorted, as a sequence of
 * pieces (an array's elements one by one), so a large manifest is never held as a sorted copy
 * or one string.
 */
function* jsonPieces(value: unknown, indent: string, depth: string): Generator<string> {
  const inner = depth + indent;
  const open = indent ? `\n${inner}` : '';
  if (Array.isArray(value)) {
    if (value.length === 0) {
      yield '[]';
      return;
    }
    for (let i = 0; i < value.length; i++) {
      yield `${i === 0 ? '[' : ','}${open}`;
      yield element(value[i], indent, inner);
    }
    yield `${indent ? `\n${depth}` : ''}]`;
    return;
  }
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record)
      .filter((k) => record[k] !== undefined && typeof record[k] !== 'function')
      .sort();
    if (keys.length === 0) {
      yield '{}';
      return;
    }
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      yield `${i === 0 ? '{' : ','}${open}${JSON.stringify(key)}:${indent ? ' ' : ''}`;
      yield* jsonPieces(record[key], indent, inner);
    }
    yield `${indent ? `\n${depth}` : ''}}`;
    return;
  }
  yield JSON.stringify(value);
}

/**
 * One array element (a file entry: small), by JSON.stringify itself: nested at `depth`, its
 * lines only gain that indentation. What has no JSON form is null inside an array.
 */
function element(value: unknown, indent: string, depth: string): string {
  const text = JSON.stringify(sortKeys(value), null, indent) as string | undefined;
  if (text === undefined) return 'null';
  return indent ? text.replaceAll('\n', `\n${depth}`) : text;
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(record).sort()) sorted[k] = sortKeys(record[k]);
    return sorted;
  }
  return value;
}

/** Joins small pieces into strings of about 64 KiB: one hash update or buffer per batch, not per piece. */
function* batched(pieces: Iterable<string>): Generator<string> {
  let parts: string[] = [];
  let length = 0;
  for (const p of pieces) {
    parts.push(p);
    length += p.length;
    if (length >= 65_536) {
      yield parts.join('');
      parts = [];
      length = 0;
    }
  }
  if (parts.length > 0) yield parts.join('');
}

/** Keeps `{dir}/{session_id}_{hash}.json` (the bytes of manifest.json), written atomically. */
export async function writeManifestCopy(dir: string, sessionId: string, body: Buffer, hash: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${sessionId}_${hash}.json`);
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, body);
    await rename(tmp, path);
  } catch (err) {
    // A partial copy left on a full disk would keep it full for every later attempt.
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
  return path;
}
