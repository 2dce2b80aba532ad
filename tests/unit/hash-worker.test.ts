import { createHash, randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentError } from '../../app/errors.js';
import { HashWorker, hashOnThisThread, type FileHash } from '../../app/s3/hash-worker.js';

function crcBase64(data: Buffer): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(crc32(data) >>> 0);
  return b.toString('base64');
}

let worker: HashWorker | undefined;
afterEach(async () => {
  await worker?.close();
  worker = undefined;
});

describe('hashing a file part by part', () => {
  const sources: [string, () => () => FileHash][] = [
    [
      'worker thread',
      () => {
        const w = new HashWorker();
        worker = w;
        return () => w.start();
      },
    ],
    ['this thread', () => hashOnThisThread],
  ];

  for (const [name, make] of sources) {
    it(`${name}: two files interleaved get their own SHA-256, and every part its CRC32 (shared and ordinary buffers)`, async () => {
      const start = make();
      const a = start();
      const b = start();
      const whole = { a: createHash('sha256'), b: createHash('sha256') };
      const crcs: Promise<string>[] = [];
      const expected: string[] = [];
      for (let i = 0; i < 6; i++) {
        const partA = Buffer.from(new SharedArrayBuffer(1024 * 1024 - i));
        randomBytes(partA.length).copy(partA);
        const partB = randomBytes(1000 + i);
        whole.a.update(partA);
        whole.b.update(partB);
        crcs.push(a.update(partA), b.update(partB));
        expected.push(crcBase64(partA), crcBase64(partB));
      }
      expect(await Promise.all(crcs)).toEqual(expected);
      expect(await a.digest()).toBe(whole.a.digest('hex'));
      expect(await b.digest()).toBe(whole.b.digest('hex'));
    });
  }

  it('a worker that is gone fails what waits and what comes after, with a retryable error', async () => {
    const w = new HashWorker();
    const file = w.start();
    const waiting = file.update(randomBytes(64 * 1024 * 1024));
    await w.close();
    const first = await waiting.then(
      () => null,
      (err: unknown) => err,
    );
    expect(first).toBeInstanceOf(AgentError);
    expect(first).toMatchObject({ code: 'HASH_WORKER_EXITED', retryable: true });
    await expect(w.start().digest()).rejects.toMatchObject({ code: 'HASH_WORKER_EXITED' });
  });
});
