import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { hostname, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { writeSession } from '../helpers/fixtures.js';
import { listKeys } from '../helpers/s3.js';
import { closedPort, runCli, uniqueName, writeAgentConfig, type AgentConfigFile } from './harness.js';
import { openCliWorld, type CliWorld } from './world.js';

let world: CliWorld;
let work: string;
let cfg: AgentConfigFile;

beforeAll(async () => {
  world = await openCliWorld();
});
afterAll(async () => {
  await world?.close();
});
beforeEach(async () => {
  await world.reset();
  work = await mkdtemp(join(tmpdir(), 'cli-doctor-'));
  cfg = await writeAgentConfig(work, { endpoint: world.s3.endpoint, bucket: world.s3.bucket, prefix: uniqueName('dr') });
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

/** The sessions as `status --json` reports them: the same on PostgreSQL and on the embedded database. */
async function statusJson(): Promise<{ id: string; status: string; updated_at: string }[]> {
  const r = await runCli(['status', '--json', '--config', cfg.path], world.env());
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out) as { id: string; status: string; updated_at: string }[];
}

describe('doctor', () => {
  it('passes every check on a working setup, and leaves no probe object under the prefix', async () => {
    const r = await runCli(['doctor', '--config', cfg.path], world.env());
    expect(r.code, r.err).toBe(0);
    const lines = r.out
      .trim()
      .split('\n')
      .filter((l) => /^(PASS|FAIL)/.test(l));
    expect(lines.every((l) => l.startsWith('PASS'))).toBe(true);
    expect(r.out).toMatch(/PASS {2}config/);
    expect(r.out).toMatch(new RegExp(`PASS {2}root ${cfg.root}`));
    expect(r.out).toMatch(/PASS {2}state database/);
    expect(r.out).toMatch(/PASS {2}S3 .*probe written, read back and removed/);
    expect(r.out).toMatch(/PASS {2}clock skew/);
    expect(await listKeys(world.s3, `${cfg.prefix}/`)).toEqual([]);
  });

  it('fails with a hint for an unmounted NFS_MOUNTS point and an unreachable S3; exit 1', async () => {
    const port = await closedPort();
    const bad = await writeAgentConfig(work, { endpoint: `http://127.0.0.1:${port}`, bucket: world.s3.bucket, prefix: 'x' });
    const r = await runCli(['doctor', '--config', bad.path], world.env({ NFS_MOUNTS: `labpc:/export:${bad.root}` }));
    expect(r.code).toBe(1);
    expect(r.out).toMatch(new RegExp(`FAIL {2}root ${bad.root}: NFS_MOUNTS says ${bad.root} is a mount point, but nothing is mounted there`));
    expect(r.out).toMatch(/FAIL {2}S3 .*\n\s+hint: check credentials/);
    expect(r.out).toMatch(/PASS {2}state database/);
  });

  it('fails for a missing root', async () => {
    await rm(cfg.root, { recursive: true });
    const r = await runCli(['doctor', '--config', cfg.path], world.env());
    expect(r.code).toBe(1);
    expect(r.out).toMatch(new RegExp(`FAIL {2}root ${cfg.root}: cannot list it \\(ENOENT\\)\n\\s+hint: is the share mounted`));
  });

  it('reports an invalid config as one failed check', async () => {
    const r = await runCli(['doctor', '--config', join(work, 'missing.yaml')], world.env());
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^FAIL {2}config: .*cannot read config file \(ENOENT\)/m);
  });
});

describe('scan-once --dry-run', () => {
  it('shows what a cycle would do and writes nothing to S3, the share or the database', async () => {
    await writeSession(join(cfg.root, 'ready'), { 'metadata.json': '{"session_id":"DRY-1"}', 'a.csv': 'a', 'session_summary.json': '{}' });
    await writeSession(join(cfg.root, 'open'), { 'a.csv': 'a' });
    await writeSession(join(cfg.root, 'bad'), { 'manifest.json': '{}', 'session_summary.json': '{}' });
    await writeSession(join(cfg.root, 'deep'), {
      [`${'a'.repeat(250)}/${'b'.repeat(250)}/${'c'.repeat(250)}/${'d'.repeat(250)}.csv`]: 'x',
      'session_summary.json': '{}',
    });
    // One real cycle records the first observation, so the next would upload.
    expect((await runCli(['scan-once', '--config', cfg.path], world.env())).code).toBe(0);
    const before = await statusJson();
    expect(before).toHaveLength(4);

    const r = await runCli(['scan-once', '--dry-run', '--json', '--config', cfg.path], world.env());
    expect(r.code, r.err).toBe(0);
    const { plan } = JSON.parse(r.out) as {
      plan: { folder: string; action: string; reason: string; session_id?: string; files?: number; keys?: string[]; move_to?: string }[];
    };
    const by = Object.fromEntries(plan.map((p) => [p.folder.split('/').at(-1), p]));
    expect(by.ready).toMatchObject({ action: 'upload', session_id: 'DRY-1', files: 3, move_to: join(cfg.root, 'processed', 'ready') });
    expect(by.ready?.keys).toEqual([
      `${cfg.prefix}/DRY-1/a.csv`,
      `${cfg.prefix}/DRY-1/metadata.json`,
      `${cfg.prefix}/DRY-1/session_summary.json`,
      `${cfg.prefix}/DRY-1/manifest.json`,
      `${cfg.prefix}/DRY-1/_COMPLETE`,
    ]);
    expect(by.open).toMatchObject({ action: 'wait' });
    expect(by.open?.reason).toMatch(/session_summary\.json/);
    expect(by.bad).toMatchObject({ action: 'needs_attention' });
    expect(by.deep).toMatchObject({ action: 'needs_attention' });
    expect(by.deep?.reason).toMatch(/longer than S3's limit of 1024 bytes/);

    const text = await runCli(['scan-once', '--dry-run', '--config', cfg.path], world.env());
    expect(text.out).toMatch(/^dry run: nothing is written/);
    expect(text.out).toMatch(/UPLOAD +.*ready/);

    expect(await listKeys(world.s3, `${cfg.prefix}/`)).toEqual([]);
    expect((await readdir(cfg.root)).sort()).toEqual(['bad', 'deep', 'open', 'ready']);
    expect(await statusJson()).toEqual(before);
  });
});

describe('retry --all-needs-attention', () => {
  it('requeues every needs_attention session and logs who asked', async () => {
    await writeSession(join(cfg.root, 'r1'), { _COMPLETE: '', 'session_summary.json': '{}' });
    await writeSession(join(cfg.root, 'r2'), { 'manifest.json': '', 'session_summary.json': '{}' });
    await runCli(['scan-once', '--config', cfg.path], world.env());
    expect((await runCli(['scan-once', '--config', cfg.path], world.env())).code).toBe(1);
    const r = await runCli(['retry', '--all-needs-attention', '--config', cfg.path], world.env());
    expect(r.code, r.err).toBe(0);
    expect(r.out.trim().split('\n')).toHaveLength(2);
    expect(r.err).toMatch(new RegExp(`"event":"session_retry_requested".*"by":"${userInfo().username}@${hostname()}"`));
    expect((await statusJson()).map((s) => s.status)).toEqual(['waiting_for_stable', 'waiting_for_stable']);
    const none = await runCli(['retry', '--all-needs-attention', '--config', cfg.path], world.env());
    expect(none.out).toMatch(/no session needs attention/);
    expect((await runCli(['retry', '--config', cfg.path], world.env())).code).toBe(2);
  });
});
