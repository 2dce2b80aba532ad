import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyError } from '../../app/errors.js';
import { connectNfs, type NfsClient, type NfsHandle } from '../../app/share/nfs/client.js';
import { NfsError } from '../../app/share/nfs/nfs-error.js';
import { readChunks } from '../../app/share/nfs/read-stream.js';
import { NfsFile } from '../../app/share/nfs-file.js';
import { nfsAttributes } from '../../app/share/nfs-attributes.js';
import { Ganesha, Microsocks } from '../helpers/nfs-server.js';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

async function hashOverNfs(client: NfsClient, handle: NfsHandle, options: Parameters<typeof readChunks>[2] = {}): Promise<{ hash: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of readChunks(client, handle, options)) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { hash: hash.digest('hex'), bytes };
}

describe('NFSv4.1 client against nfs-ganesha', () => {
  let server: Ganesha;
  let proxy: Microsocks;
  let client: NfsClient;
  let unixSocket: Server;
  const big = randomBytes(24 * 1024 * 1024 + 12345);
  const small = Buffer.from('temperature,42\n');

  beforeAll(async () => {
    server = await Ganesha.start();
    proxy = await Microsocks.start();
    const d = server.dir;
    await mkdir(join(d, 'session'));
    await writeFile(join(d, 'session', 'small.csv'), small);
    await writeFile(join(d, 'session', 'empty.bin'), '');
    await writeFile(join(d, 'session', 'big.bin'), big);
    await mkdir(join(d, 'session', 'raw'));
    await symlink('/etc/passwd', join(d, 'session', 'link-out'));
    await symlink('raw', join(d, 'session', 'link-dir'));
    execFileSync('mkfifo', [join(d, 'session', 'fifo')]);
    execFileSync('mknod', [join(d, 'session', 'chr'), 'c', '1', '3']);
    execFileSync('mknod', [join(d, 'session', 'blk'), 'b', '7', '0']);
    unixSocket = createServer();
    await new Promise<void>((resolve) => unixSocket.listen(join(d, 'session', 'sock'), resolve));
    await mkdir(join(d, 'odd names'));
    await writeFile(join(d, 'odd names', 'café ☕ 数据 #1.txt'), 'unicode');
    await writeFile(join(d, 'odd names', ' leading and trailing '), 'spaces');
    await writeFile(join(d, 'secret.bin'), 'not for uid 1000');
    await chmod(join(d, 'secret.bin'), 0o000);
    client = await connectNfs({ host: '127.0.0.1', port: server.port, exportPath: '/export', timeoutMs: 20_000 });
  });

  afterAll(async () => {
    await client?.close();
    unixSocket?.close();
    await proxy?.stop();
    await server?.stop();
  });

  it('lists a folder with every type from attributes, never following links', async () => {
    const dir = await client.resolve('session');
    expect(dir.type).toBe('dir');
    const entries = await client.readdir(dir.handle);
    const types = Object.fromEntries(entries.map((e) => [e.name, e.type]));
    expect(types).toEqual({
      'small.csv': 'file',
      'empty.bin': 'file',
      'big.bin': 'file',
      raw: 'dir',
      'link-out': 'symlink',
      'link-dir': 'symlink',
      fifo: 'fifo',
      chr: 'char',
      blk: 'block',
      sock: 'socket',
    });
    const bigEntry = entries.find((e) => e.name === 'big.bin');
    expect(bigEntry?.size).toBe(big.length);
    // The link's own size (its target's length), not /etc/passwd's.
    expect(entries.find((e) => e.name === 'link-out')?.size).toBe('/etc/passwd'.length);
    const stat = execFileSync('stat', ['-c', '%Y %i', join(server.dir, 'session', 'big.bin')], { encoding: 'utf8' })
      .trim()
      .split(' ');
    expect(bigEntry?.mtimeNs !== undefined && bigEntry.mtimeNs / 1_000_000_000n).toBe(BigInt(stat[0] as string));
    expect(bigEntry?.fileid).toBe(BigInt(stat[1] as string));
    expect(bigEntry?.change).not.toBeNull();
    expect(bigEntry?.handle.path).toBe('session/big.bin');
  });

  it('getattr of a handle agrees with the listing, and the change attribute moves when the file changes', async () => {
    const entry = await client.resolve('session/small.csv');
    const before = await client.getattr(entry.handle);
    expect(before).toMatchObject({ type: 'file', size: small.length, fileid: entry.fileid, change: entry.change });
    await new Promise((resolve) => setTimeout(resolve, 20));
    await writeFile(join(server.dir, 'session', 'small.csv'), Buffer.concat([small, small]));
    const after = await client.getattr(entry.handle);
    expect(after.size).toBe(small.length * 2);
    expect(after.change).not.toBe(before.change);
    await writeFile(join(server.dir, 'session', 'small.csv'), small);
  });

  it('reads small, empty and multi-MB files byte for byte, with several READs in flight', async () => {
    for (const [name, data] of [
      ['small.csv', small],
      ['empty.bin', Buffer.alloc(0)],
    ] as const) {
      const entry = await client.resolve(`session/${name}`);
      expect(await hashOverNfs(client, entry.handle)).toEqual({ hash: sha256(data), bytes: data.length });
    }
    const entry = await client.resolve('session/big.bin');
    let inFlight = 0;
    let mostInFlight = 0;
    let reads = 0;
    const read = client.read.bind(client);
    const counting = Object.create(client) as NfsClient;
    counting.read = async (...args) => {
      reads++;
      mostInFlight = Math.max(mostInFlight, ++inFlight);
      try {
        return await read(...args);
      } finally {
        inFlight--;
      }
    };
    expect(await hashOverNfs(counting, entry.handle, { chunkSize: 256 * 1024, inFlight: 6 })).toEqual({ hash: sha256(big), bytes: big.length });
    expect(mostInFlight).toBe(6);
    // With the size from the listing, a small file costs one READ, not one per slot.
    reads = 0;
    const smallEntry = await client.resolve('session/small.csv');
    expect(await hashOverNfs(counting, smallEntry.handle, { inFlight: 6, expectedSize: smallEntry.size })).toEqual({
      hash: sha256(small),
      bytes: small.length,
    });
    expect(reads).toBe(1);
    // A file that grew past the listed size is still read to its end.
    reads = 0;
    expect(await hashOverNfs(counting, entry.handle, { chunkSize: 256 * 1024, expectedSize: 1000 })).toEqual({ hash: sha256(big), bytes: big.length });
    expect(reads).toBeGreaterThan(big.length / (256 * 1024));
    // The default READ size is the server's (ganesha: 1 MiB) and gives the same bytes.
    expect(client.readSize).toBeGreaterThanOrEqual(64 * 1024);
    expect(await hashOverNfs(client, entry.handle)).toEqual({ hash: sha256(big), bytes: big.length });
  });

  it('reads a range from an offset', async () => {
    const entry = await client.resolve('session/big.bin');
    const { data, eof } = await client.read(entry.handle, 1_000_003, 4096);
    expect(data.equals(big.subarray(1_000_003, 1_000_003 + 4096))).toBe(true);
    expect(eof).toBe(false);
    const tail = await client.read(entry.handle, big.length - 10, 4096);
    expect(tail.data.equals(big.subarray(big.length - 10))).toBe(true);
    expect(tail.eof).toBe(true);
  });

  it("reads ranges into the caller's buffer byte for byte: in order (with READs ahead), after a jump, across the end", async () => {
    const small64k = await connectNfs({ host: '127.0.0.1', port: server.port, exportPath: '/export', timeoutMs: 20_000, readSize: 64 * 1024 });
    try {
      const entry = await small64k.resolve('session/big.bin');
      const file = new NfsFile(small64k, entry.handle, nfsAttributes(entry), new AbortController().signal);
      // Ranges of odd sizes, so READs ahead fall on the next range's chunks only sometimes.
      const whole = Buffer.alloc(big.length);
      let position = 0;
      for (const size of [1_000_000, 3 * 64 * 1024, 7 * 1024 * 1024 + 3, 64 * 1024]) {
        const buffer = Buffer.alloc(size + 10, 0xee);
        expect(await file.read(buffer, 10, size, position)).toBe(size);
        expect(buffer.subarray(0, 10).every((b) => b === 0xee)).toBe(true);
        buffer.copy(whole, position, 10);
        position += size;
      }
      for (let n = 1; n > 0; position += n) n = await file.read(whole, position, Math.min(8 * 1024 * 1024, big.length - position + 1), position);
      expect(position).toBe(big.length);
      expect(sha256(whole)).toBe(sha256(big));
      // A jump backwards, then in order again from there.
      const again = Buffer.alloc(2 * 1024 * 1024);
      expect(await file.read(again, 0, again.length, 5_000_000)).toBe(again.length);
      expect(again.equals(big.subarray(5_000_000, 5_000_000 + again.length))).toBe(true);
      expect(await file.read(again, 0, again.length, 5_000_000 + again.length)).toBe(again.length);
      expect(again.equals(big.subarray(5_000_000 + again.length, 5_000_000 + 2 * again.length))).toBe(true);
      // Past the end: what is there, then 0.
      const tail = Buffer.alloc(1024 * 1024);
      expect(await file.read(tail, 0, tail.length, big.length - 100)).toBe(100);
      expect(tail.subarray(0, 100).equals(big.subarray(big.length - 100))).toBe(true);
      expect(await file.read(tail, 0, tail.length, big.length)).toBe(0);
      await file.close();
    } finally {
      await small64k.close();
    }
  });

  it('lists, resolves and reads odd names (unicode, spaces)', async () => {
    const dir = await client.resolve('odd names');
    const names = (await client.readdir(dir.handle)).map((e) => e.name).sort();
    expect(names).toEqual([' leading and trailing ', 'café ☕ 数据 #1.txt']);
    const entry = await client.resolve('odd names/café ☕ 数据 #1.txt');
    expect((await client.read(entry.handle, 0, 100)).data.toString()).toBe('unicode');
  });

  it('makes folders and renames on the server, refusing to replace an existing target', async () => {
    const root = await client.root();
    const processed = await client.mkdir(root.handle, 'processed');
    expect(processed.type).toBe('dir');
    await expect(client.mkdir(root.handle, 'processed')).rejects.toMatchObject({ code: 'EEXIST', nfsStatus: 'NFS4ERR_EXIST' });
    await mkdir(join(server.dir, 'to-move'));
    await writeFile(join(server.dir, 'to-move', 'a.txt'), 'a');
    await client.rename(root.handle, 'to-move', processed.handle, 'to-move');
    expect(execFileSync('ls', [join(server.dir, 'processed', 'to-move')], { encoding: 'utf8' })).toBe('a.txt\n');

    // NFS RENAME would replace an empty folder of the same name: this one must not be.
    await mkdir(join(server.dir, 'to-move'));
    await writeFile(join(server.dir, 'to-move', 'b.txt'), 'b');
    await mkdir(join(server.dir, 'processed', 'empty-target'));
    await expect(client.rename(root.handle, 'to-move', processed.handle, 'to-move')).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(client.rename(root.handle, 'to-move', processed.handle, 'empty-target')).rejects.toMatchObject({ code: 'EEXIST' });
    expect(execFileSync('ls', [join(server.dir, 'to-move')], { encoding: 'utf8' })).toBe('b.txt\n');
    await expect(client.rename(root.handle, 'not-there', processed.handle, 'x')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('works the same through the SOCKS5 proxy', async () => {
    const viaProxy = await connectNfs({ host: '127.0.0.1', port: server.port, exportPath: '/export', proxy: proxy.url, timeoutMs: 20_000 });
    try {
      const dir = await viaProxy.resolve('session');
      expect((await viaProxy.readdir(dir.handle)).length).toBe(10);
      const entry = await viaProxy.resolve('session/big.bin');
      expect(await hashOverNfs(viaProxy, entry.handle)).toEqual({ hash: sha256(big), bytes: big.length });
    } finally {
      await viaProxy.close();
    }
    // The proxy is really in the path: with it gone, nothing connects.
    const goneProxy = await Microsocks.start();
    await goneProxy.stop();
    const err = await connectNfs({ host: '127.0.0.1', port: server.port, exportPath: '/export', proxy: goneProxy.url, timeoutMs: 5000, retryForMs: 0 }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'ECONNREFUSED' });
    expect(classifyError(err)).toMatchObject({ code: 'NFS_CONNECTION_REFUSED', retryable: true });
  });

  it('denies a file the AUTH_SYS user may not read, and that needs a person, not a retry', async () => {
    const asUser = await connectNfs({ host: '127.0.0.1', port: server.port, exportPath: '/export', uid: 1000, gid: 1000, timeoutMs: 20_000 });
    try {
      const entry = await asUser.resolve('secret.bin');
      expect(entry.mode & 0o777).toBe(0);
      const err = await asUser.read(entry.handle, 0, 100).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NfsError);
      expect(err).toMatchObject({ nfsStatus: 'NFS4ERR_ACCESS', code: 'EACCES' });
      expect(classifyError(err)).toMatchObject({ code: 'NFS_ACCESS', kind: 'fs', retryable: false });
      // The same user still lists and reads what it may.
      const small2 = await asUser.resolve('session/small.csv');
      expect((await asUser.read(small2.handle, 0, 100)).data.equals(small)).toBe(true);
    } finally {
      await asUser.close();
    }
  });

  it('resolves deep paths and looks single names up without following links', async () => {
    // Deeper than the 64 operations a COMPOUND may hold (the most this client asks for).
    const deep = Array.from({ length: 70 }, (_, i) => `level-${i}`).join('/');
    await mkdir(join(server.dir, deep), { recursive: true });
    await writeFile(join(server.dir, deep, 'bottom.txt'), 'deep');
    const bottom = await client.resolve(`${deep}/bottom.txt`);
    expect((await client.read(bottom.handle, 0, 10)).data.toString()).toBe('deep');
    expect(bottom.handle.path).toBe(`${deep}/bottom.txt`);

    const session = await client.resolve('session');
    expect(await client.lookup(session.handle, 'link-dir')).toMatchObject({ type: 'symlink', name: 'link-dir', handle: { path: 'session/link-dir' } });
    expect(await client.lookup(session.handle, 'raw')).toMatchObject({ type: 'dir' });
    await expect(client.lookup(session.handle, 'absent')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('fails on a path that does not exist with a retryable ENOENT, and on a wrong export at connect', async () => {
    const err = await client.resolve('session/nope').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ENOENT', nfsStatus: 'NFS4ERR_NOENT' });
    expect(classifyError(err)).toMatchObject({ code: 'NFS_NOENT', retryable: true });
    await expect(connectNfs({ host: '127.0.0.1', port: server.port, exportPath: '/nothing-here', timeoutMs: 20_000 })).rejects.toMatchObject({
      code: 'ENOENT',
    });
    await expect(client.resolve('session/../secret.bin')).rejects.toThrow(/must not contain/);
  });
});
