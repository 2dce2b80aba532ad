import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeSession } from '../helpers/fixtures.js';
import { CliProcess, freePort, runCli, waitFor } from './harness.js';
import { cliSuite } from './world.js';

// PGlite starts in 2-8 s per process; this test runs `run` and several commands beside it.
const SLOW = 180_000;

const t = cliSuite('served');

interface StatusRow {
  id: string;
  status: string;
  last_error: string | null;
}

describe('embedded database beside a running agent', { timeout: SLOW }, () => {
  it('status --json, retry and doctor work while run holds PGlite; scan-once still refuses', async () => {
    const env = t.world.env({ DATABASE_URL: undefined, PORT: String(await freePort()) });
    const cli = (...args: string[]) => runCli([...args, '--config', t.cfg.path], env);
    // A top-level _COMPLETE: needs_attention at once, so there is something to retry.
    await writeSession(join(t.cfg.root, 'run-x'), { 'data.csv': '1\n', 'session_summary.json': '{}', _COMPLETE: '' });
    const agent = new CliProcess(['run', '--config', t.cfg.path], env);
    await agent.waitForEvent('agent_started', 60_000);

    const socketDir = join(t.cfg.stateDir, 'socket');
    expect((await stat(socketDir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(socketDir, '.s.PGSQL.5432'))).mode & 0o777).toBe(0o600);

    const stuck = await waitFor(
      async () => {
        const r = await cli('status', '--json');
        expect(r.code, r.err).toBe(0);
        return (JSON.parse(r.out) as StatusRow[]).find((s) => s.id === 'run-x' && s.status === 'needs_attention');
      },
      60_000,
      'run-x in needs_attention, read through the running agent',
    );
    expect(stuck?.last_error).toMatch(/_COMPLETE/);

    // Two commands at once: the agent serves one at a time, the other waits its turn.
    const both = await Promise.all([cli('status', '--json'), cli('status', 'run-x')]);
    for (const r of both) expect(r.code, r.err).toBe(0);

    const retried = await cli('retry', 'run-x');
    expect(retried.code, retried.err).toBe(0);
    expect(retried.out).toMatch(/needs_attention → waiting_for_stable/);

    const doctor = await cli('doctor');
    expect(doctor.out).toMatch(/PASS {2}state database: embedded PGlite, served by the running agent/);
    expect(doctor.out).not.toMatch(/security group/);

    // A second worker on the same database still fails fast.
    const second = await cli('scan-once');
    expect(second.code).toBe(3);
    expect(second.err).toMatch(/in use by another uploader-agent/);

    // The agent kept working through all of it, and goes on after the commands.
    expect(agent.running).toBe(true);
    agent.kill('SIGTERM');
    expect((await agent.exited).code, agent.err).toBe(0);
    await expect(stat(join(socketDir, '.s.PGSQL.5432'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('doctor while another process holds the embedded database without serving it: says so, not the network', async () => {
    const env = t.world.env({ DATABASE_URL: undefined });
    // scan-once holds the lock but does not serve; a lock naming a live pid stands in for it.
    await mkdir(t.cfg.stateDir, { recursive: true });
    await writeFile(join(t.cfg.stateDir, 'agent.lock'), String(process.pid));
    const doctor = await runCli(['doctor', '--config', t.cfg.path], env);
    expect(doctor.code).toBe(1);
    expect(doctor.out).toMatch(/FAIL {2}state database: .*in use by another uploader-agent \(pid \d+\)/);
    expect(doctor.out).toMatch(/hint: .*when it has finished/);
    expect(doctor.out).not.toMatch(/security group/);
  });
});
