/**
 * Manifests the agent never writes but a bucket can hold, on a small session laid out in memory:
 * a manifest replaced while its files are being checked, one that lists the session's own
 * objects as files, and a _COMPLETE without its manifest hash.
 */
import { describe, expect, it } from 'vitest';
import { MemoryS3, type ObjectHead, type S3Backend } from './s3-backend.js';
import { syntheticSession } from './synthetic-session.js';
import { Validator } from './validator.js';

const BUCKET = 'edge-bucket';

function session(id: string, files = 3): MemoryS3 {
  const s3 = new MemoryS3(BUCKET);
  for (const o of syntheticSession('raw/', id, files)) s3.put(o.key, o.body, o.metadata);
  return s3;
}

/** Replaces manifest.json (same manifest-sha256 metadata, other bytes) right after it is first headed. */
class ReplacedAfterFirstHead implements S3Backend {
  private heads = 0;

  constructor(
    private readonly inner: MemoryS3,
    private readonly manifestKey: string,
  ) {}

  async head(bucket: string, key: string): Promise<ObjectHead | null> {
    const head = await this.inner.head(bucket, key);
    if (key === this.manifestKey && ++this.heads === 1 && head) this.inner.put(key, '{"files":[]}\n', head.metadata);
    return head;
  }

  list: S3Backend['list'] = (bucket, req) => this.inner.list(bucket, req);
  getText: S3Backend['getText'] = (bucket, key) => this.inner.getText(bucket, key);
}

describe('manifests the agent never writes', () => {
  it('fails when manifest.json is replaced while the files are checked', async () => {
    const s3 = session('S-REPLACED');
    const v = new Validator(new ReplacedAfterFirstHead(s3, 'raw/S-REPLACED/manifest.json'), 'raw/');
    const r = await v.run(BUCKET, 'raw/S-REPLACED/_COMPLETE');
    expect([r.status, r.error]).toEqual(['FAILED', 'ManifestMismatch']);
    expect(r.cause).toMatch(/^s3:\/\/edge-bucket\/raw\/S-REPLACED\/manifest\.json was replaced while it was being checked \(ETag "\w+" became "\w+"\)$/);
    expect(v.sfn.etlStarts).toEqual([]);
  });

  it('refuses a manifest that lists manifest.json as one of its files', async () => {
    const s3 = session('S-RESERVED');
    const manifest = JSON.parse((await s3.getText(BUCKET, 'raw/S-RESERVED/manifest.json')) ?? '{}') as { files: { relative_path: string }[] };
    const head = await s3.head(BUCKET, 'raw/S-RESERVED/manifest.json');
    manifest.files.push({ ...manifest.files[0], relative_path: 'manifest.json' } as { relative_path: string });
    s3.put('raw/S-RESERVED/manifest.json', JSON.stringify(manifest), head?.metadata ?? {});
    const r = await new Validator(s3, 'raw/').run(BUCKET, 'raw/S-RESERVED/_COMPLETE');
    expect([r.status, r.error]).toEqual(['FAILED', 'SessionInvalid']);
    expect(r.cause).toContain('the manifest lists manifest.json or _COMPLETE of s3://edge-bucket/raw/S-RESERVED/ as a file');
  });

  it('refuses a _COMPLETE without manifest-sha256 metadata', async () => {
    const s3 = session('S-BARE');
    s3.put('raw/S-BARE/_COMPLETE', '');
    const r = await new Validator(s3, 'raw/').run(BUCKET, 'raw/S-BARE/_COMPLETE');
    expect([r.status, r.error, r.cause]).toEqual(['FAILED', 'SessionInvalid', '_COMPLETE has no manifest-sha256 metadata']);
  });

  it('validates a session of one file (no other keys to compare)', async () => {
    const r = await new Validator(session('S-ONE', 1), 'raw/').run(BUCKET, 'raw/S-ONE/_COMPLETE');
    expect(r.status, r.cause).toBe('SUCCEEDED');
  });
});
