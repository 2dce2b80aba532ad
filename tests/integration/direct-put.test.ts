import { randomBytes } from 'node:crypto';
import { getEventListeners } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leanPutFor } from '../../app/s3/direct-put.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { getObject, s3Client, sha256, startTestS3, type TestS3 } from '../helpers/s3.js';

let s3: TestS3;
let proxy: FaultProxy;

beforeAll(async () => {
  s3 = await startTestS3('direct-put-bucket');
  proxy = await new FaultProxy('127.0.0.1', Number(new URL(s3.endpoint).port)).start();
});
afterAll(async () => {
  await proxy?.close();
  await s3?.close();
});

describe('the lean PUT', () => {
  it('a stop aborts every request in flight at once, leaves no listener behind, and later PUTs still work', async () => {
    const client = s3Client(proxy.url, s3.credentials);
    try {
      const direct = await leanPutFor(client, s3.bucket, 4);
      if (!direct) throw new Error('the lean PUT should serve a plain SigV4 endpoint');
      const body = randomBytes(64 * 1024);
      const hash = sha256(body);

      // Requests held at the proxy for 10 s; the stop comes after 200 ms.
      proxy.delayMs = 10_000;
      const stop = new AbortController();
      const started = Date.now();
      const puts = ['a', 'b', 'c'].map((k) =>
        direct.putObject({ key: `held/${k}`, body, sha256: hash }, stop.signal).then(
          () => 'done',
          (err: Error) => err.name,
        ),
      );
      setTimeout(() => stop.abort(new DOMException('stopping', 'AbortError')), 200);
      expect(await Promise.all(puts)).toEqual(['AbortError', 'AbortError', 'AbortError']);
      // Well under the 10 s hold, with room for a loaded machine.
      expect(Date.now() - started).toBeLessThan(7_000);
      expect(getEventListeners(stop.signal, 'abort')).toHaveLength(0);

      // A session's signal that is never aborted keeps no listener once its PUTs are done.
      proxy.delayMs = 0;
      const session = new AbortController();
      await Promise.all(['x', 'y'].map((k) => direct.putObject({ key: `after/${k}`, body, sha256: hash, metadata: { sha256: hash } }, session.signal)));
      expect(getEventListeners(session.signal, 'abort')).toHaveLength(0);
      const got = await getObject(s3, 'after/y');
      expect(sha256(got)).toBe(hash);
      direct.close();
    } finally {
      proxy.delayMs = 0;
      client.destroy();
    }
  });
});
