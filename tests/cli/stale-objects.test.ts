import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { writeSession } from '../helpers/fixtures.js';
import { getObject, listKeys, sha256 } from '../helpers/s3.js';
import { logLines, runCli, sleep, uniqueName, writeAgentConfig } from './harness.js';
import { cliSuite } from './world.js';

const t = cliSuite('stale');
let proxy: FaultProxy;

beforeEach(async () => {
  proxy = await new FaultProxy('127.0.0.1', Number(new URL(t.world.s3.endpoint).port)).start();
});
afterEach(async () => {
  await proxy.close();
});

describe('objects from an aborted attempt', { timeout: 120_000 }, () => {
  it('a file uploaded by a failed attempt and then deleted from the folder is removed (and logged) before _COMPLETE', async () => {
    const id = uniqueName('S');
    const folder = join(t.cfg.root, 'run-1');
    const files = { 'metadata.json': JSON.stringify({ session_id: id }), 'data.csv': 'v,i\n3.7,0.1\n', 'session_summary.json': '{}' };
    await writeSession(folder, { ...files, 'wrong_file.bin': randomBytes(200_000) });
    const cfg = await writeAgentConfig(t.work.path, {
      endpoint: proxy.url,
      bucket: t.world.s3.bucket,
      prefix: t.cfg.prefix,
      upload: { initial_backoff_seconds: 1 },
    });
    const scanOnce = () => runCli(['scan-once', '--config', cfg.path], t.world.env());
    const base = `${t.cfg.prefix}/${id}`;

    expect((await scanOnce()).code).toBe(0);
    // The attempt uploads every file, then never hears back about manifest.json: it fails.
    proxy.dropResponseTo = /^PUT \S*manifest\.json/;
    const failed = await scanOnce();
    expect(failed.code, failed.out).toBe(1);
    expect(await listKeys(t.world.s3, `${base}/`)).toContain(`${base}/wrong_file.bin`);
    expect(await listKeys(t.world.s3, `${base}/`)).not.toContain(`${base}/_COMPLETE`);

    proxy.dropResponseTo = null;
    await rm(join(folder, 'wrong_file.bin'));
    await sleep(1500);
    const done = await scanOnce();
    expect(done.code, done.out).toBe(0);

    const manifest = JSON.parse((await getObject(t.world.s3, `${base}/manifest.json`)).toString()) as { files: { relative_path: string; sha256: string }[] };
    expect(await listKeys(t.world.s3, `${base}/`)).toEqual(
      [...manifest.files.map((f) => `${base}/${f.relative_path}`), `${base}/manifest.json`, `${base}/_COMPLETE`].sort(),
    );
    for (const f of manifest.files) expect(sha256(await getObject(t.world.s3, `${base}/${f.relative_path}`))).toBe(f.sha256);
    const removed = logLines(done.out).filter((l) => l.event === 'stale_object_removed');
    expect(removed).toEqual([expect.objectContaining({ key: `${base}/wrong_file.bin`, size: 200_000, session_id: id, folder })]);
    const lines = logLines(done.out).map((l) => l.event);
    expect(lines.indexOf('stale_object_removed')).toBeLessThan(lines.indexOf('complete_marker_uploaded'));
  });
});
