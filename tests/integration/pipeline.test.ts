import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCycle } from '../../app/scheduler.js';
import { listSessions } from '../../app/state/queries/operator.js';
import { requeueSession } from '../../app/state/queries/operator-transitions.js';
import { listFileRecords } from '../../app/state/queries/file-records.js';
import { emptyTables, openTestDatabase, type TestDatabase } from '../helpers/database.js';
import { emptyBucket, getObject, listKeys, sha256, startTestS3, type TestS3 } from '../helpers/s3.js';
import { tempDir, testConfig, testDeps, writeSession } from '../helpers/fixtures.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { expectCompletedSessionsIntact } from '../helpers/integrity.js';

let database: TestDatabase;
let s3: TestS3;

beforeAll(async () => {
  [database, s3] = await Promise.all([openTestDatabase(), startTestS3()]);
});
afterAll(async () => {
  await Promise.all([database?.close(), s3?.close()]);
});

let work: { path: string; remove(): Promise<void> };
let root: string;
beforeEach(async () => {
  work = await tempDir();
  root = join(work.path, 'sessions');
  await mkdir(root);
  // Each test starts from an empty bucket, so one failure does not cascade into the next.
  await Promise.all([emptyTables(database.db), emptyBucket(s3)]);
});
afterEach(async () => {
  await work.remove();
});

const signal = new AbortController().signal;

function setup(overrides?: Parameters<typeof testConfig>[0]['overrides'], endpoint = s3.endpoint) {
  const config = testConfig({ root, work: work.path, s3: { endpoint, bucket: s3.bucket }, overrides });
  return testDeps(config, database, s3);
}

const SESSION_FILES = {
  'metadata.json': JSON.stringify({ session_id: 'S-001' }),
  'data.csv': 'a,b\n1,2\n',
  'raw/trace.bin': randomBytes(70_000),
  'session_summary.json': '{"ok":true}',
};

/** Every file of `files` is in S3 under `base` with the same bytes and SHA-256. */
async function expectUploaded(base: string, files: Record<string, string | Buffer>) {
  for (const [rel, content] of Object.entries(files)) {
    const got = await getObject(s3, `${base}/${rel}`);
    expect(got.length, rel).toBe(Buffer.byteLength(content));
    expect(sha256(got), rel).toBe(sha256(content));
  }
}

