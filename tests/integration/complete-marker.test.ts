import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { runCycle } from '../../app/scheduler.js';
import { listSessions } from '../../app/state/queries/operator.js';
import type { TestDatabase } from '../helpers/database.js';
import { testConfig, testDeps, writeSession } from '../helpers/fixtures.js';
import { expectCompletedSessionsIntact } from '../helpers/integrity.js';
import { S3Proxy, type Exchange } from '../helpers/s3-proxy.js';
import { getMetadata, type TestS3 } from '../helpers/s3.js';
import { useSessionRig } from '../helpers/session-rig.js';

let database: TestDatabase;
let s3: TestS3;
let work: { path: string; remove(): Promise<void> };
let root: string;
let proxy: S3Proxy;

useSessionRig('marker-bucket', (rig) => ({ database, s3, work, root, proxy } = rig), { proxy: true });

const FILES = { 'big.bin': randomBytes(12 * 1024 * 1024 + 3), 'data.csv': 'a,b\n1,2\n', 'session_summary.json': '{}' };

async function uploadThroughProxy(): Promise<ReturnType<typeof testDeps>> {
  const setup = testDeps(
    testConfig({ root, work: work.path, s3: { endpoint: proxy.url, bucket: s3.bucket }, overrides: { upload: { part_size_mb: 5 } } }),
    database,
    s3,
  );
  await writeSession(join(root, 'run'), FILES);
  await runCycle(setup.deps, new AbortController().signal);
  await runCycle(setup.deps, new AbortController().signal);
  return setup;
}

const isCompletePut = (e: Exchange) => e.method === 'PUT' && e.key === 'run/_COMPLETE';

describe('_COMPLETE', () => {
  it('is sent with If-None-Match: *, after manifest.json is stored, which is after every file is', async () => {
    // Held answers widen the window in which a request sent too early would overlap them.
    proxy.beforeForward = async (e) => {
      if ((e.method === 'POST' && e.query.has('uploadId')) || (e.method === 'PUT' && e.key === 'run/manifest.json')) await sleep(300);
    };
    await uploadThroughProxy();
    const [marker, ...moreMarkers] = proxy.exchanges.filter(isCompletePut);
    const [manifest, ...moreManifests] = proxy.requestsFor('run/manifest.json', 'PUT');
    expect([moreMarkers, moreManifests]).toEqual([[], []]);
    expect(marker?.headers['if-none-match']).toBe('*');
    const fileWrites = proxy.exchanges.filter((e) => (e.method === 'PUT' || e.method === 'POST') && e.key !== 'run/manifest.json' && e.key !== 'run/_COMPLETE');
    expect(fileWrites.some((e) => e.query.has('uploadId') && e.method === 'POST')).toBe(true);
    for (const e of fileWrites)
      expect(e.finishedAt, `${e.method} ${e.key}?${e.query} finished before manifest.json was sent`).toBeLessThanOrEqual(manifest?.startedAt ?? -1);
    expect(manifest?.finishedAt).toBeLessThanOrEqual(marker?.startedAt ?? -1);
    expect(await expectCompletedSessionsIntact(s3)).toEqual(['run']);
  });

  it('a second writer of the same manifest loses: S3 answers 412, the first marker stays and the session counts as done', async () => {
    proxy.beforeForward = async (e) => {
      // Another agent's write lands between this agent's check of the key and its own write.
      if (isCompletePut(e)) await writeMarkerAsAnotherAgent(e.headers['x-amz-meta-manifest-sha256'] ?? '');
    };
    const { logs } = await uploadThroughProxy();
    expect(proxy.exchanges.filter(isCompletePut).map((e) => e.status)).toEqual([412]);
    expect(await getMetadata(s3, 'run/_COMPLETE')).toMatchObject({ writer: 'another-agent' });
    expect(logs.events('complete_marker_uploaded')).toEqual([expect.objectContaining({ already_present: true })]);
    expect((await listSessions(database.db))[0]?.status).toBe('processed');
    expect(await expectCompletedSessionsIntact(s3)).toEqual(['run']);
  });

  it('a second writer of another manifest loses too: the marker is never overwritten, the session needs attention', async () => {
    const theirs = 'f'.repeat(64);
    proxy.beforeForward = async (e) => {
      if (isCompletePut(e)) await writeMarkerAsAnotherAgent(theirs);
    };
    await uploadThroughProxy();
    expect(proxy.exchanges.filter(isCompletePut).map((e) => e.status)).toEqual([412]);
    expect(await getMetadata(s3, 'run/_COMPLETE')).toEqual({ 'manifest-sha256': theirs, writer: 'another-agent' });
    expect((await listSessions(database.db))[0]).toMatchObject({ status: 'needs_attention', lastErrorCode: 'COMPLETE_CONFLICT' });
  });
});

async function writeMarkerAsAnotherAgent(manifestHash: string): Promise<void> {
  await s3.client.send(
    new PutObjectCommand({
      Bucket: s3.bucket,
      Key: 'run/_COMPLETE',
      Body: Buffer.alloc(0),
      Metadata: { 'manifest-sha256': manifestHash, writer: 'another-agent' },
    }),
  );
}
