import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyError } from '../../app/errors.js';
import { connectNfs, type NfsClient, type NfsConnectOptions } from '../../app/share/nfs/client.js';
import { readChunks } from '../../app/share/nfs/read-stream.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { Ganesha, Microsocks } from '../helpers/nfs-server.js';
import { freePort } from '../helpers/ports.js';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** Reads the whole file, calling `during` after the `at`-th chunk (the reads after it are already in flight). */
async function hashWhile(
  client: NfsClient,
  path: string,
  at: number,
  during: () => Promise<void>,
): Promise<{ hash: string; bytes: number; bytesBefore: number }> {
  const entry = await client.resolve(path);
  const hash = createHash('sha256');
  let bytes = 0;
  let chunks = 0;
  let bytesBefore = -1;
  for await (const chunk of readChunks(client, entry.handle, { chunkSize: 256 * 1024, inFlight: 4 })) {
    hash.update(chunk);
    bytes += chunk.length;
    if (++chunks === at) {
      bytesBefore = bytes;
      await during();
    }
  }
  return { hash: hash.digest('hex'), bytes, bytesBefore };
}

describe('NFS client under faults', () => {
  let server: Ganesha;
  const data = randomBytes(32 * 1024 * 1024);
  const options = (extra: Partial<NfsConnectOptions> = {}): NfsConnectOptions => ({
    host: '127.0.0.1',
    port: server.port,
    exportPath: '/export',
    timeoutMs: 20_000,
    ...extra,
  });

  beforeAll(async () => {
    server = await Ganesha.start();
    await writeFile(join(server.dir, 'data.bin'), data);
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('finishes a read with the right bytes when ganesha is killed and restarted in the middle of it', async () => {
    const client = await connectNfs(options());
    try {
      let restarted: Promise<void> = Promise.resolve();
      const result = await hashWhile(client, 'data.bin', 3, async () => {
        await server.kill();
        // Started later, so the reads in flight meet a dead server first and must reconnect.
        restarted = sleep(1500).then(() => server.resume());
      });
      await restarted;
      expect(result.bytesBefore).toBeLessThan(data.length / 2);
      expect(result).toMatchObject({ hash: sha256(data), bytes: data.length });
    } finally {
      await client.close();
    }
  });

  it('finishes a read through the SOCKS5 proxy when the connection is dropped mid-read, twice', async () => {
    const socks = await Microsocks.start();
    const relay = await new FaultProxy('127.0.0.1', server.port).start(await freePort());
    const client = await connectNfs({ ...options(), port: relay.port, proxy: socks.url });
    try {
      const result = await hashWhile(client, 'data.bin', 2, async () => {
        relay.dropAll();
        await sleep(50);
        relay.dropAll();
      });
      expect(result.bytesBefore).toBeLessThan(data.length / 2);
      expect(result).toMatchObject({ hash: sha256(data), bytes: data.length });

      // While nothing gets through, a read fails with a code that says try again, within its budget.
      relay.fault = 'refuse';
      relay.dropAll();
      const short = await connectNfs({ ...options(), port: relay.port, proxy: socks.url, retryForMs: 1000 }).catch((e: unknown) => e);
      expect(classifyError(short)).toMatchObject({ kind: 'fs', retryable: true });
      expect(classifyError(short).code).toMatch(/^NFS_(CONNECTION_LOST|PROXY_FAILED|CONNECTION_REFUSED)$/);
      relay.fault = 'none';
      expect((await client.resolve('data.bin')).size).toBe(data.length);
    } finally {
      await client.close();
      await relay.close();
      await socks.stop();
    }
  });

  it('reports a folder replaced under the client as a stale handle, and a new lookup finds the new folder', async () => {
    await mkdir(join(server.dir, 'session'));
    await writeFile(join(server.dir, 'session', 'old.csv'), 'old');
    const client = await connectNfs(options());
    try {
      const before = await client.resolve('session');
      const file = await client.resolve('session/old.csv');
      expect((await client.readdir(before.handle)).map((e) => e.name)).toEqual(['old.csv']);
      await rm(join(server.dir, 'session'), { recursive: true });
      await mkdir(join(server.dir, 'session'));
      await writeFile(join(server.dir, 'session', 'new.csv'), 'new');
      for (const attempt of [() => client.readdir(before.handle), () => client.read(file.handle, 0, 10), () => client.getattr(before.handle)]) {
        const err = await attempt().catch((e: unknown) => e);
        expect(err).toMatchObject({ nfsStatus: 'NFS4ERR_STALE', code: 'ESTALE' });
        expect(classifyError(err)).toMatchObject({ code: 'NFS_STALE', kind: 'fs', retryable: true });
      }
      const after = await client.resolve('session');
      expect((await client.readdir(after.handle)).map((e) => e.name)).toEqual(['new.csv']);
    } finally {
      await client.close();
    }
  });

  it('times out instead of hanging when the server stops answering, and recovers when it answers again', async () => {
    const client = await connectNfs(options({ timeoutMs: 1500, retryForMs: 3000 }));
    const entry = await client.resolve('data.bin');
    await server.freeze();
    try {
      const started = Date.now();
      const err = await client.getattr(entry.handle).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'ETIMEDOUT', nfsStatus: 'TIMEOUT' });
      expect(classifyError(err)).toMatchObject({ code: 'NFS_TIMEOUT', retryable: true });
      const chunks = readChunks(client, entry.handle);
      await expect(chunks.next()).rejects.toMatchObject({ code: 'ETIMEDOUT' });
      // Generous: a hang would never end; the deadline is 1.5 s per call, 3 s of retries.
      expect(Date.now() - started).toBeLessThan(60_000);
    } finally {
      server.thaw();
    }
    expect((await client.getattr(entry.handle)).size).toBe(data.length);
    await client.close();
  });

  it('stops waiting as soon as the caller aborts', async () => {
    const client = await connectNfs(options({ timeoutMs: 120_000 }));
    const entry = await client.resolve('data.bin');
    await server.freeze();
    try {
      const controller = new AbortController();
      const reading = client.read(entry.handle, 0, 1024, { signal: controller.signal });
      setTimeout(() => controller.abort(), 200);
      const started = Date.now();
      const err = await reading.catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'AbortError' });
      expect(classifyError(err).code).toBe('ABORTED');
      expect(Date.now() - started).toBeLessThan(30_000);
    } finally {
      server.thaw();
    }
    // Aborting one call leaves the client usable.
    expect((await client.read(entry.handle, 0, 4)).data.equals(data.subarray(0, 4))).toBe(true);
    await client.close();
  });

  it('fails with a retryable connection-refused when nothing listens', async () => {
    const port = await freePort();
    const err = await connectNfs({ host: '127.0.0.1', port, exportPath: '/export', timeoutMs: 5000, retryForMs: 500 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ECONNREFUSED', nfsStatus: 'CONNECTION_REFUSED' });
    expect(classifyError(err)).toMatchObject({ code: 'NFS_CONNECTION_REFUSED', retryable: true });
  });
});

