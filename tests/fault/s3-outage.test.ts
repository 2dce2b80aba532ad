import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AgentConfig } from '../../app/config/schema.js';
import { classifyError } from '../../app/errors.js';
import { S3AccessGate, probePrefix } from '../../app/s3/access-gate.js';
import { createS3Client } from '../../app/s3/client.js';
import { runCycle } from '../../app/scheduler.js';
import { listSessions } from '../../app/state/queries/operator.js';
import { emptyTables, openTestDatabase, type TestDatabase } from '../helpers/database.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { tempDir, testConfig, testDeps, writeSession } from '../helpers/fixtures.js';
import { expectCompletedSessionsIntact } from '../helpers/integrity.js';
import { emptyBucket, getObject, listKeys, sha256, startTestS3, type TestS3 } from '../helpers/s3.js';

let database: TestDatabase;
let s3: TestS3;

beforeAll(async () => {
  [database, s3] = await Promise.all([openTestDatabase(), startTestS3('outage-bucket')]);
});
afterAll(async () => {
  await Promise.all([database?.close(), s3?.close()]);
});
beforeEach(async () => {
  await emptyTables(database.db);
  await emptyBucket(s3);
});

const s3Port = () => Number(new URL(s3.endpoint).port);

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('S3 endpoint unreachable (an outage of the path to it)', () => {
  it('mid-upload: uploads pause without spending retries, the reason says S3 unreachable; the next due probe after it is back resumes, byte-exact', async () => {
    const work = await tempDir();
    let proxy = await new FaultProxy('127.0.0.1', s3Port(), true).start();
    const port = proxy.port;
    try {
      const root = join(work.path, 'sessions');
      await mkdir(root);
      const data = randomBytes(12 * 1024 * 1024);
      await writeSession(join(root, 'outage-1'), { 'x.bin': data, 'session_summary.json': '{}' });
      const config = testConfig({
        root,
        work: work.path,
        s3: { endpoint: proxy.url, bucket: s3.bucket },
        overrides: { upload: { max_retries: 1, initial_backoff_seconds: 5, max_backoff_seconds: 3600 } },
      });
      const { deps, clock, logs } = testDeps(config, database, s3);
      await runCycle(deps, new AbortController().signal);

      // Slow the bytes down so the upload is surely under way when the endpoint goes away.
      proxy.delayMs = 50;
      const cycle = runCycle(deps, new AbortController().signal);
      await until(() => proxy.requests.some((r) => /^PUT .*x\.bin\?.*partNumber=/.test(r)), 60_000, 'a part upload started');
      // Nothing listens on the port any more: connections are refused.
      await proxy.close();
      await cycle;

      expect((await listSessions(database.db))[0]).toMatchObject({ status: 'failed', attempts: 0 });
      expect(logs.events('session_failed')).toEqual([]);
      expect(logs.events('session_upload_paused')).toHaveLength(1);
      expect(logs.events('s3_unreachable')).toMatchObject([
        { from: 'uploading', to: 'paused', checks: 1, retry_in_seconds: 5, err: { code: 'S3_ECONNREFUSED' } },
      ]);
      expect(deps.s3Access.reason()).toMatch(/^uploads paused: S3 unreachable: S3 ECONNREFUSED: connect ECONNREFUSED 127\.0\.0\.1:\d+; next check /);

      // Several cycles while it is down: each due probe fails again, with backoff; no retry is spent.
      for (const [check, delay] of [
        [2, 5],
        [3, 10],
        [4, 20],
      ] as const) {
        await runCycle(deps, new AbortController().signal);
        expect(logs.events('s3_unreachable')).toHaveLength(check - 1);
        clock.advance(delay);
        await runCycle(deps, new AbortController().signal);
        expect(logs.events('s3_unreachable').at(-1)).toMatchObject({ from: 'paused', to: 'paused', checks: check, err: { code: 'S3_ECONNREFUSED' } });
        expect((await listSessions(database.db))[0]).toMatchObject({ status: 'failed', attempts: 0 });
      }
      expect(logs.events('session_failed')).toEqual([]);

      proxy = await new FaultProxy('127.0.0.1', s3Port()).start(port);
      // Back, but the next probe is not due yet: still paused.
      await runCycle(deps, new AbortController().signal);
      expect(deps.s3Access.reason()).toMatch(/S3 unreachable/);
      clock.advance(40);
      await runCycle(deps, new AbortController().signal);
      expect(logs.events('s3_access_restored')).toMatchObject([{ from: 'paused', to: 'uploading', kind: 's3_unreachable', after_checks: 4 }]);
      expect(deps.s3Access.reason()).toBeNull();
      expect((await listSessions(database.db))[0]).toMatchObject({ status: 'processed', attempts: 0 });
      const key = (await listKeys(s3)).find((k) => k.endsWith('/x.bin'));
      expect(sha256(await getObject(s3, key as string))).toBe(sha256(data));
      expect(await expectCompletedSessionsIntact(s3)).toHaveLength(1);
    } finally {
      await proxy.close();
      await work.remove();
    }
  });

  it('a probe that gets no answer at all (a path dropping packets) finds S3 unreachable', { timeout: 120_000 }, async () => {
    const held = new Set<Socket>();
    const silent = createServer((socket) => void held.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
    const endpoint = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    try {
      const problem = await probePrefix(createS3Client(testConfig({ root: '/nowhere', work: '/tmp', s3: { endpoint, bucket: s3.bucket } }).upload, {}), {
        s3_bucket: s3.bucket,
        s3_prefix: '',
      });
      expect(problem).toMatchObject({ code: 'S3_NO_ANSWER', kind: 's3_unreachable', retryable: true });
    } finally {
      for (const socket of held) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it("the gate pauses only when the prefix cannot be reached either: a session's own network error while S3 answers is not paused", async () => {
    const upload = (endpoint: string): AgentConfig['upload'] => testConfig({ root: '/nowhere', work: '/tmp', s3: { endpoint, bucket: s3.bucket } }).upload;
    const { deps } = testDeps(testConfig({ root: '/nowhere', work: '/tmp', s3 }), database, s3);
    const closed = await new FaultProxy('127.0.0.1', s3Port()).start();
    const closedUrl = closed.url;
    await closed.close();

    const reachable = new S3AccessGate({ ...deps, s3: createS3Client(upload(s3.endpoint), {}), upload: upload(s3.endpoint) });
    expect(await reachable.unreachable()).toBe(false);
    expect(reachable.reason()).toBeNull();

    const down = new S3AccessGate({ ...deps, s3: createS3Client(upload(closedUrl), {}), upload: upload(closedUrl) });
    expect(await down.unreachable()).toBe(true);
    expect(down.cause()).toMatchObject({ code: 'S3_ECONNREFUSED', kind: 's3_unreachable', retryable: true });
    expect(down.reason()).toMatch(/^uploads paused: S3 unreachable: /);

    // A request in flight reset or timed out (no answer) is checked too: paused only when the prefix cannot be reached.
    const reset = classifyError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET', $metadata: { attempts: 4 } }));
    const answered = classifyError({ name: 'InternalError', message: 'oops', $metadata: { httpStatusCode: 500 } });
    expect(await reachable.stopsUploads(reset)).toBe(false);
    const downToo = new S3AccessGate({ ...deps, s3: createS3Client(upload(closedUrl), {}), upload: upload(closedUrl) });
    expect(await downToo.stopsUploads(answered)).toBe(false);
    expect(downToo.reason()).toBeNull();
    expect(await downToo.stopsUploads(reset)).toBe(true);
    expect(downToo.cause()).toMatchObject({ code: 'S3_ECONNREFUSED' });

    // The agent stopping during the probe is no verdict on S3: nothing pauses.
    const stopping = new S3AccessGate({ ...deps, s3: createS3Client(upload(closedUrl), {}), upload: upload(closedUrl) });
    const stopped = AbortSignal.abort();
    expect(await stopping.unreachable(stopped)).toBe(false);
    expect(await stopping.refused(classifyError({ name: 'AccessDenied', message: 'denied', $metadata: { httpStatusCode: 403 } }), stopped)).toBe(false);
    expect(stopping.reason()).toBeNull();
  });
});
