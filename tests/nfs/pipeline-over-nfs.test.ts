/**
 * The pipeline through the real CLI against both share implementations: a local folder, and
 * the same kind of folder served by nfs-ganesha and reached as nfs:// through microsocks (the
 * SOCKS5 proxy tailscaled offers on Fargate). Files are written on the server's disk, as the
 * lab PC would; every object is read back from S3 and compared by SHA-256.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectNfs } from '../../app/share/nfs/client.js';
import { listSessions } from '../../app/state/queries/operator.js';
import { cliSuite } from '../cli/world.js';
import { CliProcess, logLines, runCli, uniqueName } from '../cli/harness.js';
import { writeSession } from '../helpers/fixtures.js';
import { getObject, listKeys, sha256 } from '../helpers/s3.js';
import { nfsWorld, sessionRoot, writeNfsAgentConfig, type SessionRootDir } from './nfs-world.js';

const t = cliSuite('nfs-pipeline');
// Several CLI runs each, on a machine that may be loaded: generous, never tight.
const SLOW = 600_000;
const nfs = nfsWorld();

type Files = Record<string, string | Buffer>;

describe.each(['local', 'nfs'] as const)('pipeline on a %s share', (kind) => {
  async function setup(
    opts: { agent?: Record<string, unknown>; upload?: Record<string, unknown> } = {},
  ): Promise<{ dir: SessionRootDir; config: string; prefix: string }> {
    const dir = await sessionRoot(kind, t.work.path, nfs);
    const prefix = uniqueName(kind);
    const config = await writeNfsAgentConfig(t.work.path, {
      root: dir.root,
      endpoint: t.world.s3.endpoint,
      bucket: t.world.s3.bucket,
      prefix,
      proxy: nfs.socks.url,
      ...opts,
    });
    return { dir, config, prefix };
  }

  async function scanOnce(config: string) {
    const r = await runCli(['scan-once', '--config', config], t.world.env(), 120_000);
    expect(r.err, r.out).not.toMatch(/Error|unavailable/);
    return r;
  }

  async function expectInS3(base: string, files: Files) {
    for (const [rel, content] of Object.entries(files)) {
      const got = await getObject(t.world.s3, `${base}/${rel}`);
      expect(sha256(got), rel).toBe(sha256(content));
    }
  }

  it(
    'uploads a session (multipart, odd names, empty file) byte-exact, lists a link and a FIFO unread, moves it',
    async () => {
      const { dir, config, prefix } = await setup();
      const files: Files = {
        'metadata.json': JSON.stringify({ session_id: 'S-1' }),
        'big/frames.raw': randomBytes(11 * 1024 * 1024 + 4321),
        'Messdaten Ü 測定/ä b.csv': 'x,y\n1,2\n',
        'empty.dat': '',
        'session_summary.json': '{}',
      };
      await writeSession(join(dir.disk, 'run-1'), files);
      // Created on the server's side: a link out of the session and a FIFO nobody writes to.
      await writeFile(join(dir.disk, 'secret.txt'), 'outside the session');
      await symlink('../secret.txt', join(dir.disk, 'run-1', 'escape.txt'));
      execFileSync('mkfifo', [join(dir.disk, 'run-1', 'pipe')]);

      await scanOnce(config);
      const r = await scanOnce(config);
      expect(logLines(r.out).filter((l) => l.event === 'complete_marker_uploaded')).toHaveLength(1);

      await expectInS3(`${prefix}/S-1`, files);
      const keys = await listKeys(t.world.s3, `${prefix}/`);
      expect(keys.sort()).toEqual([...Object.keys(files), 'manifest.json', '_COMPLETE'].map((k) => `${prefix}/S-1/${k}`).sort());
      const manifest = JSON.parse((await getObject(t.world.s3, `${prefix}/S-1/manifest.json`)).toString()) as {
        files: { relative_path: string; sha256: string }[];
        skipped_entries: { relative_path: string; type: string }[];
      };
      expect(manifest.skipped_entries).toEqual([
        { relative_path: 'escape.txt', type: 'symlink' },
        { relative_path: 'pipe', type: 'fifo' },
      ]);
      expect(Object.fromEntries(manifest.files.map((f) => [f.relative_path, f.sha256]))).toEqual(
        Object.fromEntries(Object.entries(files).map(([k, v]) => [k, sha256(v)])),
      );

      expect(await readdir(dir.disk)).toEqual(expect.arrayContaining(['processed', 'secret.txt']));
      expect(await readdir(join(dir.disk, 'processed'))).toEqual(['run-1']);
      expect(sha256(await readFile(join(dir.disk, 'processed', 'run-1', 'big', 'frames.raw')))).toBe(sha256(files['big/frames.raw'] as Buffer));
      const [row] = await listSessions(t.world.database.db);
      expect(row).toMatchObject({ status: 'processed', processedPath: `${dir.root}/processed/run-1` });
    },
    SLOW,
  );

  it(
    'moves to processed/<name>.1 when processed/<name> is taken, leaving what is there untouched',
    async () => {
      const { dir, config, prefix } = await setup();
      await writeSession(join(dir.disk, 'processed', 'run-1'), { 'older.csv': 'an earlier session' });
      const files = { 'data.csv': 'a,b\n', 'session_summary.json': '{}' };
      await writeSession(join(dir.disk, 'run-1'), files);
      await scanOnce(config);
      await scanOnce(config);
      await expectInS3(`${prefix}/run-1`, files);
      expect((await readdir(join(dir.disk, 'processed'))).sort()).toEqual(['run-1', 'run-1.1']);
      expect(await readdir(join(dir.disk, 'processed', 'run-1'))).toEqual(['older.csv']);
      expect((await readdir(join(dir.disk, 'processed', 'run-1.1'))).sort()).toEqual(['data.csv', 'session_summary.json']);
    },
    SLOW,
  );

  it(
    'a session_id already taken by another folder is never overwritten: needs_attention naming both',
    async () => {
      const { dir, config, prefix } = await setup();
      await writeSession(join(dir.disk, 'a-first'), { 'metadata.json': JSON.stringify({ session_id: 'DUP' }), 'x.csv': 'first', 'session_summary.json': '{}' });
      await scanOnce(config);
      await scanOnce(config);
      await writeSession(join(dir.disk, 'b-second'), {
        'metadata.json': JSON.stringify({ session_id: 'DUP' }),
        'x.csv': 'second, different',
        'session_summary.json': '{}',
      });
      await runCli(['scan-once', '--config', config], t.world.env(), 120_000);
      await runCli(['scan-once', '--config', config], t.world.env(), 120_000);
      expect((await getObject(t.world.s3, `${prefix}/DUP/x.csv`)).toString()).toBe('first');
      const second = (await listSessions(t.world.database.db)).find((s) => s.folderName === 'b-second');
      expect(second?.status).toBe('needs_attention');
      expect(second?.lastError).toMatch(/a-first/);
      expect(await readdir(dir.disk)).toContain('b-second');
    },
    SLOW,
  );

  it(
    'a file name that is not valid UTF-8 (created as raw bytes on the server): needs_attention naming it escaped, nothing uploaded',
    async () => {
      const { dir, config, prefix } = await setup();
      await writeSession(join(dir.disk, 'bytes'), { 'data.csv': 'x', 'session_summary.json': '{}' });
      await writeFile(Buffer.concat([Buffer.from(join(dir.disk, 'bytes', 'bad-')), Buffer.from([0xff, 0xfe]), Buffer.from('.csv')]), 'latin-1 name');
      await runCli(['scan-once', '--config', config], t.world.env(), 120_000);
      const r = await runCli(['scan-once', '--config', config], t.world.env(), 120_000);
      expect(
        logLines(r.out).find((l) => l.event === 'session_failed'),
        r.out,
      ).toMatchObject({ to: 'needs_attention', err: { code: 'RESERVED_OR_INVALID_NAME' } });
      const [row] = await listSessions(t.world.database.db);
      expect(row?.status).toBe('needs_attention');
      expect(row?.lastError).toContain('bad-\\xff\\xfe.csv');
      expect(await listKeys(t.world.s3, `${prefix}/`)).toEqual([]);
      expect(await readdir(dir.disk)).toEqual(['bytes']);
    },
    SLOW,
  );

  it(
    'a folder changed during its upload gets no _COMPLETE for the old contents; the new contents land',
    async () => {
      // 1 MiB/s: the 6 MiB file takes seconds, long enough to change the folder under it.
      const { dir, config, prefix } = await setup({ upload: { max_bytes_per_second: 1024 * 1024 } });
      const files: Files = { 'slow.bin': randomBytes(6 * 1024 * 1024), 'notes.txt': 'first version', 'session_summary.json': '{}' };
      await writeSession(join(dir.disk, 'run-1'), files);
      const agent = new CliProcess(['run', '--config', config], t.world.env());
      await agent.waitForEvent('upload_started', 60_000);
      // Same size, same second: only the NFS change attribute or the nanoseconds tell.
      await writeFile(join(dir.disk, 'run-1', 'notes.txt'), 'other version');
      await agent.waitForEvent('session_changed', 90_000);
      const done = await agent.waitForEvent('complete_marker_uploaded', 120_000);
      agent.kill();
      await agent.exited;
      expect(logLines(agent.out).filter((l) => l.event === 'complete_marker_uploaded')).toEqual([done]);
      await expectInS3(`${prefix}/run-1`, { ...files, 'notes.txt': 'other version' });
    },
    SLOW,
  );
});

describe('faults on the NFS path', () => {
  it(
    'a folder replaced under the agent mid-upload: retried or waiting, never the old bytes under the new manifest',
    async () => {
      const dir = await sessionRoot('nfs', t.work.path, nfs);
      const prefix = uniqueName('replaced');
      const config = await writeNfsAgentConfig(t.work.path, {
        root: dir.root,
        endpoint: t.world.s3.endpoint,
        bucket: t.world.s3.bucket,
        prefix,
        proxy: nfs.socks.url,
        upload: { max_bytes_per_second: 1024 * 1024 },
      });
      const old = { 'slow.bin': randomBytes(6 * 1024 * 1024), 'session_summary.json': '{"v":1}' };
      await writeSession(join(dir.disk, 'run-1'), old);
      const agent = new CliProcess(['run', '--config', config], t.world.env());
      await agent.waitForEvent('upload_started', 60_000);
      const fresh = { 'slow.bin': randomBytes(6 * 1024 * 1024), 'session_summary.json': '{"v":2}' };
      // Deleted, not moved: the handles the agent holds now name nothing (NFS4ERR_STALE).
      // Through NFS: a folder removed on ganesha's own disk can stay in its MDCACHE, LOOKUP giving
      // the deleted folder (nlink 0, READDIR NFS4ERR_NOENT) for minutes even with
      // Attr_Expiration_Time = 0, and the agent could only wait (docs/deployment.md).
      await removeOverNfs(dir, 'run-1', Object.keys(old));
      await writeSession(join(dir.disk, 'run-1'), fresh);
      await agent.waitForEvent('complete_marker_uploaded', 180_000);
      agent.kill();
      await agent.exited;
      await expectFolderInS3(`${prefix}/run-1`, fresh);
    },
    SLOW,
  );
});

/** Removes folder `name` of the session root and its `files` through ganesha, as a client on the lab PC's network would. */
async function removeOverNfs(dir: SessionRootDir, name: string, files: string[]) {
  const client = await connectNfs({ host: '127.0.0.1', port: nfs.ganesha.port, exportPath: '/export', timeoutMs: 20_000 });
  try {
    const root = await client.resolve(basename(dir.disk));
    const folder = await client.lookup(root.handle, name);
    for (const file of files) await client.remove(folder.handle, file);
    await client.remove(root.handle, name);
  } finally {
    await client.close();
  }
}

async function expectFolderInS3(base: string, files: Files) {
  for (const [rel, content] of Object.entries(files)) expect(sha256(await getObject(t.world.s3, `${base}/${rel}`)), rel).toBe(sha256(content));
}
