/**
 * The Share operations the mover and the listing rely on, on a local folder and on the same
 * kind of folder served by nfs-ganesha (reached as nfs:// through microsocks): the same
 * answers from both. And what only the NFS share can meet: a server that stops answering.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LocalShare } from '../../app/share/local-share.js';
import { NfsShare } from '../../app/share/nfs-share.js';
import { ensureProcessedFolder, isEmptyFolder, reserveProcessedName } from '../../app/share/processed-folder.js';
import { listSessionFiles } from '../../app/share/session-listing.js';
import { childPath, type Share } from '../../app/share/share.js';
import { ignoreMatcher } from '../../app/share/ignore-patterns.js';
import { Ganesha, Microsocks } from '../helpers/nfs-server.js';

const SLOW = 120_000;
const signal = new AbortController().signal;

let ganesha: Ganesha;
let socks: Microsocks;
let localBase: string;
const shares: Share[] = [];

beforeAll(async () => {
  [ganesha, socks] = await Promise.all([Ganesha.start(), Microsocks.start()]);
  localBase = await mkdtemp(join(tmpdir(), 'share-over-nfs-'));
});

afterAll(async () => {
  await Promise.all(shares.map((s) => s.close()));
  await Promise.all([ganesha?.stop(), socks?.stop(), rm(localBase, { recursive: true, force: true })]);
});

let folders = 0;
/** A fresh folder: `disk` where this machine (the lab PC) sees it, `path` as the share names it. */
async function freshFolder(kind: 'local' | 'nfs'): Promise<{ share: Share; disk: string; path: string }> {
  const name = `f${++folders}`;
  if (kind === 'local') {
    const disk = join(localBase, name);
    await mkdir(disk);
    const share = new LocalShare();
    return { share, disk, path: disk };
  }
  const disk = join(ganesha.dir, name);
  await mkdir(disk);
  const share = new NfsShare({ proxy: socks.url, timeout_seconds: 30, retry_seconds: 30 });
  shares.push(share);
  return { share, disk, path: `${ganesha.url}/${name}` };
}

const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => 'resolved',
    (err: { code?: string }) => err.code,
  );

