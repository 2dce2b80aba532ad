import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { listSessions } from '../../app/state/queries/operator.js';
import { compileFsFaultShim } from '../../bench/fs-fault-shim.js';
import { runAgent } from '../helpers/agent-process.js';
import { emptyTables, openTestDatabase, type TestDatabase } from '../helpers/database.js';
import { tempDir, writeSession } from '../helpers/fixtures.js';
import { expectCompletedSessionsIntact } from '../helpers/integrity.js';
import { emptyBucket, listKeys, startTestS3, type TestS3 } from '../helpers/s3.js';

let database: TestDatabase;
let s3: TestS3;
let shim: string;
let work: { path: string; remove(): Promise<void> };

beforeAll(async () => {
  [database, s3] = await Promise.all([openTestDatabase(), startTestS3('fs-faults')]);
  work = await tempDir('fsfault-');
  // The faults come from the C library the agent's process calls, as a sick NFS mount's would.
  // A shim that does not compile fails every test here (gcc and libc6-dev are CI's to install).
  shim = join(work.path, 'fsfault.so');
  compileFsFaultShim(fileURLToPath(new URL('./native/fsfault.c', import.meta.url)), shim);
});
afterAll(async () => {
  await Promise.all([database?.close(), s3?.close(), work?.remove()]);
});
beforeEach(async () => {
  await emptyTables(database.db);
  await emptyBucket(s3);
});

async function setup(name: string, upload = '') {
  const root = join(work.path, name, 'sessions');
  await mkdir(root, { recursive: true });
  const configFile = join(work.path, name, 'config.yaml');
  await writeFile(
    configFile,
    `agent: {machine_id: m, lab_id: l, stable_window_seconds: 0}
watch: {session_roots: [{path: ${root}, profile: p}]}
profiles: {p: {required_markers: [session_summary.json]}}
upload: {s3_bucket: ${s3.bucket}, s3_region: us-east-1, s3_endpoint: "${s3.endpoint}", s3_force_path_style: true, initial_backoff_seconds: 60${upload}}
storage: {manifest_cache_dir: ${join(work.path, name, 'm')}, log_dir: ${join(work.path, name, 'l')}}
`,
  );
  return { root, configFile };
}

const env = (faults: Record<string, string>) => ({
  DATABASE_URL: database.url as string,
  AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
  AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
  LD_PRELOAD: shim,
  ...faults,
});

