import { createServer, type Server, type Socket } from 'node:net';
import { S3Client } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import { Http1Connections } from '../../app/s3/http1-connections.js';
import { leanPutFor } from '../../app/s3/direct-put.js';
import { Transfer } from '../../app/s3/transfer.js';
import { testConfig } from '../helpers/fixtures.js';

/** What the test server does with the n-th request (from 1) on a connection. */
type Reply = (n: number) => { answer: string; pieces?: number } | 'reset' | 'silence' | 'hold';

/** A TCP server speaking just enough HTTP/1.1 to answer PUTs the way a test says. */
async function rawServer(reply: Reply): Promise<{ port: number; connections: number; requests: number; held: Socket[] }> {
  const state = { port: 0, connections: 0, requests: 0, held: [] as Socket[] };
  const server = createServer((socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    let n = 0;
    socket.on('data', (data: Buffer) => {
      buf = Buffer.concat([buf, data]);
      for (;;) {
        const headEnd = buf.indexOf('\r\n\r\n');
        if (headEnd < 0) return;
        const length = Number(/content-length: *(\d+)/i.exec(buf.toString('latin1', 0, headEnd))?.[1] ?? 0);
        if (buf.length < headEnd + 4 + length) return;
        buf = buf.subarray(headEnd + 4 + length);
        state.requests++;
        const r = reply(++n);
        if (r === 'reset') return void socket.resetAndDestroy();
        if (r === 'silence') return;
        if (r === 'hold') return void state.held.push(socket);
        // The answer in `pieces` separate writes, to split it across TCP segments.
        const bytes = Buffer.from(r.answer, 'latin1');
        const pieces = r.pieces ?? 1;
        const size = Math.ceil(bytes.length / pieces);
        for (let i = 0; i < pieces; i++) setTimeout(() => socket.write(bytes.subarray(i * size, (i + 1) * size)), i);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  state.port = (server.address() as { port: number }).port;
  servers.push(server);
  return state;
}

const servers: Server[] = [];
const sockets = new Set<Socket>();
afterEach(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

const OK = 'HTTP/1.1 200 OK\r\nETag: "e"\r\nContent-Length: 0\r\n\r\n';
const head = (port: number, key: string) => `PUT /b/${key} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-length: 3\r\n\r\n`;
const signal = new AbortController().signal;

describe('keep-alive HTTP/1.1 connections for the lean PUT', () => {
  it('a kept connection the server drops as it is reused: the request goes again on a new connection, not to the caller as an error', async () => {
    const srv = await rawServer((n) => (n === 2 ? 'reset' : { answer: OK }));
    const pool = new Http1Connections({ protocol: 'http:', hostname: '127.0.0.1', port: srv.port }, 4, { connectMs: 2000, requestMs: 5000 });
    for (const key of ['a', 'b', 'c']) {
      const res = await pool.request(head(srv.port, key), Buffer.from('abc'), signal);
      expect(res.status, key).toBe(200);
      expect(res.headers.etag).toBe('"e"');
    }
    // a on #1; b reset on #1, sent again on #2; c on #2 (its 2nd request: reset), sent again on #3.
    expect(srv.connections).toBe(3);
    expect(srv.requests).toBe(5);
    pool.close();
  });

  it('at most maxSockets connections: more requests wait for one and then reuse it', async () => {
    const srv = await rawServer((n) => (n === 1 ? 'hold' : { answer: OK }));
    const pool = new Http1Connections({ protocol: 'http:', hostname: '127.0.0.1', port: srv.port }, 2, { connectMs: 2000, requestMs: 5000 });
    const results = Promise.all(['a', 'b', 'c', 'd', 'e', 'f'].map((k) => pool.request(head(srv.port, k), Buffer.from('abc'), signal)));
    await new Promise((r) => setTimeout(r, 200));
    expect(srv.held).toHaveLength(2);
    for (const socket of srv.held) socket.write(OK);
    expect((await results).map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(srv.connections).toBe(2);
    pool.close();
  });

  it('connections that cannot be made fail every request, the waiting ones too (none hangs)', async () => {
    const srv = await rawServer(() => ({ answer: OK }));
    const port = srv.port;
    await new Promise((r) => servers.pop()?.close(r));
    const pool = new Http1Connections({ protocol: 'http:', hostname: '127.0.0.1', port }, 1, { connectMs: 2000, requestMs: 5000 });
    const outcomes = await Promise.all(
      ['a', 'b', 'c'].map((k) =>
        pool.request(head(port, k), Buffer.from('abc'), signal).then(
          () => 'answered',
          (e: { code?: string }) => e.code,
        ),
      ),
    );
    expect(outcomes).toEqual(['ECONNREFUSED', 'ECONNREFUSED', 'ECONNREFUSED']);
  });

  it('an answer with Connection: close is never reused', async () => {
    const srv = await rawServer(() => ({ answer: 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n' }));
    const pool = new Http1Connections({ protocol: 'http:', hostname: '127.0.0.1', port: srv.port }, 2, { connectMs: 2000, requestMs: 5000 });
    for (const key of ['a', 'b', 'c']) expect((await pool.request(head(srv.port, key), Buffer.from('abc'), signal)).status).toBe(200);
    expect(srv.connections).toBe(3);
  });

  it('a server that never answers: the request times out (retryable network error), it does not hang', async () => {
    const srv = await rawServer(() => 'silence');
    const pool = new Http1Connections({ protocol: 'http:', hostname: '127.0.0.1', port: srv.port }, 2, { connectMs: 2000, requestMs: 300 });
    const started = Date.now();
    await expect(pool.request(head(srv.port, 'a'), Buffer.from('abc'), signal)).rejects.toMatchObject({ name: 'TimeoutError', code: 'ETIMEDOUT' });
    // 300 ms timeout; the bound is generous for a loaded machine and still far from a hang.
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('an S3 error document sent chunked in small pieces becomes the SDK-shaped error, and a 403 is not retried', async () => {
    const xml = '<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>R9</RequestId></Error>';
    const chunked = `${(20).toString(16)}\r\n${xml.slice(0, 20)}\r\n${(xml.length - 20).toString(16)}\r\n${xml.slice(20)}\r\n0\r\n\r\n`;
    const srv = await rawServer(() => ({
      answer: `HTTP/1.1 403 Forbidden\r\nx-amz-request-id: R9\r\nTransfer-Encoding: chunked\r\n\r\n${chunked}`,
      pieces: 25,
    }));
    const s3 = new S3Client({
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${srv.port}`,
      forcePathStyle: true,
      credentials: { accessKeyId: 'AK', secretAccessKey: 'SK' },
    });
    try {
      const direct = await leanPutFor(s3, 'bucket', 2);
      if (!direct) throw new Error('expected the lean PUT for a plain endpoint');
      const err = await direct
        .putObject({ key: 'k', body: Buffer.from('abc'), sha256: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad' }, signal)
        .then(
          () => null,
          (e: unknown) => e,
        );
      expect(err).toMatchObject({ name: 'AccessDenied', message: 'Access Denied', $metadata: { httpStatusCode: 403, requestId: 'R9' } });
      expect(srv.requests).toBe(1);
    } finally {
      s3.destroy();
    }
  });

  it('closing the transfer closes its connections: the idle ones at once, a busy one when its answer comes', async () => {
    let count = 0;
    const srv = await rawServer(() => (++count === 3 ? 'hold' : { answer: OK }));
    const config = testConfig({ root: '/lab/sessions', work: '/lab/work', s3: { endpoint: `http://127.0.0.1:${srv.port}`, bucket: 'bucket' } });
    const s3 = new S3Client({
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${srv.port}`,
      forcePathStyle: true,
      credentials: { accessKeyId: 'AK', secretAccessKey: 'SK' },
    });
    const transfer = new Transfer(s3, config.upload, 'UTC');
    try {
      const put = await transfer.put();
      const body = Buffer.from('abc');
      const sha256 = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
      await Promise.all(['a', 'b'].map((key) => put.putObject({ key, body, sha256 }, signal)));
      expect(srv.connections).toBe(2);
      const held = put.putObject({ key: 'c', body, sha256 }, signal);
      await until(() => srv.held.length === 1);
      await transfer.close();
      await until(() => sockets.size === 1);
      srv.held[0]?.write(OK);
      await expect(held).resolves.toEqual({ etag: '"e"', checksumCrc32: null });
      await until(() => sockets.size === 0);
      await expect(transfer.put()).rejects.toThrow(/closed/);
    } finally {
      s3.destroy();
    }
  });
});

async function until(condition: () => boolean): Promise<void> {
  for (let waited = 0; !condition(); waited += 10) {
    if (waited > 10_000) throw new Error('condition not met within 10 s');
    await new Promise((r) => setTimeout(r, 10));
  }
}
