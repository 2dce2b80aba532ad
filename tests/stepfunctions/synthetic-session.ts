/**
 * A session laid out in S3 exactly as the agent writes it (README "What lands in S3"), without
 * running the agent: for the 1,000 to 100,000-file runs, where the agent's own upload is not
 * what is being measured. Files are tiny; paths look like a camera session's.
 */
import { createHash } from 'node:crypto';

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

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

export interface SyntheticObject {
  key: string;
  body: string;
  metadata: Record<string, string>;
}

/** Every object of the session, files first, then manifest.json, then _COMPLETE (the agent's order). */
export function syntheticSession(prefix: string, sessionId: string, fileCount: number): SyntheticObject[] {
  const files = Array.from({ length: fileCount }, (_, i) => {
    const relative_path = `cam${i % 4}/frame_${String(i).padStart(6, '0')}.tif`;
    const body = `frame ${i}\n`;
    return { relative_path, body, sha256: sha256(body), size: Buffer.byteLength(body), modified_time: '2026-11-23T09:17:43.734Z' };
  });
  const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
  files.sort((a, b) => byBytes(a.relative_path, b.relative_path));
  const manifest = {
    schema_version: '1.0',
    session_id: sessionId,
    machine_id: 'synthetic',
    lab_id: 'lab',
    session_path: `/mnt/lab/${sessionId}`,
    files: files.map(({ body: _body, ...entry }) => entry),
    file_count: files.length,
    total_bytes: files.reduce((n, f) => n + f.size, 0),
  };
  const hash = sha256(JSON.stringify(sortKeys(manifest)));
  const base = `${prefix}${sessionId}/`;
  return [
    ...files.map((f) => ({ key: base + f.relative_path, body: f.body, metadata: { sha256: f.sha256 } })),
    { key: `${base}manifest.json`, body: `${JSON.stringify(sortKeys(manifest), null, 2)}\n`, metadata: { 'manifest-sha256': hash } },
    { key: `${base}_COMPLETE`, body: '', metadata: { 'manifest-sha256': hash } },
  ];
}
