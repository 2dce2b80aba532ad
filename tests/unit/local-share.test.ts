import { execFileSync } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../app/config/load.js';
import { normalizeRootPath } from '../../app/config/root-path.js';
import { LocalShare } from '../../app/share/local-share.js';
import { NfsShare } from '../../app/share/nfs-share.js';
import { openShare } from '../../app/share/open-share.js';

const share = new LocalShare();
const signal = new AbortController().signal;
let dir = '';
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'local-share-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => 'resolved',
    (err: { code?: string }) => err.code,
  );

describe('LocalShare', () => {
  it('lists entries with their own attributes: a link is a link (never followed), a FIFO a FIFO, names as bytes', async () => {
    await writeFile(join(dir, 'data.csv'), 'abc');
    await mkdir(join(dir, 'sub'));
    await symlink(join(dir, 'sub'), join(dir, 'link-to-dir'));
    execFileSync('mkfifo', [join(dir, 'pipe')]);
    const bad = Buffer.from([0x62, 0xff, 0x2e, 0x62, 0x69, 0x6e]);
    await writeFile(Buffer.concat([Buffer.from(`${dir}/`), bad]), 'xy');
    const byName = new Map((await share.list(dir, signal)).map((e) => [e.name.toString('latin1'), e]));
    expect(byName.get('data.csv')).toMatchObject({ type: 'file', size: 3, change: null });
    expect(byName.get('data.csv')?.mtimeNs).toBe((await lstat(join(dir, 'data.csv'), { bigint: true })).mtimeNs);
    expect(byName.get('sub')?.type).toBe('dir');
    expect(byName.get('link-to-dir')?.type).toBe('symlink');
    expect(byName.get('pipe')?.type).toBe('fifo');
    expect(byName.get(bad.toString('latin1'))).toMatchObject({ type: 'file', size: 2 });
  });

  it('opens only regular files: a link fails with ELOOP, a FIFO or a folder with EFTYPE, without blocking', async () => {
    await writeFile(join(dir, 'data.bin'), Buffer.from([1, 2, 3, 4, 5]));
    await symlink(join(dir, 'data.bin'), join(dir, 'link'));
    execFileSync('mkfifo', [join(dir, 'pipe')]);
    expect(await codeOf(share.openFile(join(dir, 'link'), signal))).toBe('ELOOP');
    expect(await codeOf(share.openFile(join(dir, 'pipe'), signal))).toBe('EFTYPE');
    expect(await codeOf(share.openFile(dir, signal))).toBe('EFTYPE');
    const file = await share.openFile(join(dir, 'data.bin'), signal);
    try {
      const buf = Buffer.alloc(3);
      expect(await file.read(buf, 0, 3, 2)).toBe(3);
      expect([...buf]).toEqual([3, 4, 5]);
      expect(await file.read(buf, 0, 3, 5)).toBe(0);
      expect(file.attributes).toMatchObject({ type: 'file', size: 5 });
    } finally {
      await file.close();
    }
  });

  it('renames a folder onto an empty reservation, never onto one with content', async () => {
    await mkdir(join(dir, 'session'));
    await writeFile(join(dir, 'session', 'a.txt'), 'a');
    await share.createFolder(join(dir, 'taken'), signal);
    await writeFile(join(dir, 'taken', 'keep.txt'), 'keep');
    expect(await codeOf(share.createFolder(join(dir, 'taken'), signal))).toBe('EEXIST');
    expect(['ENOTEMPTY', 'EEXIST']).toContain(await codeOf(share.renameFolder(join(dir, 'session'), join(dir, 'taken'), signal)));
    expect(await readdir(join(dir, 'taken'))).toEqual(['keep.txt']);
    await share.createFolder(join(dir, 'reserved'), signal);
    await share.renameFolder(join(dir, 'session'), join(dir, 'reserved'), signal);
    expect(await readdir(join(dir, 'reserved'))).toEqual(['a.txt']);
    expect(await codeOf(share.removeEmptyFolder(join(dir, 'reserved'), signal))).toBe('ENOTEMPTY');
  });
});

describe('session roots', () => {
  const config = (path: string) => `agent: {machine_id: m, lab_id: l}
watch: {session_roots: [{path: "${path}", profile: p}]}
profiles: {p: {}}
upload: {s3_bucket: my-bucket}
storage: {manifest_cache_dir: /data/m, log_dir: /data/l}
`;

  it('are normalised once when the config is loaded', () => {
    expect(parseConfig(config('/mnt/lab1///')).watch.session_roots[0]?.path).toBe('/mnt/lab1');
    expect(normalizeRootPath('/')).toBe('/');
    expect(parseConfig(config('/mnt//lab1/./x/..')).watch.session_roots[0]?.path).toBe('/mnt/lab1');
    expect(parseConfig(config('nfs://labpc//export/./sessions/')).watch.session_roots[0]?.path).toBe('nfs://labpc/export/sessions');
    expect(parseConfig(config('nfs://labpc:2050/export/sessions/')).watch.session_roots[0]?.path).toBe('nfs://labpc:2050/export/sessions');
    expect(parseConfig(config('nfs://labpc/')).watch.session_roots[0]?.path).toBe('nfs://labpc/');
  });

  it('the factory gives the local share for local roots and the NFS share for nfs:// roots, without connecting', async () => {
    const nfs = parseConfig(config('nfs://[fd7a:115c::1]/export'));
    const remote = openShare(nfs.watch.session_roots, nfs.share.nfs);
    expect(remote).toBeInstanceOf(NfsShare);
    await remote.close();
    const local = parseConfig(config('/mnt/lab1'));
    expect(openShare(local.watch.session_roots, local.share.nfs)).toBeInstanceOf(LocalShare);
  });

  it.each(['relative/path', 'nfs://host', 'nfs://host:99999/x', 'smb://host/share', 'nfs://user@host/x'])('rejects %j', (path) => {
    expect(() => parseConfig(config(path))).toThrow(/session_roots\.0\.path: (must be|port 99999 is out of range)/);
  });
});
