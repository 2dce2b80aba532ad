/**
 * The real CLI against nfs-ganesha through microsocks, under faults: the server killed and
 * restarted, the proxy's connections dropped mid-read, a file the agent's AUTH_SYS user may not
 * read, the agent itself killed again and again; and the agent run as an unprivileged user with
 * no capabilities (what Fargate gives it).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listSessions } from '../../app/state/queries/operator.js';
import { cliSuite } from '../cli/world.js';
import { CLI, CliProcess, logLines, runCli, uniqueName } from '../cli/harness.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { writeSession } from '../helpers/fixtures.js';
import { getObject, listKeys, sha256 } from '../helpers/s3.js';
import { nfsWorld, sessionRoot, writeNfsAgentConfig } from './nfs-world.js';

const t = cliSuite('nfs-faults');
const nfs = nfsWorld();
const SLOW = 900_000;

type Files = Record<string, string | Buffer>;

async function expectInS3(base: string, files: Files): Promise<void> {
  for (const [rel, content] of Object.entries(files)) expect(sha256(await getObject(t.world.s3, `${base}/${rel}`)), rel).toBe(sha256(content));
}

/** A session root on the NFS server and an agent config for it (1 MiB/s to S3 unless `upload` says otherwise). */
async function setup(
  opts: { proxy?: string; share?: Record<string, unknown>; agent?: Record<string, unknown>; upload?: Record<string, unknown>; endpoint?: string } = {},
) {
  const dir = await sessionRoot('nfs', t.work.path, nfs);
  const prefix = uniqueName('fault');
  const config = await writeNfsAgentConfig(t.work.path, {
    root: dir.root,
    endpoint: opts.endpoint ?? t.world.s3.endpoint,
    bucket: t.world.s3.bucket,
    prefix,
    proxy: opts.proxy ?? nfs.socks.url,
    share: opts.share,
    agent: opts.agent,
    upload: { max_bytes_per_second: 1024 * 1024, ...opts.upload },
  });
  return { dir, prefix, config };
}

const slowSession = (): Files => ({ 'frames.raw': randomBytes(7 * 1024 * 1024 + 99), 'notes.txt': 'n', 'session_summary.json': '{}' });

