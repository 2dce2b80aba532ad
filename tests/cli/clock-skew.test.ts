import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listSessions } from '../../app/state/queries/operator.js';
import { writeSession } from '../helpers/fixtures.js';
import { getObject, listKeys, sha256 } from '../helpers/s3.js';
import { CliProcess, freePort, logLines, runCli, waitFor, writeAgentConfig } from './harness.js';
import { cliSuite } from './world.js';

const t = cliSuite('skew');
// libfaketime (Debian's faketime package) shifts the child's wall clock, as a lab PC without NTP has.
const faketime = ['x86_64-linux-gnu', 'aarch64-linux-gnu'].map((arch) => `/usr/lib/${arch}/faketime/libfaketime.so.1`).find((p) => existsSync(p));

describe.skipIf(!faketime)('a host clock off from the state database', { timeout: 60_000 }, () => {
  it('scan-once warns with the skew when this host is 5 minutes ahead, and says nothing when it is not', async (ctx) => {
    // The embedded database runs inside the agent, on the agent's (shifted) clock.
    if (!t.world.dbUrl) ctx.skip('the agents must share a PostgreSQL server: the embedded database runs on the shifted clock');
    const shifted = t.world.env({ LD_PRELOAD: faketime, FAKETIME: '+300', DONT_FAKE_MONOTONIC: '1' });
    const skewed = await runCli(['scan-once', '--config', t.cfg.path], shifted);
    expect(skewed.code, skewed.err + skewed.out).toBe(0);
    const warning = logLines(skewed.out).find((l) => l.event === 'clock_skew');
    expect(warning?.level).toBe('warn');
    expect(Math.abs((warning?.skew_seconds as number) - 300)).toBeLessThan(5);
    expect(warning?.msg).toMatch(/300 s ahead of the state database/);

    const doctor = await runCli(['doctor', '--config', t.cfg.path], shifted);
    expect(doctor.out).toMatch(/FAIL {2}clock skew against the state database: this host is 30\d\.\d s ahead/);

    const normal = await runCli(['scan-once', '--config', t.cfg.path], t.world.env());
    expect(normal.code, normal.err + normal.out).toBe(0);
    expect(logLines(normal.out).some((l) => l.event === 'clock_skew')).toBe(false);
  });

  it("an agent 5 minutes ahead does not take over a session another agent is uploading: both keep the database's time", async (ctx) => {
    if (!t.world.dbUrl) ctx.skip('the agents must share a PostgreSQL server: the embedded database runs on the shifted clock');
    // A short lease and an upload held to a few seconds by the bandwidth cap.
    const cfg = await writeAgentConfig(t.work.path, {
      endpoint: t.world.s3.endpoint,
      bucket: t.world.s3.bucket,
      prefix: t.cfg.prefix,
      agent: { lease_seconds: 6 },
      upload: { max_bytes_per_second: 256 * 1024 },
    });
    const data = randomBytes(1024 * 1024);
    await writeSession(join(cfg.root, 'slow-run'), { 'frames.bin': data, 'metadata.json': '{"session_id":"SKEW-1"}', 'session_summary.json': '{}' });
    const onTime = new CliProcess(['run', '--config', cfg.path], t.world.env({ PORT: String(await freePort()) }));
    await onTime.waitForEvent('upload_started');
    const ahead = t.world.env({ LD_PRELOAD: faketime, FAKETIME: '+300', DONT_FAKE_MONOTONIC: '1' });
    const aheadRuns = [];
    for (let i = 0; i < 2; i++) aheadRuns.push(await runCli(['scan-once', '--config', cfg.path], ahead));
    await waitFor(async () => (await listSessions(t.world.database.db)).find((r) => r.status === 'processed'), 30_000, 'the session to be processed');
    onTime.kill();
    await onTime.exited;

    for (const r of aheadRuns) {
      expect(r.code, r.err + r.out).toBe(0);
      const lines = logLines(r.out);
      expect(lines.some((l) => l.event === 'clock_skew')).toBe(true);
      expect(lines.filter((l) => l.event === 'upload_started')).toEqual([]);
    }
    const onTimeLines = logLines(onTime.out);
    expect(onTimeLines.filter((l) => l.event === 'lease_lost')).toEqual([]);
    expect(onTimeLines.filter((l) => l.event === 'upload_started')).toHaveLength(1);
    // The database's record agrees: the on-time agent alone started and finished the upload, and
    // no agent wrote a time from its own clock (300 s ahead) into it.
    const onTimeId = onTimeLines.find((l) => l.event === 'agent_started')?.agent_id;
    const transitions = await t.world.database.db.query<{ to_status: string; agent_id: string; ahead: boolean }>(
      "SELECT to_status, agent_id, at > clock_timestamp() + interval '60 seconds' AS ahead FROM uploader_events ORDER BY id",
    );
    const uploadWork = transitions.rows.filter((e) => e.to_status === 'uploading' || e.to_status === 'uploaded');
    expect(uploadWork.filter((e) => e.to_status === 'uploading')).toHaveLength(1);
    expect(new Set(uploadWork.map((e) => e.agent_id))).toEqual(new Set([onTimeId]));
    expect(transitions.rows.filter((e) => e.ahead)).toEqual([]);
    const [session] = await listSessions(t.world.database.db);
    expect(session).toMatchObject({ status: 'processed', attempts: 0 });
    expect(sha256(await getObject(t.world.s3, `${cfg.prefix}/SKEW-1/frames.bin`))).toBe(sha256(data));
    expect(await listKeys(t.world.s3, `${cfg.prefix}/SKEW-1/`)).toContain(`${cfg.prefix}/SKEW-1/_COMPLETE`);
  });
});
