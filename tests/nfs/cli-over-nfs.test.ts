/**
 * The real CLI with nfs:// roots (nfs-ganesha reached through microsocks): a local and an NFS
 * root in one configuration, `doctor` on an NFS root that answers and on one that does not, and
 * a stop while an NFS call waits on a server that no longer answers.
 */
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listSessions } from '../../app/state/queries/operator.js';
import { cliSuite } from '../cli/world.js';
import { CliProcess, closedPort, logLines, runCli, uniqueName } from '../cli/harness.js';
import { writeSession } from '../helpers/fixtures.js';
import { getObject, listKeys, sha256 } from '../helpers/s3.js';
import { nfsWorld, sessionRoot, writeNfsAgentConfig } from './nfs-world.js';

const t = cliSuite('nfs-cli');
const nfs = nfsWorld();
const SLOW = 600_000;

type Files = Record<string, string | Buffer>;

async function expectInS3(base: string, files: Files): Promise<void> {
  for (const [rel, content] of Object.entries(files)) expect(sha256(await getObject(t.world.s3, `${base}/${rel}`)), rel).toBe(sha256(content));
}

describe('an agent with nfs:// roots', () => {
  it(
    'a local root and an nfs:// root in one configuration: both sessions land byte-exact and are moved',
    async () => {
      const local = await sessionRoot('local', t.work.path, nfs);
      const remote = await sessionRoot('nfs', t.work.path, nfs);
      const prefix = uniqueName('mixed');
      const config = await writeNfsAgentConfig(t.work.path, {
        root: [local.root, remote.root],
        endpoint: t.world.s3.endpoint,
        bucket: t.world.s3.bucket,
        prefix,
        proxy: nfs.socks.url,
      });
      const onDisk: Files = { 'metadata.json': '{"session_id":"LOCAL-1"}', 'big/frames.raw': randomBytes(6 * 1024 * 1024 + 17), 'session_summary.json': '{}' };
      const onNfs: Files = {
        'metadata.json': '{"session_id":"NFS-1"}',
        'big/frames.raw': randomBytes(6 * 1024 * 1024 + 29),
        'ä b.csv': 'x\n',
        'session_summary.json': '{}',
      };
      await writeSession(join(local.disk, 'run-1'), onDisk);
      await writeSession(join(remote.disk, 'run-1'), onNfs);
      for (let i = 0; i < 2; i++) {
        const r = await runCli(['scan-once', '--config', config], t.world.env(), 120_000);
        expect(r.code, r.out + r.err).toBe(0);
      }
      await expectInS3(`${prefix}/LOCAL-1`, onDisk);
      await expectInS3(`${prefix}/NFS-1`, onNfs);
      expect((await listKeys(t.world.s3, `${prefix}/`)).filter((k) => k.endsWith('/_COMPLETE')).sort()).toEqual([
        `${prefix}/LOCAL-1/_COMPLETE`,
        `${prefix}/NFS-1/_COMPLETE`,
      ]);
      expect(await readdir(join(local.disk, 'processed'))).toEqual(['run-1']);
      expect(await readdir(join(remote.disk, 'processed'))).toEqual(['run-1']);
      const rows = await listSessions(t.world.database.db);
      expect(rows.map((r) => [r.folderPath, r.status]).sort()).toEqual(
        [
          [`${local.root}/run-1`, 'processed'],
          [`${remote.root}/run-1`, 'processed'],
        ].sort(),
      );
    },
    SLOW,
  );

  it(
    'doctor: an nfs:// root that answers is readable and writable; one whose server is down fails, named, without secrets',
    async () => {
      const good = await sessionRoot('nfs', t.work.path, nfs);
      const down = `nfs://127.0.0.1:${await closedPort()}/export/lab`;
      const config = await writeNfsAgentConfig(t.work.path, {
        root: [good.root, down],
        endpoint: t.world.s3.endpoint,
        bucket: t.world.s3.bucket,
        prefix: uniqueName('doctor'),
        proxy: nfs.socks.url,
      });
      const r = await runCli(['doctor', '--config', config], t.world.env(), 120_000);
      expect(r.code, r.out + r.err).toBe(1);
      expect(r.out).toContain(`PASS  root ${good.root}: readable and writable`);
      // Through the proxy, as on Fargate: the proxy's answer says which server it could not reach.
      expect(r.out).toMatch(
        new RegExp(
          `FAIL {2}root ${down.replace(/[.]/g, '\\.')}: cannot list it \\(ECONNREFUSED\\): SOCKS5 proxy 127\\.0\\.0\\.1:${nfs.socks.port} could not reach 127\\.0\\.0\\.1:\\d+.*\\n\\s+hint: is the share mounted \\(or the nfs:// server reachable`,
        ),
      );
      expect(r.out).toMatch(/PASS {2}state database/);
      expect(r.out + r.err).not.toContain(t.world.s3.credentials.secretAccessKey);
    },
    SLOW,
  );

  /** An agent config whose NFS calls would wait 5 minutes for an answer: far beyond the 25 s the agent gives in-flight work after SIGTERM. */
  async function patientConfig(root: string, prefix: string, agent?: Record<string, unknown>) {
    return writeNfsAgentConfig(t.work.path, {
      root,
      endpoint: t.world.s3.endpoint,
      bucket: t.world.s3.bucket,
      prefix,
      proxy: nfs.socks.url,
      share: { timeout_seconds: 300, retry_seconds: 300 },
      agent,
      upload: { max_bytes_per_second: 1024 * 1024 },
    });
  }

  /** SIGTERM to the agent while ganesha is frozen; the agent's events. */
  async function stopWhileFrozen(agent: CliProcess, frozenForMs: number): Promise<(string | undefined)[]> {
    await nfs.ganesha.freeze();
    try {
      await new Promise((r) => setTimeout(r, frozenForMs));
      agent.kill('SIGTERM');
      await agent.exited;
    } finally {
      nfs.ganesha.thaw();
    }
    const seen = logLines(agent.out).map((l) => l.event);
    expect(seen, agent.out).toContain('agent_stopped');
    expect(seen).not.toContain('agent_stop_timeout');
    expect(seen).not.toContain('session_failed');
    return seen;
  }

  it(
    'SIGTERM while the scan waits on a server that stopped answering: the agent stops at once; the waiting session goes on later',
    async () => {
      const dir = await sessionRoot('nfs', t.work.path, nfs);
      const prefix = uniqueName('stop-scan');
      const config = await patientConfig(dir.root, prefix);
      // No marker yet: the session waits, and every cycle (each second) lists the root.
      const files: Files = { 'data.csv': 'a,b\n' };
      await writeSession(join(dir.disk, 'run-1'), files);
      const agent = new CliProcess(['run', '--config', config], t.world.env());
      await agent.waitForEvent('session_waiting', 120_000);
      await stopWhileFrozen(agent, 4000);
      const [row] = await listSessions(t.world.database.db);
      expect(row).toMatchObject({ status: 'waiting_for_stable', leaseOwner: null });

      await writeSession(join(dir.disk, 'run-1'), { 'session_summary.json': '{}' });
      for (let i = 0; i < 2; i++) expect((await runCli(['scan-once', '--config', config], t.world.env(), 180_000)).code).toBe(0);
      await expectInS3(`${prefix}/run-1`, { ...files, 'session_summary.json': '{}' });
    },
    SLOW,
  );

  it(
    'SIGTERM mid-upload while the server has stopped answering: the agent stops at once, the session resumes later and lands intact',
    async () => {
      const dir = await sessionRoot('nfs', t.work.path, nfs);
      const prefix = uniqueName('stop-upload');
      const config = await patientConfig(dir.root, prefix);
      const files: Files = { 'frames.raw': randomBytes(7 * 1024 * 1024 + 99), 'notes.txt': 'n', 'session_summary.json': '{}' };
      await writeSession(join(dir.disk, 'run-1'), files);
      const agent = new CliProcess(['run', '--config', config], t.world.env());
      await agent.waitForEvent('upload_started', 120_000);
      // The file is read within moments and takes 7 s to send at 1 MiB/s: after that the agent waits on the server.
      await new Promise((r) => setTimeout(r, 2000));
      await stopWhileFrozen(agent, 10_000);
      const [row] = await listSessions(t.world.database.db);
      expect(row).toMatchObject({ status: 'uploading', attempts: 0, leaseOwner: null });
      expect(await listKeys(t.world.s3, `${prefix}/run-1/_COMPLETE`)).toEqual([]);

      const r = await runCli(['scan-once', '--config', config], t.world.env(), 180_000);
      expect(r.code, r.out + r.err).toBe(0);
      expect(logLines(r.out).filter((l) => l.event === 'complete_marker_uploaded')).toHaveLength(1);
      await expectInS3(`${prefix}/run-1`, files);
      expect(await readdir(join(dir.disk, 'processed'))).toEqual(['run-1']);
    },
    SLOW,
  );
});