describe.each(['local', 'nfs'] as const)('a %s share', (kind) => {
  it(
    'moves a session to processed/ as the mover does: reserved name, rename onto it, .1 when taken, nothing with content replaced',
    async () => {
      const { share, disk, path: root } = await freshFolder(kind);
      await mkdir(join(disk, 'run-1'));
      await writeFile(join(disk, 'run-1', 'a.csv'), 'a');
      await ensureProcessedFolder(share, root, signal);
      await ensureProcessedFolder(share, root, signal);
      const target = await reserveProcessedName(share, root, 'run-1', signal);
      expect(target).toBe(childPath(childPath(root, 'processed'), 'run-1'));
      expect(await isEmptyFolder(share, target, signal)).toBe(true);
      await share.renameFolder(childPath(root, 'run-1'), target, signal);
      expect(await readdir(join(disk, 'processed', 'run-1'))).toEqual(['a.csv']);
      expect(await isEmptyFolder(share, target, signal)).toBe(false);

      // The next session of that name gets processed/run-1.1; the one there is never replaced.
      await mkdir(join(disk, 'run-1'));
      await writeFile(join(disk, 'run-1', 'b.csv'), 'b');
      expect(['ENOTEMPTY', 'EEXIST']).toContain(await codeOf(share.renameFolder(childPath(root, 'run-1'), target, signal)));
      const second = await reserveProcessedName(share, root, 'run-1', signal);
      expect(second).toBe(childPath(childPath(root, 'processed'), 'run-1.1'));
      await share.renameFolder(childPath(root, 'run-1'), second, signal);
      expect(await readdir(join(disk, 'processed', 'run-1'))).toEqual(['a.csv']);
      expect(await readdir(join(disk, 'processed', 'run-1.1'))).toEqual(['b.csv']);
      expect((await readdir(disk)).sort()).toEqual(['processed']);
    },
    SLOW,
  );

  it(
    "removes an empty folder (the mover's cleanup of a reservation it could not record), and only an empty one",
    async () => {
      const { share, disk, path: root } = await freshFolder(kind);
      await ensureProcessedFolder(share, root, signal);
      const reserved = await reserveProcessedName(share, root, 'run-2', signal);
      await share.removeEmptyFolder(reserved, signal);
      expect(await readdir(join(disk, 'processed'))).toEqual([]);
      await mkdir(join(disk, 'processed', 'full'));
      await writeFile(join(disk, 'processed', 'full', 'keep.txt'), 'keep');
      await writeFile(join(disk, 'processed', 'file.txt'), 'file');
      expect(await codeOf(share.removeEmptyFolder(childPath(childPath(root, 'processed'), 'full'), signal))).toBe('ENOTEMPTY');
      expect(await codeOf(share.removeEmptyFolder(childPath(childPath(root, 'processed'), 'file.txt'), signal))).toBe('ENOTDIR');
      expect(await codeOf(share.removeEmptyFolder(childPath(childPath(root, 'processed'), 'missing'), signal))).toBe('ENOENT');
      expect((await readdir(join(disk, 'processed'))).sort()).toEqual(['file.txt', 'full']);
      expect(await readdir(join(disk, 'processed', 'full'))).toEqual(['keep.txt']);
    },
    SLOW,
  );

  it(
    'lists a name that is not UTF-8 as its bytes, and the session listing reports it escaped instead of decoding it',
    async () => {
      const { share, disk, path } = await freshFolder(kind);
      const bad = Buffer.concat([Buffer.from('bad-'), Buffer.from([0xff, 0xfe]), Buffer.from('.csv')]);
      await writeFile(Buffer.concat([Buffer.from(`${disk}/`), bad]), 'latin-1 name');
      await writeFile(join(disk, 'ok.csv'), 'fine');
      const names = (await share.list(path, signal)).map((e) => e.name);
      expect(names.map((n) => n.toString('hex')).sort()).toEqual([bad, Buffer.from('ok.csv')].map((n) => n.toString('hex')).sort());
      const listing = await listSessionFiles(share, path, ignoreMatcher([]), signal);
      expect(listing.invalidNames).toEqual(['bad-\\xff\\xfe.csv']);
      expect(listing.files.map((f) => f.relativePath)).toEqual(['ok.csv']);
    },
    SLOW,
  );
});

describe('an NFS server that stops answering', () => {
  afterEach(() => {
    ganesha.thaw();
  });

  it(
    'aborted calls stop waiting (AbortError) although the server never answers: a listing, a read, a connect; close() returns',
    async () => {
      const { disk, path } = await freshFolder('nfs');
      await writeFile(join(disk, 'a.csv'), 'abc');
      // Every call would wait 10 minutes for an answer: only the signal can end them within the test.
      const options = { proxy: socks.url, timeout_seconds: 600, retry_seconds: 600 };
      const connected = new NfsShare(options);
      const fresh = new NfsShare(options);
      try {
        expect((await connected.list(path, signal)).length).toBe(1);
        const reading = new AbortController();
        const file = await connected.openFile(childPath(path, 'a.csv'), reading.signal);
        await ganesha.freeze();

        const listing = new AbortController();
        const listed = connected.list(path, listing.signal);
        const read = file.read(Buffer.alloc(3), 0, 3, 0);
        // A share with no connection yet: the TCP connect succeeds (the kernel accepts it), the session handshake never returns.
        const connecting = new AbortController();
        const connectedLate = fresh.stat(path, connecting.signal);
        setTimeout(() => {
          listing.abort();
          reading.abort();
          connecting.abort();
        }, 500);
        await expect(listed).rejects.toMatchObject({ name: 'AbortError' });
        await expect(read).rejects.toMatchObject({ name: 'AbortError' });
        await expect(connectedLate).rejects.toMatchObject({ name: 'AbortError' });
      } finally {
        await Promise.all([connected.close(), fresh.close()]);
      }
    },
    SLOW,
  );
});
