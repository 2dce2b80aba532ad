import { randomBytes } from 'node:crypto';
import { mkdir, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCycle } from '../../app/scheduler.js';
import { listSessions } from '../../app/state/queries/operator.js';
import { emptyTables, openTestDatabase, type TestDatabase } from '../helpers/database.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { tempDir, testConfig, testDeps, writeSession } from '../helpers/fixtures.js';
import { expectCompletedSessionsIntact } from '../helpers/integrity.js';
import { emptyBucket, getObject, sha256, startTestS3, type TestS3 } from '../helpers/s3.js';

let database: TestDatabase;
let s3: TestS3;

beforeAll(async () => {
  [database, s3] = await Promise.all([openTestDatabase(), startTestS3('resume-bucket')]);
});
afterAll(async () => {
  await Promise.all([database?.close(), s3?.close()]);
});

const partPuts = (requests: string[]) =>
  requests.filter((r) => r.startsWith('PUT') && r.includes('partNumber=')).map((r) => Number(/partNumber=(\d+)/.exec(r)?.[1]));

/** One cycle, stopped (as SIGTERM would) once `parts` part uploads have gone through the proxy. */
async function runCycleStoppedAfterParts(deps: Parameters<typeof runCycle>[0], proxy: FaultProxy, parts: number): Promise<void> {
  const stop = new AbortController();
  const watcher = setInterval(() => {
    if (partPuts(proxy.requests).length >= parts) stop.abort(new DOMException('stopping', 'AbortError'));
  }, 5);
  try {
    await runCycle(deps, stop.signal);
  } finally {
    clearInterval(watcher);
  }
}

describe('resuming an interrupted upload', () => {
  let work: Awaited<ReturnType<typeof tempDir>>;
  let proxy: FaultProxy;
  let root: string;
  // Every test's S3 traffic goes through its own proxy, which records it and injects faults.
  const configWith = (upload: Record<string, number>) =>
    testConfig({ root, work: work.path, s3: { endpoint: proxy.url, bucket: s3.bucket }, overrides: { upload } });

  beforeEach(async () => {
    work = await tempDir();
    proxy = await new FaultProxy('127.0.0.1', Number(new URL(s3.endpoint).port), true).start();
    root = join(work.path, 'sessions');
    await mkdir(root);
    await emptyTables(database.db);
    await emptyBucket(s3);
  });
  afterEach(async () => {
    await proxy.close();
    await work.remove();
  });

  it('a file too large for 10,000 parts of part_size_mb goes up in larger parts (recorded for resuming)', async () => {
    const folder = join(root, 'camera');
    await mkdir(folder, { recursive: true });
    // A sparse file one byte over 10,000 × 5 MiB (nothing is written to disk).
    const frames = join(folder, 'frames.raw');
    await writeFile(frames, '');
    await truncate(frames, 5 * 1024 * 1024 * 10_000 + 1);
    await writeFile(join(folder, 'session_summary.json'), '{}');
    const config = configWith({ part_size_mb: 5, concurrency: 2 });
    const { deps } = testDeps(config, database, s3);
    await runCycle(deps, new AbortController().signal);

    await runCycleStoppedAfterParts(deps, proxy, 1);
    const uploads = await database.db.query<{ part_size: string; size: string }>('SELECT part_size, size FROM uploader_multipart_uploads');
    expect(uploads.rows.map((r) => [Number(r.part_size), Number(r.size)])).toEqual([[6 * 1024 * 1024, 5 * 1024 * 1024 * 10_000 + 1]]);
    // The parts that went out before the stop were 6 MiB each.
    const sent = proxy.requests.flatMap((r, i) => (r.startsWith('PUT') && r.includes('partNumber=') ? [Number(proxy.headers[i]?.['content-length'])] : []));
    expect(sent.length).toBeGreaterThan(0);
    expect(sent).toEqual(sent.map(() => 6 * 1024 * 1024));
  });

  it('a multipart upload stopped mid-way resumes from its completed parts, and the object is byte-exact', async () => {
    const big = randomBytes(40 * 1024 * 1024);
    await writeSession(join(root, 'big'), { 'frames.bin': big, 'session_summary.json': '{}' });
    const config = configWith({ part_size_mb: 5, concurrency: 2 });
    const { deps, logs } = testDeps(config, database, s3);
    // Slow enough that the stop lands between parts.
    proxy.delayMs = 20;
    await runCycle(deps, new AbortController().signal);

    await runCycleStoppedAfterParts(deps, proxy, 4);
    expect((await listSessions(database.db))[0]?.status).toBe('uploading');
    expect(logs.events('session_interrupted')).toHaveLength(1);
    const recorded = await database.db.query<{ n: string }>('SELECT count(*) AS n FROM uploader_multipart_parts');
    const partsKept = Number(recorded.rows[0]?.n);
    expect(partsKept).toBeGreaterThanOrEqual(2);

    proxy.delayMs = 0;
    const before = proxy.requests.length;
    await runCycle(deps, new AbortController().signal);
    const resent = partPuts(proxy.requests.slice(before));
    expect((await listSessions(database.db))[0]?.status).toBe('processed');
    // 8 parts in all; the ones recorded before the stop were not sent again.
    expect(resent.length).toBe(8 - partsKept);
    expect(logs.events('upload_file_succeeded').find((e) => e.file === 'frames.bin')?.resumed_parts).toBe(partsKept);
    const got = await getObject(s3, 'big/frames.bin');
    expect(got.length).toBe(big.length);
    expect(sha256(got)).toBe(sha256(big));
    const left = await database.db.query('SELECT * FROM uploader_multipart_uploads');
    expect(left.rowCount).toBe(0);
    // The manifest's SHA-256 covers the parts sent before the stop, read again, as well.
    expect(await expectCompletedSessionsIntact(s3)).toEqual(['big']);
  });

  it('an upload completed in S3 whose answer was lost is sent afresh on the next attempt, not retried forever', async () => {
    const big = randomBytes(12 * 1024 * 1024);
    await writeSession(join(root, 'done-twice'), { 'frames.bin': big, 'session_summary.json': '{}' });
    const config = configWith({ part_size_mb: 5, initial_backoff_seconds: 1 });
    const { deps, clock, logs } = testDeps(config, database, s3);
    await runCycle(deps, new AbortController().signal);

    // The server completes the upload; the agent never hears it did.
    proxy.dropResponseTo = /^POST \S+uploadId=/;
    await runCycle(deps, new AbortController().signal);
    proxy.dropResponseTo = null;
    expect((await listSessions(database.db))[0]?.status).toBe('failed');
    expect(sha256(await getObject(s3, 'done-twice/frames.bin'))).toBe(sha256(big));

    for (let i = 0; i < 4 && (await listSessions(database.db))[0]?.status !== 'processed'; i++) {
      clock.advance(60);
      await runCycle(deps, new AbortController().signal);
    }
    expect((await listSessions(database.db))[0]?.status).toBe('processed');
    expect(sha256(await getObject(s3, 'done-twice/frames.bin'))).toBe(sha256(big));
    expect(logs.events('session_failed').map((e) => (e.err as { code: string }).code)).toContain('S3_RESUME_FAILED');
    expect(await expectCompletedSessionsIntact(s3)).toEqual(['done-twice']);
  });
});