describe('NFS client and a server grace period', () => {
  let server: Ganesha;

  beforeAll(async () => {
    server = await Ganesha.start({ graceSeconds: 10 });
    await mkdir(join(server.dir, 'a'));
    await writeFile(join(server.dir, 'f.txt'), 'x');
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('waits out NFS4ERR_GRACE after a restart, and reports it as retryable when out of patience', async () => {
    // libnfs opens the file (open state), so the restarted server keeps a grace period for it to reclaim.
    execFileSync('nfs-cat', [`nfs://127.0.0.1/export/f.txt?version=4&nfsport=${server.port}`]);
    await server.kill();
    await server.resume();
    expect(await server.log()).toMatch(/IN GRACE/);

    const impatient = await connectNfs({ host: '127.0.0.1', port: server.port, exportPath: '/export', timeoutMs: 20_000, retryForMs: 0 });
    const root = await impatient.root();
    const err = await impatient.rename(root.handle, 'a', root.handle, 'b').catch((e: unknown) => e);
    await impatient.close();
    expect(err).toMatchObject({ nfsStatus: 'NFS4ERR_GRACE' });
    expect(classifyError(err)).toMatchObject({ code: 'NFS_GRACE', retryable: true });

    const patient = await connectNfs({ host: '127.0.0.1', port: server.port, exportPath: '/export', timeoutMs: 20_000, retryForMs: 120_000 });
    try {
      await patient.rename(root.handle, 'a', root.handle, 'b');
      expect(execFileSync('ls', [server.dir], { encoding: 'utf8' }).split('\n')).toContain('b');
    } finally {
      await patient.close();
    }
  });
});

describe('NFS client and an expired lease', () => {
  let server: Ganesha;

  beforeAll(async () => {
    server = await Ganesha.start({ leaseSeconds: 2 });
    await writeFile(join(server.dir, 'f.txt'), 'still here');
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('makes a new session when the server forgot the client after a silence longer than the lease', async () => {
    const client = await connectNfs({ host: '127.0.0.1', port: server.port, exportPath: '/export', timeoutMs: 20_000 });
    try {
      const entry = await client.resolve('f.txt');
      const sessions = client.sessionsEstablished;
      // Between two scans the agent is silent for a minute; ganesha's default lease is 60 s.
      await sleep(12_000);
      expect((await client.read(entry.handle, 0, 100)).data.toString()).toBe('still here');
      expect(client.sessionsEstablished).toBeGreaterThan(sessions);
    } finally {
      await client.close();
    }
  });
});
