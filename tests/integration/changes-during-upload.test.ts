import { appendFile, rename, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCycle } from '../../app/scheduler.js';
import { listSessions } from '../../app/state/queries/operator.js';
import type { TestDatabase } from '../helpers/database.js';
import { testConfig, testDeps, writeSession } from '../helpers/fixtures.js';
import { expectCompletedSessionsIntact } from '../helpers/integrity.js';
import { S3Proxy, type Exchange } from '../helpers/s3-proxy.js';
import { getObject, listKeys, type TestS3 } from '../helpers/s3.js';
import { useSessionRig } from '../helpers/session-rig.js';

let database: TestDatabase;
let s3: TestS3;
let work: { path: string; remove(): Promise<void> };
let root: string;
let proxy: S3Proxy;

useSessionRig('changes-bucket', (rig) => ({ database, s3, work, root, proxy } = rig), { proxy: true });

const FILES = { 'a.csv': 'first file\n', 'b.csv': 'second file\n', 'session_summary.json': '{}' };
const folder = () => join(root, 'live');

/**
 * One request at a time (files go up in listing order: a.csv, b.csv, …); `change` runs once, at
 * the moment the PUT of `key` reaches the proxy and before S3 has it, so it lands between two
 * files' reads without any timing luck.
 */
async function uploadChangingAt(key: string, change: () => Promise<void>): Promise<ReturnType<typeof testDeps>> {
  const setup = testDeps(
    testConfig({ root, work: work.path, s3: { endpoint: proxy.url, bucket: s3.bucket }, overrides: { upload: { concurrency: 1 } } }),
    database,
    s3,
  );
  await writeSession(folder(), FILES);
  await runCycle(setup.deps, new AbortController().signal);
  let done = false;
  proxy.beforeForward = async (e: Exchange) => {
    if (done || e.method !== 'PUT' || e.key !== key) return;
    done = true;
    await change();
  };
  await runCycle(setup.deps, new AbortController().signal);
  expect(done, `no PUT of ${key} was seen`).toBe(true);
  return setup;
}

async function expectVoidAttempt(logs: ReturnType<typeof testDeps>['logs']): Promise<void> {
  expect(logs.events('session_changed')).toHaveLength(1);
  expect((await listSessions(database.db))[0]?.status).toBe('waiting_for_stable');
  expect(await listKeys(s3, 'live/')).not.toContain('live/_COMPLETE');
}

describe('a folder that changes while it is uploaded gets no _COMPLETE', () => {
  it('a file added during the upload: the attempt is void; once the folder holds still, the new file lands too', async () => {
    const { deps, logs } = await uploadChangingAt('live/a.csv', () => writeFile(join(folder(), 'late.csv'), 'written during the upload\n'));
    await expectVoidAttempt(logs);
    await runCycle(deps, new AbortController().signal);
    await runCycle(deps, new AbortController().signal);
    expect((await listSessions(database.db))[0]?.status).toBe('processed');
    expect((await getObject(s3, 'live/late.csv')).toString()).toBe('written during the upload\n');
    expect(await expectCompletedSessionsIntact(s3)).toEqual(['live']);
  });

  it('a file changed after it was uploaded, while the next one goes up: the attempt is void; the new bytes land later', async () => {
    const { deps, logs } = await uploadChangingAt('live/b.csv', () => appendFile(join(folder(), 'a.csv'), 'appended after a.csv went up\n'));
    await expectVoidAttempt(logs);
    await runCycle(deps, new AbortController().signal);
    await runCycle(deps, new AbortController().signal);
    expect((await getObject(s3, 'live/a.csv')).toString()).toContain('appended after');
    expect(await expectCompletedSessionsIntact(s3)).toEqual(['live']);
  });

  it('a file swapped for a link after the listing is not followed: nothing outside the folder is read or uploaded', async () => {
    // The link's target looks like the file it replaces (same size and mtime), so only
    // refusing to follow the link keeps its bytes out of S3.
    const secret = join(work.path, 'outside.txt');
    const { deps, logs } = await uploadChangingAt('live/a.csv', async () => {
      const original = await stat(join(folder(), 'b.csv'));
      await writeFile(secret, 'SECRET-OUTSIDE\n'.slice(0, original.size).padEnd(original.size, '!'));
      await utimes(secret, original.atime, original.mtime);
      await rename(join(folder(), 'b.csv'), join(work.path, 'b.csv.moved-away'));
      await symlink(secret, join(folder(), 'b.csv'));
    });
    await expectVoidAttempt(logs);
    expect((await listSessions(database.db))[0]?.lastError).toContain('b.csv became a link after the folder was listed');
    expect(proxy.requestsFor('live/b.csv', 'PUT')).toEqual([]);
    for (const key of await listKeys(s3)) expect((await getObject(s3, key)).toString(), key).not.toContain('SECRET');

    // Held still with the link in it, the session lands without the link's target.
    await runCycle(deps, new AbortController().signal);
    await runCycle(deps, new AbortController().signal);
    expect(await listKeys(s3, 'live/')).not.toContain('live/b.csv');
    expect(await expectCompletedSessionsIntact(s3)).toEqual(['live']);
  });
});
