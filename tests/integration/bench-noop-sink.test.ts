import { request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { startNoopS3, type NoopS3 } from '../../bench/noop-s3.js';

/** One request on a connection of its own; resolves with the status once the answer has come. */
function send(endpoint: string, method: string, path: string, body?: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${endpoint}${path}`, { method, agent: false, headers: body ? { 'Content-Length': String(body.length) } : {} }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

// Lower bounds on elapsed time only: a loaded machine makes these slower, never faster.
describe('bench no-op sink on a shaped link', () => {
  let sink: NoopS3 | undefined;
  afterEach(async () => {
    await sink?.close();
    sink = undefined;
  });

  it('reads 1 MiB no faster than 8 Mbit/s (≈1.05 s) before answering', async () => {
    sink = await startNoopS3({ linkMbps: 8 });
    const t0 = performance.now();
    expect(await send(sink.endpoint, 'PUT', '/bench/one', Buffer.alloc(1024 * 1024))).toBe(200);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(1000);
    expect(sink.stats().bytes).toBe(1024 * 1024);
  });

  it('shares the cap: two connections of 512 KiB at once take as long as 1 MiB on one', async () => {
    sink = await startNoopS3({ linkMbps: 8 });
    const t0 = performance.now();
    const ends = await Promise.all(
      ['/bench/a', '/bench/b'].map((p) => send((sink as NoopS3).endpoint, 'PUT', p, Buffer.alloc(512 * 1024)).then(() => performance.now() - t0)),
    );
    expect(Math.max(...ends)).toBeGreaterThanOrEqual(1000);
  });

  it('adds the latency to every answer, bodiless ones too', async () => {
    sink = await startNoopS3({ latencyMs: 300 });
    for (const [method, path] of [
      ['HEAD', '/bench'],
      ['PUT', '/bench/x'],
    ] as const) {
      const t0 = performance.now();
      await send(sink.endpoint, method, path, method === 'PUT' ? Buffer.alloc(10) : undefined);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(295);
    }
  });

  it('records the size of every part it receives', async () => {
    sink = await startNoopS3();
    await send(sink.endpoint, 'PUT', '/bench/k?partNumber=1&uploadId=u', Buffer.alloc(3000));
    await send(sink.endpoint, 'PUT', '/bench/k?partNumber=2&uploadId=u', Buffer.alloc(3000));
    await send(sink.endpoint, 'PUT', '/bench/k?partNumber=3&uploadId=u', Buffer.alloc(100));
    expect(sink.stats().partSizes).toEqual({ 3000: 2, 100: 1 });
  });
});
