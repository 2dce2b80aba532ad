import { rm } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeSession } from '../helpers/fixtures.js';
import { listKeys } from '../helpers/s3.js';
import { CliProcess, freePort, logLines, runCli } from './harness.js';
import { cliSuite } from './world.js';

// Each child process starts in ~1 s; this test runs a dozen in sequence.
const SLOW = 180_000;

const t = cliSuite('dismiss');

interface StatusRow {
  id: string;
  status: string;
  dismissed: { by: string; reason: string; at: string } | null;
}

describe('dismiss', { timeout: SLOW }, () => {
  it('a needs_attention session whose folder was deleted is dismissed with who and why, leaves the needs_attention gauge, and its path is free again', async () => {
    const cli = (...args: string[]) => runCli([...args, '--config', t.cfg.path], t.world.env());
    const folder = join(t.cfg.root, 'run-gone');
    await writeSession(folder, { 'data.csv': '1\n', 'session_summary.json': '{}', _COMPLETE: '' });
    expect((await cli('scan-once')).code).toBe(0);
    expect((await cli('scan-once')).code).toBe(1);

    const early = await cli('dismiss', 'run-gone', '--reason', 'test run');
    expect(early.code).toBe(1);
    expect(early.err).toMatch(/its folder .*run-gone still exists/);

    await rm(folder, { recursive: true });
    expect((await cli('dismiss', 'run-gone')).code).toBe(2); // --reason is required
    const who = `${userInfo().username}@${hostname()}`;
    const done = await cli('dismiss', 'run-gone', '--reason', 'deleted: a test run');
    expect(done.code, done.err).toBe(0);
    expect(done.out).toBe(`session run-gone (row ${/row (\d+)/.exec(done.out)?.[1]}): needs_attention → dismissed (by ${who}: deleted: a test run)\n`);
    expect(logLines(done.err).find((l) => l.event === 'session_dismissed')).toMatchObject({
      from: 'needs_attention',
      to: 'dismissed',
      by: who,
      reason: 'deleted: a test run',
    });

    const [row] = JSON.parse((await cli('status', '--json')).out) as StatusRow[];
    expect(row).toMatchObject({ id: 'run-gone', status: 'dismissed', dismissed: { by: who, reason: 'deleted: a test run' } });
    expect((await cli('status')).out).toMatch(/run-gone\s+dismissed\s.*dismissed by .*: deleted: a test run/);
    expect((await cli('status', 'run-gone')).out).toMatch(/needs_attention → dismissed {2}dismissed by .*: deleted: a test run/);

    const retried = await cli('retry', 'run-gone');
    expect(retried.code).toBe(1);
    expect(retried.err).toMatch(/a dismissed session stays dismissed/);

    const port = await freePort();
    const agent = new CliProcess(['run', '--config', t.cfg.path], t.world.env({ PORT: String(port) }));
    await agent.waitForEvent('cycle_completed', 30_000);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    agent.kill('SIGTERM');
    await agent.exited;
    expect(metrics).toMatch(/^uploader_sessions\{state="dismissed"\} 1$/m);
    expect(metrics).not.toMatch(/^uploader_sessions\{state="needs_attention"\} [1-9]/m);

    // A folder made at the same path later is a new session, and may use the id the dismissed one never uploaded under.
    await writeSession(folder, { 'data.csv': '2\n', 'session_summary.json': '{}' });
    expect((await cli('scan-once')).code).toBe(0);
    const up = await cli('scan-once');
    expect(up.code, up.out).toBe(0);
    expect(await listKeys(t.world.s3, t.cfg.prefix)).toContain(`${t.cfg.prefix}/run-gone/_COMPLETE`);
    const rows = JSON.parse((await cli('status', '--json')).out) as StatusRow[];
    expect(rows.map((r) => r.status)).toEqual(['dismissed', 'processed']);
  });
});
