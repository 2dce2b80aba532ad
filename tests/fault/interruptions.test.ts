import { randomBytes } from 'node:crypto';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCycle } from '../../app/scheduler.js';
import { listSessions } from '../../app/state/queries/operator.js';
import { runAgent, startAgent } from '../helpers/agent-process.js';
import { emptyTables, openTestDatabase, type TestDatabase } from '../helpers/database.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { tempDir, testConfig, testDeps, writeSession } from '../helpers/fixtures.js';
import { expectCompletedSessionsIntact } from '../helpers/integrity.js';
import { emptyBucket, getObject, listKeys, sha256, startTestS3, type TestS3 } from '../helpers/s3.js';

let database: TestDatabase;
let s3: TestS3;

beforeAll(async () => {
  [database, s3] = await Promise.all([openTestDatabase(), startTestS3('faults-bucket')]);
});
afterAll(async () => {
  await Promise.all([database?.close(), s3?.close()]);
});
beforeEach(async () => {
  await emptyTables(database.db);
  await emptyBucket(s3);
});

async function withFixture(fn: (f: { root: string; work: string; proxy: FaultProxy }) => Promise<void>) {
  const work = await tempDir();
  const proxy = await new FaultProxy('127.0.0.1', Number(new URL(s3.endpoint).port), true).start();
  try {
    const root = join(work.path, 'sessions');
    await mkdir(root);
    await fn({ root, work: work.path, proxy });
  } finally {
    await proxy.close();
    await work.remove();
  }
}

describe('interruptions and faults', () => {
  it('SIGTERM during an upload: exits 0 within 25 s, leaves a state the next start resumes from', async (ctx) => {
    if (!database.url) ctx.skip('the agent child needs a PostgreSQL server');
    await withFixture(async ({ root, work, proxy }) => {
      const big = randomBytes(30 * 1024 * 1024);
      await writeSession(join(root, 'slow'), { 'big.bin': big, 'session_summary.json': '{}' });
      const configFile = join(work, 'config.yaml');
      await writeFile(
        configFile,
        `agent: {machine_id: m, lab_id: l, scan_interval_seconds: 1, stable_window_seconds: 0}
watch: {session_roots: [{path: ${root}, profile: p}]}
profiles: {p: {required_markers: [session_summary.json]}}
upload: {s3_bucket: ${s3.bucket}, s3_region: us-east-1, s3_endpoint: "${proxy.url}", s3_force_path_style: true, part_size_mb: 5, concurrency: 2}
storage: {manifest_cache_dir: ${join(work, 'manifests')}, log_dir: ${join(work, 'logs')}}
`,
      );
      const env = {
        DATABASE_URL: database.url as string,
        AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
        PORT: '0',
      };
      proxy.delayMs = 40;
      const agent = startAgent(['run', '--config', configFile], env);
      await agent.waitForEvent('upload_started', 30_000);
      const t0 = Date.now();
      agent.child.kill('SIGTERM');
      const { code } = await agent.exited;
      const seconds = (Date.now() - t0) / 1000;
      console.log(`[sigterm] stopped ${seconds.toFixed(2)} s after SIGTERM, mid-upload`);
      expect(code).toBe(0);
      expect(seconds).toBeLessThan(25);
      expect(agent.logs.map((l) => l.event)).toEqual(expect.arrayContaining(['agent_stopping', 'session_interrupted', 'agent_stopped']));
      const [row] = await listSessions(database.db);
      expect(row).toMatchObject({ status: 'uploading', leaseToken: null });
      expect(await listKeys(s3, 'slow/')).not.toContain('slow/_COMPLETE');

      proxy.delayMs = 0;
      const next = await runAgent(['scan-once', '--config', configFile], env);
      expect(next.code).toBe(0);
      expect((await listSessions(database.db))[0]?.status).toBe('processed');
      expect(sha256(await getObject(s3, 'slow/big.bin'))).toBe(sha256(big));
      expect(await expectCompletedSessionsIntact(s3)).toEqual(['slow']);
    });
  }, 90_000);

  it('a file that changes during the upload voids the attempt: no _COMPLETE, back to waiting; the new bytes land later', async () => {
    await withFixture(async ({ root, work, proxy }) => {
      await writeSession(join(root, 'live'), { 'a.bin': randomBytes(12 * 1024 * 1024), 'log.csv': 'line 1\n', 'session_summary.json': '{}' });
      const { deps, logs } = testDeps(
        testConfig({ root, work, s3: { endpoint: proxy.url, bucket: s3.bucket }, overrides: { upload: { concurrency: 1 } } }),
        database,
        s3,
      );
      await runCycle(deps, new AbortController().signal);
      proxy.delayMs = 30;
      const cycle = runCycle(deps, new AbortController().signal);
      const writer = setInterval(() => {
        if (proxy.requests.some((r) => r.includes('partNumber='))) {
          clearInterval(writer);
          void appendFile(join(root, 'live', 'log.csv'), 'line 2 written by the instrument during the upload\n');
        }
      }, 5);
      await cycle;
      clearInterval(writer);
      expect(logs.events('session_changed')).toHaveLength(1);
      expect((await listSessions(database.db))[0]?.status).toBe('waiting_for_stable');
      expect(await listKeys(s3, 'live/')).not.toContain('live/_COMPLETE');

      proxy.delayMs = 0;
      await runCycle(deps, new AbortController().signal);
      await runCycle(deps, new AbortController().signal);
      expect((await listSessions(database.db))[0]?.status).toBe('processed');
      expect((await getObject(s3, 'live/log.csv')).toString()).toContain('line 2');
      expect(await expectCompletedSessionsIntact(s3)).toEqual(['live']);
    });
  });

  it('connections reset mid-upload: the attempt fails and is retried with backoff; other sessions keep flowing', async () => {
    await withFixture(async ({ root, work, proxy }) => {
      await writeSession(join(root, 'a-first'), { 'x.bin': randomBytes(7 * 1024 * 1024), 'session_summary.json': '{}' });
      const { deps, clock } = testDeps(
        testConfig({ root, work, s3: { endpoint: proxy.url, bucket: s3.bucket }, overrides: { upload: { initial_backoff_seconds: 5 } } }),
        database,
        s3,
      );
      await runCycle(deps, new AbortController().signal);
      proxy.fault = 'reset';
      const failed = await runCycle(deps, new AbortController().signal);
      expect(failed.failed).toBe(1);
      expect((await listSessions(database.db))[0]).toMatchObject({ status: 'failed', attempts: 1 });
      proxy.fault = 'none';
      await writeSession(join(root, 'b-second'), { 'y.csv': 'y', 'session_summary.json': '{}' });
      await runCycle(deps, new AbortController().signal);
      await runCycle(deps, new AbortController().signal);
      const byName = Object.fromEntries((await listSessions(database.db)).map((s) => [s.folderName, s.status]));
      expect(byName).toEqual({ 'a-first': 'failed', 'b-second': 'processed' });
      clock.advance(5);
      await runCycle(deps, new AbortController().signal);
      expect((await listSessions(database.db)).find((s) => s.folderName === 'a-first')?.status).toBe('processed');
      expect(await expectCompletedSessionsIntact(s3)).toEqual(['a-first', 'b-second']);
    });
  });
});
