import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLoop } from '../../app/scheduler.js';
import { watchRoots } from '../../app/watcher.js';
import { systemClock } from '../../app/clock.js';
import { openTestDatabase, type TestDatabase } from '../helpers/database.js';
import { tempDir, testConfig, testDeps, writeSession } from '../helpers/fixtures.js';
import { listKeys, startTestS3, type TestS3 } from '../helpers/s3.js';

let database: TestDatabase;
let s3: TestS3;

beforeAll(async () => {
  [database, s3] = await Promise.all([openTestDatabase(), startTestS3('wake-bucket')]);
});
afterAll(async () => {
  await Promise.all([database?.close(), s3?.close()]);
});

describe('filesystem events wake the loop on a local disk', () => {
  it('a marker appearing leads to _COMPLETE in seconds with scan_interval_seconds 60 and stable_window_seconds 0', async () => {
    const work = await tempDir();
    const root = join(work.path, 'sessions');
    await mkdir(root);
    const config = testConfig({
      root,
      work: work.path,
      s3,
      overrides: { agent: { scan_interval_seconds: 60, stable_window_seconds: 0, watch_for_changes: 'on' } },
    });
    const { deps, logs } = testDeps(config, database, s3, systemClock as never);
    await writeSession(join(root, 'live'), { 'data.csv': 'x\n' });
    const loop = startLoop(deps);
    const watcher = watchRoots(config, [root], deps.logger, () => loop.wake());
    try {
      await new Promise((r) => setTimeout(r, 1500));
      expect(logs.events('session_waiting').at(-1)?.reason).toMatch(/marker/);
      const t0 = Date.now();
      await writeFile(join(root, 'live', 'session_summary.json'), '{}');
      while (!(await listKeys(s3, 'live/')).includes('live/_COMPLETE')) {
        if (Date.now() - t0 > 30_000) throw new Error('no _COMPLETE within 30 s: the loop was not woken');
        await new Promise((r) => setTimeout(r, 100));
      }
      const latency = (Date.now() - t0) / 1000;
      console.log(`[wake-up] marker → _COMPLETE: ${latency.toFixed(2)} s (scan interval 60 s, window 0)`);
      expect(latency).toBeLessThan(30);
    } finally {
      loop.stop();
      await loop.done;
      await watcher?.close();
      await work.remove();
    }
  });
});
