import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCycle } from '../../app/scheduler.js';
import type { TestDatabase } from '../helpers/database.js';
import { getObject, listKeys, sha256, type TestS3 } from '../helpers/s3.js';
import { testConfig, testDeps, writeSession } from '../helpers/fixtures.js';
import { useSessionRig, type SessionRig } from '../helpers/session-rig.js';

let database: TestDatabase;
let s3: TestS3;
let work: SessionRig['work'];
let root: string;
useSessionRig('transfer-bucket', (rig) => ({ database, s3, work, root } = rig));

describe('the transfer: many requests in flight, memory bounded by upload.buffer_memory_mb', () => {
  it('a session of small files, mid-sized files and a multipart file, in a budget of two parts, arrives byte-exact and complete', async () => {
    const files: Record<string, Buffer> = { 'session_summary.json': Buffer.from('{}') };
    for (let i = 0; i < 60; i++) files[`small/f${i}.bin`] = randomBytes(4096 + i);
    for (let i = 0; i < 4; i++) files[`mid/m${i}.bin`] = randomBytes(2 * 1024 * 1024 + i);
    files['big.bin'] = randomBytes(17 * 1024 * 1024 + 3);
    await writeSession(join(root, 'TR-1'), files);
    const config = testConfig({
      root,
      work: work.path,
      s3: { endpoint: s3.endpoint, bucket: s3.bucket },
      overrides: { upload: { s3_prefix: 'tr', concurrency: 32, part_size_mb: 5, buffer_memory_mb: 10 } },
    });
    const { deps, logs } = testDeps(config, database, s3);
    const signal = new AbortController().signal;
    let peak = 0;
    const watch = setInterval(() => (peak = Math.max(peak, deps.transfer.buffers.held)), 1);
    try {
      await runCycle(deps, signal); // first observation
      await runCycle(deps, signal); // stable: uploads
    } finally {
      clearInterval(watch);
    }
    expect(logs.events('complete_marker_uploaded')).toHaveLength(1);
    for (const [rel, content] of Object.entries(files)) expect(sha256(await getObject(s3, `tr/TR-1/${rel}`)), rel).toBe(sha256(content));
    expect(await listKeys(s3, 'tr/TR-1/')).toContain('tr/TR-1/_COMPLETE');
    // Sampled, so it may miss the peak, but it can never see more than the budget.
    expect(peak).toBeLessThanOrEqual(10 * 1024 * 1024);
    await deps.transfer.close();
    deps.s3.destroy();
  }, 60_000);
});