describe('pipeline against PostgreSQL and a real S3 server', () => {
  it('uploads a complete session with a prefix: files, then manifest.json, then _COMPLETE last; moves it', async () => {
    const proxy = await new FaultProxy('127.0.0.1', Number(new URL(s3.endpoint).port), true).start();
    try {
      const { deps, logs } = setup({ upload: { s3_prefix: 'lab/raw' } }, proxy.url);
      await writeSession(join(root, 'run-1'), SESSION_FILES);
      await runCycle(deps, signal);
      expect(await listKeys(s3)).toEqual([]);
      const report = await runCycle(deps, signal);
      expect(report.failed).toBe(0);

      const keys = await listKeys(s3);
      expect(keys).toEqual([
        'lab/raw/S-001/_COMPLETE',
        'lab/raw/S-001/data.csv',
        'lab/raw/S-001/manifest.json',
        'lab/raw/S-001/metadata.json',
        'lab/raw/S-001/raw/trace.bin',
        'lab/raw/S-001/session_summary.json',
      ]);
      await expectUploaded('lab/raw/S-001', SESSION_FILES);
      expect((await getObject(s3, 'lab/raw/S-001/_COMPLETE')).length).toBe(0);

      const puts = proxy.requests.filter((r) => r.startsWith('PUT ')).map((r) => r.replace(/^PUT \/[^/]+\//, '').split('?')[0]);
      expect(puts.at(-1)).toBe('lab/raw/S-001/_COMPLETE');
      expect(puts.at(-2)).toBe('lab/raw/S-001/manifest.json');
      expect(puts.filter((p) => p?.endsWith('_COMPLETE'))).toHaveLength(1);

      const manifest = JSON.parse((await getObject(s3, 'lab/raw/S-001/manifest.json')).toString()) as {
        files: { relative_path: string; sha256: string; size: number }[];
        file_count: number;
        total_bytes: number;
        session_id: string;
      };
      expect(manifest.session_id).toBe('S-001');
      expect(manifest.file_count).toBe(4);
      expect(manifest.files.map((f) => f.relative_path)).toEqual(['data.csv', 'metadata.json', 'raw/trace.bin', 'session_summary.json']);
      for (const f of manifest.files) expect(f.sha256).toBe(sha256(SESSION_FILES[f.relative_path as keyof typeof SESSION_FILES]));
      // _COMPLETE's manifest-sha256 is the stored manifest's hash; every object is the local file.
      expect(await expectCompletedSessionsIntact(s3)).toEqual(['lab/raw/S-001']);

      expect(await readdir(root)).toEqual(['processed']);
      expect(await readdir(join(root, 'processed'))).toEqual(['run-1']);
      const [row] = await listSessions(database.db);
      expect(row).toMatchObject({ status: 'processed', sessionId: 'S-001', fileCount: 4, processedPath: join(root, 'processed', 'run-1') });
      expect((await listFileRecords(database.db, row!.pk)).every((r) => r.status === 'uploaded' && r.sha256)).toBe(true);
      for (const e of [
        'session_discovered',
        'session_waiting',
        'session_stable',
        'upload_started',
        'upload_file_succeeded',
        'manifest_created',
        'upload_completed',
        'complete_marker_uploaded',
        'session_moved_to_processed',
      ]) {
        expect(logs.events(e).length, e).toBeGreaterThan(0);
      }
      const moved = logs.events('session_moved_to_processed')[0];
      expect(moved).toMatchObject({ from: 'uploaded', to: 'processed' });

      // The next cycles neither upload nor move anything again.
      const before = proxy.requests.length;
      await runCycle(deps, signal);
      await runCycle(deps, signal);
      expect(proxy.requests.slice(before).filter((r) => r.startsWith('PUT'))).toEqual([]);
    } finally {
      await proxy.close();
    }
  });

  it.each([
    ['', 'S-001/data.csv'],
    ['/', 'S-001/data.csv'],
    ['prefix/', 'prefix/S-001/data.csv'],
    ['a//b/', 'a/b/S-001/data.csv'],
  ])('prefix %j gives keys without empty segments', async (prefix, key) => {
    const { deps } = setup({ upload: { s3_prefix: prefix } });
    await writeSession(join(root, 'run-1'), SESSION_FILES);
    await runCycle(deps, signal);
    await runCycle(deps, signal);
    expect(await listKeys(s3)).toContain(key);
    expect((await listKeys(s3)).every((k) => !k.startsWith('/') && !k.includes('//'))).toBe(true);
  });

  it('uploads files larger than the part size with multipart, byte-exact, each with its own SHA-256 in the manifest', async () => {
    // Two large files hashed at once on the worker thread, interleaved part by part.
    const big = randomBytes(12 * 1024 * 1024 + 12345);
    const other = randomBytes(11 * 1024 * 1024 + 1);
    const files = { ...SESSION_FILES, 'frames/big.bin': big, 'frames/other.bin': other };
    const proxy = await new FaultProxy('127.0.0.1', Number(new URL(s3.endpoint).port), true).start();
    const { deps } = setup(undefined, proxy.url);
    await writeSession(join(root, 'run-big'), files);
    try {
      await runCycle(deps, signal);
      await runCycle(deps, signal);
    } finally {
      await proxy.close();
    }
    await expectUploaded('S-001', files);
    // Each part is one PUT carrying its CRC32, sent at once: no `Expect: 100-continue` round
    // trip to the server before every part (the SDK's default for bodies of 2 MiB and more).
    const parts = proxy.requests.flatMap((r, i) => (r.startsWith('PUT ') && r.includes('partNumber=') ? [proxy.headers[i] ?? {}] : []));
    expect(parts).toHaveLength(6);
    for (const h of parts) {
      expect(h.expect).toBeUndefined();
      expect(h['x-amz-checksum-crc32']).toMatch(/^[A-Za-z0-9+/]{6}==$/);
      expect(h['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
    }
    const manifest = JSON.parse((await getObject(s3, 'S-001/manifest.json')).toString()) as { files: { relative_path: string; sha256: string }[] };
    const hashes = Object.fromEntries(manifest.files.map((f) => [f.relative_path, f.sha256]));
    expect(hashes).toEqual(Object.fromEntries(Object.entries(files).map(([rel, content]) => [rel, sha256(content)])));
  });

  it('handles nested folders, empty files, spaces and non-ASCII names; ignored temp files are not counted or uploaded', async () => {
    const files = {
      'metadata.json': '{}',
      'deep/er/still/deeper/x.csv': '1\n',
      'empty.txt': '',
      'notes with spaces.txt': 'hello',
      'données/résumé ünïcode 日本.txt': 'été',
      // Characters S3 keys, URLs and signatures treat specially ('+' is a space to some decoders).
      "punct/a+b #1 %20 & c=d;e,f:g@h$i!j'k(l)m*n[o]p{q}r~s^t`u|v.csv": 'p',
      'punct/ trailing space .txt': 't',
      'session_summary.json': '{}',
    };
    const { deps } = setup();
    await writeSession(join(root, 'run_2'), { ...files, 'scratch.tmp': 'x', 'deep/lockfile.lock': 'x' });
    await runCycle(deps, signal);
    await runCycle(deps, signal);
    await expectUploaded('run_2', files);
    const keys = await listKeys(s3, 'run_2/');
    expect(keys.some((k) => k.endsWith('.tmp') || k.endsWith('.lock'))).toBe(false);
    const manifest = JSON.parse((await getObject(s3, 'run_2/manifest.json')).toString()) as { file_count: number };
    expect(manifest.file_count).toBe(8);
  });

  it('a second session is uploaded independently of a broken one', async () => {
    const { deps } = setup();
    await writeSession(join(root, 'good'), { 'data.csv': 'x', 'session_summary.json': '{}' });
    await writeSession(join(root, 'bad'), { 'manifest.json': '{}', 'session_summary.json': '{}' });
    await runCycle(deps, signal);
    const report = await runCycle(deps, signal);
    expect(report.failed).toBe(1);
    const byName = Object.fromEntries((await listSessions(database.db)).map((s) => [s.folderName, s]));
    expect(byName.good?.status).toBe('processed');
    expect(byName.bad?.status).toBe('needs_attention');
    expect(byName.bad?.lastError).toMatch(/manifest\.json/);
    expect(await listKeys(s3, 'bad/')).toEqual([]);
    expect((await readdir(join(root, 'bad'))).sort()).toEqual(['manifest.json', 'session_summary.json']);
  });

  it('an empty root is a quiet cycle', async () => {
    const { deps } = setup();
    const report = await runCycle(deps, signal);
    expect(report).toMatchObject({ discovered: 0, failed: 0, outcomes: [] });
  });

  it('a missing root is reported and the other roots still work', async () => {
    const other = join(work.path, 'other');
    await writeSession(join(other, 'ok'), { 'data.csv': 'x', 'session_summary.json': '{}' });
    const { deps, logs } = setup({
      watch: {
        session_roots: [
          { path: join(work.path, 'nope'), profile: 'battery_session' },
          { path: other, profile: 'battery_session' },
        ],
      },
    });
    await runCycle(deps, signal);
    const report = await runCycle(deps, signal);
    expect(report.rootErrors.map((e) => e.code)).toEqual(['FS_ENOENT']);
    expect(logs.events('root_unavailable')).toHaveLength(2);
    expect(await listKeys(s3, 'ok/')).toContain('ok/_COMPLETE');
  });

  it('waits for markers and for the stability window (clock, not sleep)', async () => {
    const { deps, clock } = setup({ agent: { stable_window_seconds: 300 } });
    await writeSession(join(root, 'w'), { 'data.csv': 'x' });
    await runCycle(deps, signal);
    clock.advance(400);
    await runCycle(deps, signal);
    expect((await listSessions(database.db))[0]?.status).toBe('waiting_for_stable');
    await writeSession(join(root, 'w'), { 'session_summary.json': '{}' });
    await runCycle(deps, signal);
    clock.advance(299);
    await runCycle(deps, signal);
    expect((await listSessions(database.db))[0]?.status).toBe('waiting_for_stable');
    clock.advance(1);
    await runCycle(deps, signal);
    expect((await listSessions(database.db))[0]?.status).toBe('processed');
  });

  it('never moves onto or into an existing processed/<name>: keeps both', async () => {
    const { deps } = setup();
    await mkdir(join(root, 'processed', 'run-1'), { recursive: true });
    await writeFile(join(root, 'processed', 'run-1', 'older.txt'), 'older');
    await writeSession(join(root, 'run-1'), SESSION_FILES);
    await runCycle(deps, signal);
    await runCycle(deps, signal);
    expect((await readdir(join(root, 'processed'))).sort()).toEqual(['run-1', 'run-1.1']);
    expect(await readdir(join(root, 'processed', 'run-1'))).toEqual(['older.txt']);
    expect((await readdir(join(root, 'processed', 'run-1.1'))).sort()).toEqual(['data.csv', 'metadata.json', 'raw', 'session_summary.json']);
  });

  /** Uploads run-1 with its move blocked (a file where processed/ should be); returns the keys that landed. */
  async function uploadedNotMoved(deps: ReturnType<typeof setup>['deps']): Promise<string[]> {
    await writeSession(join(root, 'run-1'), SESSION_FILES);
    await writeFile(join(root, 'processed'), 'not a directory');
    await runCycle(deps, signal);
    await runCycle(deps, signal);
    expect((await listSessions(database.db))[0]).toMatchObject({ status: 'uploaded' });
    return (await listKeys(s3, 'S-001/')).sort();
  }

  it('a failed move leaves the session uploaded and is retried next cycle', async () => {
    const { deps, logs } = setup();
    await uploadedNotMoved(deps);
    expect(logs.events('session_move_failed')).toHaveLength(1);
    expect(await listKeys(s3, 'S-001/')).toContain('S-001/_COMPLETE');
    await rm(join(root, 'processed'));
    await runCycle(deps, signal);
    expect((await listSessions(database.db))[0]).toMatchObject({ status: 'processed' });
    expect(await readdir(join(root, 'processed'))).toEqual(['run-1']);
  });

  it('a folder that changes between its upload and a later move is held in needs_attention, not moved; restored, it is moved on retry', async () => {
    const { deps, logs } = setup();
    const landed = await uploadedNotMoved(deps);
    // The instrument writes a late file before the move can happen.
    await writeFile(join(root, 'run-1', 'late.log'), 'written after the upload');
    await rm(join(root, 'processed'));
    const report = await runCycle(deps, signal);
    expect(report.failed).toBe(1);
    const held = (await listSessions(database.db))[0];
    expect(held).toMatchObject({ status: 'needs_attention', lastErrorCode: 'CHANGED_AFTER_UPLOAD' });
    expect(held?.lastError).toContain('(added late.log)');
    expect(logs.events('session_changed_after_upload')).toEqual([
      expect.objectContaining({ from: 'uploaded', to: 'needs_attention', changes: 'added late.log' }),
    ]);
    expect((await readdir(join(root, 'run-1'))).sort()).toEqual(['data.csv', 'late.log', 'metadata.json', 'raw', 'session_summary.json']);
    expect(await readdir(root)).not.toContain('processed');
    expect((await listKeys(s3, 'S-001/')).sort()).toEqual(landed);

    // Restored as uploaded (the late file taken out): the same manifest, moved without uploading again.
    await rm(join(root, 'run-1', 'late.log'));
    await requeueSession(database.db, held!.pk, 'tester@test', new Date());
    await runCycle(deps, signal);
    await runCycle(deps, signal);
    expect((await listSessions(database.db))[0]).toMatchObject({ status: 'processed' });
    expect(await readdir(join(root, 'processed'))).toEqual(['run-1']);
    expect((await listKeys(s3, 'S-001/')).sort()).toEqual(landed);
  });

  it('move_after_upload: false keeps the folder and never uploads it again', async () => {
    const proxy = await new FaultProxy('127.0.0.1', Number(new URL(s3.endpoint).port), true).start();
    try {
      const { deps } = setup({ agent: { move_after_upload: false } }, proxy.url);
      await writeSession(join(root, 'run-1'), SESSION_FILES);
      await runCycle(deps, signal);
      await runCycle(deps, signal);
      const puts = proxy.requests.filter((r) => r.startsWith('PUT')).length;
      await runCycle(deps, signal);
      await runCycle(deps, signal);
      expect(proxy.requests.filter((r) => r.startsWith('PUT')).length).toBe(puts);
      expect(await readdir(root)).toEqual(['run-1']);
      expect((await listSessions(database.db))[0]?.status).toBe('uploaded');
    } finally {
      await proxy.close();
    }
  });

  it('S3 down: the session fails with backoff, then lands when S3 is back and the retry is due', async () => {
    const proxy = await new FaultProxy('127.0.0.1', Number(new URL(s3.endpoint).port)).start();
    try {
      const { deps, clock, logs } = setup({ upload: { initial_backoff_seconds: 60, max_retries: 3 } }, proxy.url);
      await writeSession(join(root, 'run-1'), SESSION_FILES);
      await runCycle(deps, signal);
      proxy.fault = 'http503';
      const failedCycle = await runCycle(deps, signal);
      expect(failedCycle.failed).toBe(1);
      let [row] = await listSessions(database.db);
      expect(row).toMatchObject({ status: 'failed', attempts: 1 });
      expect(row!.nextAttemptAt!.getTime() - clock.now().getTime()).toBe(60_000);
      expect(logs.events('session_failed')[0]).toMatchObject({ from: 'ready_to_upload', to: 'failed', attempt: 1 });

      proxy.fault = 'none';
      clock.advance(30);
      await runCycle(deps, signal);
      expect((await listSessions(database.db))[0]?.status).toBe('failed');
      clock.advance(31);
      await runCycle(deps, signal);
      [row] = await listSessions(database.db);
      expect(row?.status).toBe('processed');
      await expectUploaded('S-001', SESSION_FILES);
    } finally {
      await proxy.close();
    }
  });

  it('gives up after max_retries: needs_attention, the folder untouched', async () => {
    const proxy = await new FaultProxy('127.0.0.1', Number(new URL(s3.endpoint).port)).start();
    try {
      const { deps, clock } = setup({ upload: { initial_backoff_seconds: 10, max_retries: 2 } }, proxy.url);
      await writeSession(join(root, 'run-1'), SESSION_FILES);
      await runCycle(deps, signal);
      proxy.fault = 'refuse';
      const delays: number[] = [];
      for (let i = 0; i < 3; i++) {
        await runCycle(deps, signal);
        const [row] = await listSessions(database.db);
        if (row?.nextAttemptAt) delays.push((row.nextAttemptAt.getTime() - clock.now().getTime()) / 1000);
        clock.advance(1000);
      }
      expect(delays).toEqual([10, 20]);
      const [row] = await listSessions(database.db);
      expect(row).toMatchObject({ status: 'needs_attention', attempts: 3 });
      expect((await readdir(join(root, 'run-1'))).sort()).toEqual(['data.csv', 'metadata.json', 'raw', 'session_summary.json']);
    } finally {
      await proxy.close();
    }
  });
});