describe('filesystem faults injected under the real agent', () => {
  it.for([
    ['EIO', 'FSFAULT_READ_EIO', 'FS_EIO'],
    ['ESTALE', 'FSFAULT_READ_ESTALE', 'FS_ESTALE'],
  ] as const)('%s while reading a file: that session fails and is retried with backoff; the others land', async ([name, variable, code], ctx) => {
    if (!database.url) ctx.skip('the agent children need a PostgreSQL server');
    const { root, configFile } = await setup(name);
    await writeSession(join(root, 'sick'), { 'frames-BROKEN.bin': Buffer.alloc(100_000, 1), 'session_summary.json': '{}' });
    await writeSession(join(root, 'healthy'), { 'data.csv': 'x', 'session_summary.json': '{}' });
    const faults = { [variable]: 'frames-BROKEN' };
    expect((await runAgent(['scan-once', '--config', configFile], env(faults))).code).toBe(0);
    const second = await runAgent(['scan-once', '--config', configFile], env(faults));
    expect(second.code).toBe(1);
    const failed = second.logs.find((l) => l.event === 'session_failed');
    expect(failed).toMatchObject({ to: 'failed', err: { code, retryable: true } });
    const byName = Object.fromEntries((await listSessions(database.db)).map((s) => [s.folderName, s]));
    expect(byName.sick).toMatchObject({ status: 'failed', attempts: 1, lastErrorCode: code });
    expect(byName.healthy?.status).toBe('processed');
    expect(await listKeys(s3, 'sick/')).not.toContain('sick/_COMPLETE');
    expect(await readdir(join(root, 'sick'))).toContain('frames-BROKEN.bin');
    expect(await expectCompletedSessionsIntact(s3)).toEqual(['healthy']);
  });

  it('permission denied on a file: needs_attention with the reason, folder untouched, the others land', async (ctx) => {
    if (!database.url) ctx.skip('the agent children need a PostgreSQL server');
    const { root, configFile } = await setup('EACCES');
    await writeSession(join(root, 'locked'), { 'secret-LOCKED.csv': 'x', 'session_summary.json': '{}' });
    await writeSession(join(root, 'open'), { 'data.csv': 'x', 'session_summary.json': '{}' });
    const faults = { FSFAULT_OPEN_EACCES: 'secret-LOCKED' };
    await runAgent(['scan-once', '--config', configFile], env(faults));
    const second = await runAgent(['scan-once', '--config', configFile], env(faults));
    expect(second.code).toBe(1);
    const byName = Object.fromEntries((await listSessions(database.db)).map((s) => [s.folderName, s]));
    expect(byName.locked).toMatchObject({ status: 'needs_attention', lastErrorCode: 'FS_EACCES' });
    expect(byName.locked?.lastError).toContain('secret-LOCKED.csv');
    expect(byName.open?.status).toBe('processed');
    expect((await readdir(join(root, 'locked'))).sort()).toEqual(['secret-LOCKED.csv', 'session_summary.json']);
    expect(await expectCompletedSessionsIntact(s3)).toEqual(['open']);
  });

  it('a file gone between the listing and its upload: the session waits for a stable folder again (no attempt counted); the others land', async (ctx) => {
    if (!database.url) ctx.skip('the agent children need a PostgreSQL server');
    const { root, configFile } = await setup('ENOENT');
    await writeSession(join(root, 'churning'), { 'scratch-GONE.tmpx': 'x', 'data.csv': 'y', 'session_summary.json': '{}' });
    await writeSession(join(root, 'settled'), { 'data.csv': 'x', 'session_summary.json': '{}' });
    const faults = { FSFAULT_OPEN_ENOENT: 'scratch-GONE' };
    await runAgent(['scan-once', '--config', configFile], env(faults));
    const second = await runAgent(['scan-once', '--config', configFile], env(faults));
    expect(second.code).toBe(0);
    expect(second.logs.find((l) => l.event === 'session_changed')).toMatchObject({
      from: 'uploading',
      to: 'waiting_for_stable',
      err: { code: 'SESSION_CHANGED' },
    });
    const byName = Object.fromEntries((await listSessions(database.db)).map((s) => [s.folderName, s]));
    expect(byName.churning).toMatchObject({ status: 'waiting_for_stable', attempts: 0, lastErrorCode: 'SESSION_CHANGED' });
    expect(byName.churning?.lastError).toContain('scratch-GONE.tmpx disappeared after the folder was listed');
    expect(byName.settled?.status).toBe('processed');
    expect(await listKeys(s3, 'churning/')).not.toContain('churning/_COMPLETE');
    // Once the folder holds still, it lands.
    await runAgent(['scan-once', '--config', configFile], env({}));
    await runAgent(['scan-once', '--config', configFile], env({}));
    expect(await listKeys(s3, 'churning/')).toContain('churning/_COMPLETE');
    expect(await expectCompletedSessionsIntact(s3)).toEqual(['churning', 'settled']);
  });

  it('a full disk under manifest_cache_dir: the session fails and is retried; no partial copy is left to fill the disk further', async (ctx) => {
    if (!database.url) ctx.skip('the agent children need a PostgreSQL server');
    const { root, configFile } = await setup('ENOSPC');
    await writeSession(join(root, 'full'), { 'data.csv': 'x', 'session_summary.json': '{}' });
    const manifestDir = join(work.path, 'ENOSPC', 'm');
    const faults = { FSFAULT_WRITE_ENOSPC: `${manifestDir}/` };
    await runAgent(['scan-once', '--config', configFile], env(faults));
    const second = await runAgent(['scan-once', '--config', configFile], env(faults));
    expect(second.code).toBe(1);
    expect(second.logs.find((l) => l.event === 'session_failed')).toMatchObject({ to: 'failed', err: { code: 'FS_ENOSPC', retryable: true } });
    expect(await readdir(manifestDir)).toEqual([]);
    expect(await listKeys(s3, 'full/')).not.toContain('full/_COMPLETE');
  });

  it("a slow share is read upload.concurrency calls at a time, not libuv's 4; UV_THREADPOOL_SIZE still wins", async (ctx) => {
    if (!database.url) ctx.skip('the agent children need a PostgreSQL server');
    const mostInFlight = async (name: string, extraEnv: Record<string, string>) => {
      const { root, configFile } = await setup(name, ', concurrency: 12');
      const files = Object.fromEntries(Array.from({ length: 24 }, (_, i) => [`f${i}.dat`, `file ${i}`]));
      await writeSession(join(root, name), { ...files, 'session_summary.json': '{}' });
      const stats = join(work.path, name, 'stats.json');
      // Every open and read of the session's files holds its thread 50 ms, as an NFS round trip does
      // (libuv closes past the shim).
      const faults = { FSFAULT_LATENCY_US: '50000', FSFAULT_LATENCY_PATH: join(root, name), FSFAULT_STATS: stats, ...extraEnv };
      expect((await runAgent(['scan-once', '--config', configFile], env(faults))).code).toBe(0);
      expect((await runAgent(['scan-once', '--config', configFile], env(faults))).code).toBe(0);
      expect(await listKeys(s3, `${name}/`)).toContain(`${name}/_COMPLETE`);
      return (JSON.parse(await readFile(stats, 'utf8')) as { most_in_flight: number }).most_in_flight;
    };
    const sized = await mostInFlight('slow-share', {});
    expect(sized).toBeGreaterThan(4);
    expect(sized).toBeLessThanOrEqual(12);
    expect(await mostInFlight('slow-share-pinned', { UV_THREADPOOL_SIZE: '2' })).toBeLessThanOrEqual(2);
    expect(await expectCompletedSessionsIntact(s3)).toEqual(['slow-share', 'slow-share-pinned']);
  });
});