describe('the agent over NFS under faults', () => {
  it(
    'ganesha killed and restarted mid-upload: the session completes later, intact',
    async () => {
      const { dir, prefix, config } = await setup();
      const files = slowSession();
      await writeSession(join(dir.disk, 'run-1'), files);
      const agent = new CliProcess(['run', '--config', config], t.world.env());
      await agent.waitForEvent('upload_started', 120_000);
      await nfs.ganesha.kill();
      await new Promise((r) => setTimeout(r, 3000));
      await nfs.ganesha.resume();
      await agent.waitForEvent('session_moved_to_processed', 300_000);
      agent.kill();
      await agent.exited;
      await expectInS3(`${prefix}/run-1`, files);
      expect(logLines(agent.out).filter((l) => l.event === 'complete_marker_uploaded')).toHaveLength(1);
      expect(await readdir(join(dir.disk, 'processed'))).toEqual(['run-1']);
    },
    SLOW,
  );

  it(
    'the SOCKS5 path dropped mid-read, twice: reconnects and lands every byte',
    async () => {
      const hop = await new FaultProxy('127.0.0.1', nfs.socks.port).start();
      try {
        const { dir, prefix, config } = await setup({ proxy: `socks5://127.0.0.1:${hop.port}` });
        const files = slowSession();
        await writeSession(join(dir.disk, 'run-1'), files);
        const agent = new CliProcess(['run', '--config', config], t.world.env());
        await agent.waitForEvent('upload_started', 120_000);
        for (let i = 0; i < 2; i++) {
          await new Promise((r) => setTimeout(r, 1500));
          hop.dropAll();
        }
        await agent.waitForEvent('session_moved_to_processed', 300_000);
        agent.kill();
        await agent.exited;
        await expectInS3(`${prefix}/run-1`, files);
      } finally {
        await hop.close();
      }
    },
    SLOW,
  );

  it(
    'a file the AUTH_SYS user may not read: needs_attention naming it, nothing of it in S3, the folder stays',
    async () => {
      const { dir, prefix, config } = await setup({ share: { uid: 65534, gid: 65534 }, upload: { max_bytes_per_second: undefined } });
      await writeSession(join(dir.disk, 'run-1'), { 'ok.csv': 'fine', 'locked.bin': 'private', 'session_summary.json': '{}' });
      await chmod(join(dir.disk, 'run-1', 'locked.bin'), 0o000);
      await runCli(['scan-once', '--config', config], t.world.env(), 120_000);
      const r = await runCli(['scan-once', '--config', config], t.world.env(), 120_000);
      const failed = logLines(r.out).find((l) => l.event === 'session_failed');
      expect(failed, r.out).toMatchObject({ to: 'needs_attention', err: { code: 'NFS_ACCESS', message: expect.stringMatching(/locked\.bin/) } });
      const [row] = await listSessions(t.world.database.db);
      expect(row?.status).toBe('needs_attention');
      expect(row?.lastError).toMatch(/locked\.bin/);
      expect(await listKeys(t.world.s3, `${prefix}/run-1/_COMPLETE`)).toEqual([]);
      expect(await readdir(dir.disk)).toContain('run-1');
    },
    SLOW,
  );

  it(
    'killed again and again mid-upload, then let finish: 0 lost, 0 corrupt, 0 duplicate _COMPLETE',
    async () => {
      const s3hop = await new FaultProxy('127.0.0.1', Number(new URL(t.world.s3.endpoint).port), true).start();
      try {
        const { dir, prefix, config } = await setup({
          endpoint: s3hop.url,
          agent: { lease_seconds: 5 },
          upload: { max_bytes_per_second: 4 * 1024 * 1024, concurrency: 4 },
        });
        const sessions: Record<string, Files> = {
          camera: { 'frames.raw': randomBytes(17 * 1024 * 1024 + 5), 'session_summary.json': '{}' },
          cycler: Object.fromEntries([...Array.from({ length: 60 }, (_, i) => [`ch${i % 3}/c-${i}.csv`, randomBytes(9000)]), ['session_summary.json', '{}']]),
          mixed: { 'a.bin': randomBytes(6 * 1024 * 1024), 'empty.dat': '', 'session_summary.json': '{}' },
        };
        for (const [name, files] of Object.entries(sessions)) await writeSession(join(dir.disk, name), files);
        let midUpload = 0;
        for (let k = 0; k < 4; k++) {
          const agent = new CliProcess(['run', '--config', config], t.world.env());
          const hit = await agent.waitForEvent('upload_started', 60_000).then(
            () => true,
            () => false,
          );
          await new Promise((r) => setTimeout(r, 500 + Math.random() * 1500));
          agent.kill('SIGKILL');
          await agent.exited;
          if (hit) midUpload++;
        }
        // Let it finish, as a restarted task would; the killed agents' leases expire first.
        const finisher = new CliProcess(['run', '--config', config], t.world.env());
        for (let i = 0; i < Object.keys(sessions).length;) {
          await new Promise((r) => setTimeout(r, 2000));
          i = (await listSessions(t.world.database.db)).filter((s) => s.status === 'processed').length;
          if (!finisher.running) throw new Error(`agent exited: ${finisher.err}`);
        }
        finisher.kill();
        await finisher.exited;
        let lost = 0;
        let corrupt = 0;
        for (const [name, files] of Object.entries(sessions)) {
          const keys = await listKeys(t.world.s3, `${prefix}/${name}/`);
          for (const [rel, content] of Object.entries(files)) {
            if (!keys.includes(`${prefix}/${name}/${rel}`)) lost++;
            else if (sha256(await getObject(t.world.s3, `${prefix}/${name}/${rel}`)) !== sha256(content)) corrupt++;
          }
        }
        const completes = s3hop.requests.filter((r) => r.startsWith('PUT ') && r.split('?')[0]?.endsWith('/_COMPLETE'));
        console.log(
          `[nfs crash loop] kills 4 (${midUpload} after upload_started), lost ${lost}, corrupt ${corrupt}, _COMPLETE writes ${completes.length} for ${Object.keys(sessions).length} sessions`,
        );
        expect(midUpload).toBeGreaterThan(0);
        expect({ lost, corrupt }).toEqual({ lost: 0, corrupt: 0 });
        expect(completes).toHaveLength(Object.keys(sessions).length);
        expect((await readdir(join(dir.disk, 'processed'))).sort()).toEqual(Object.keys(sessions).sort());
      } finally {
        await s3hop.close();
      }
    },
    SLOW,
  );
});

describe('an unprivileged agent', () => {
  it(
    'as uid 65534 with no capabilities (setpriv), uploads and moves a session from ganesha through the proxy',
    async () => {
      const { dir, prefix, config } = await setup({ upload: { max_bytes_per_second: undefined } });
      const files = { 'data.bin': randomBytes(6 * 1024 * 1024 + 1), 'session_summary.json': '{}' };
      await writeSession(join(dir.disk, 'run-1'), files);
      // The lab PC's files are readable by all; the move needs the folder writable (its `..` changes).
      await chmod(join(dir.disk, 'run-1'), 0o777);
      await chmod(t.work.path, 0o777);
      const run = () =>
        new Promise<{ code: number | null; out: string }>((resolve) => {
          const args = [
            '--reuid=65534',
            '--regid=65534',
            '--clear-groups',
            '--bounding-set=-all',
            '--inh-caps=-all',
            '--no-new-privs',
            process.execPath,
            CLI,
            'scan-once',
            '--config',
            config,
          ];
          const child = spawn('setpriv', args, { env: t.world.env(), stdio: ['ignore', 'pipe', 'pipe'] });
          let out = '';
          child.stdout.on('data', (d: Buffer) => (out += d.toString()));
          child.stderr.on('data', (d: Buffer) => (out += d.toString()));
          child.on('close', (code) => resolve({ code, out }));
        });
      const first = await run();
      expect(first.code, first.out).toBe(0);
      const second = await run();
      expect(second.code, second.out).toBe(0);
      expect(
        logLines(first.out + second.out).filter((l) => l.event === 'complete_marker_uploaded'),
        second.out,
      ).toHaveLength(1);
      await expectInS3(`${prefix}/run-1`, files);
      expect(await readdir(join(dir.disk, 'processed'))).toEqual(['run-1']);
    },
    SLOW,
  );
});
