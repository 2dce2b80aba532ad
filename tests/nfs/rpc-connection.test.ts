import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { classifyError } from '../../app/errors.js';
import { RpcConnection, openSocket } from '../../app/share/nfs/rpc-connection.js';
import { XdrWriter, type XdrReader } from '../../app/share/nfs/xdr.js';

/**
 * ONC RPC framing against a real TCP peer that answers with hand-made bytes: the cases
 * ganesha never produces (replies in several fragments, a record split at every byte,
 * refusals), which the client must still read right.
 */
type Answer = (xid: number, socket: Socket) => void;

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

async function peer(answer: Answer): Promise<RpcConnection> {
  server = createServer((socket) => {
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 4) {
        const length = pending.readUInt32BE(0) & 0x7fffffff;
        if (pending.length < 4 + length) return;
        answer(pending.readUInt32BE(4), socket);
        pending = pending.subarray(4 + length);
      }
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return new RpcConnection(await openSocket({ host: '127.0.0.1', port }, 5000), { uid: 1000, gid: 1000 }, `test peer :${port}`);
}

/** An accepted, successful reply carrying `body`. */
function success(xid: number, body: Buffer): Buffer {
  return Buffer.concat([new XdrWriter().u32(xid).u32(1).u32(0).u32(0).u32(0).u32(0).bytes(), body]);
}

function fragments(record: Buffer, sizes: number[]): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  sizes.forEach((size, i) => {
    const last = i === sizes.length - 1;
    const piece = record.subarray(at, last ? record.length : at + size);
    at += piece.length;
    parts.push(new XdrWriter().u32((last ? 0x80000000 : 0) | piece.length).bytes(), piece);
  });
  return Buffer.concat(parts);
}

describe('RpcConnection', () => {
  it('reads a reply sent in three fragments, delivered one byte at a time', async () => {
    const payload = Buffer.from('0123456789abcdef'.repeat(100));
    const conn = await peer((xid, socket) => {
      const bytes = fragments(success(xid, new XdrWriter().opaque(payload).bytes()), [7, 500]);
      for (let i = 0; i < bytes.length; i++) socket.write(bytes.subarray(i, i + 1));
    });
    const reply = await conn.call(0, () => undefined, 10_000);
    expect(reply.opaque().equals(payload)).toBe(true);
    conn.close();
  });

  it("reads a reply's data straight into the caller's buffer, across fragments and split reads", async () => {
    const data = Buffer.from('abcdefghijklmnopqrstuvwxyz'.repeat(5000));
    const conn = await peer((xid, socket) => {
      // count, data (padded), then a trailing word that is not data
      const bytes = fragments(success(xid, Buffer.concat([new XdrWriter().opaque(data).bytes(), new XdrWriter().u32(7).bytes()])), [3, 40_000, 13, 50_000]);
      for (let at = 0; at < bytes.length; at += 4093) socket.write(bytes.subarray(at, at + 4093));
    });
    const into = Buffer.alloc(data.length + 8, 0);
    const { reply } = conn.callInto(0, () => undefined, 10_000, { locate: (r) => r.u32(), destination: () => into, length: into.length });
    const rest = await reply;
    expect(into.subarray(0, data.length).equals(data)).toBe(true);
    expect(into.subarray(data.length).every((b) => b === 0)).toBe(true);
    // The reader holds the results up to where the data begins: here the count alone.
    expect(rest.remaining).toBe(4);
    expect(rest.u32()).toBe(data.length);
    // A reply with more data than the buffer holds breaks the stream rather than overrunning.
    const { reply: tooBig } = conn.callInto(0, () => undefined, 10_000, { locate: (r) => r.u32(), destination: () => Buffer.alloc(10), length: 10 });
    await expect(tooBig).rejects.toMatchObject({ nfsStatus: 'CONNECTION_LOST' });
    expect(conn.closed).toBe(true);
  });

  it('gives a target buffer back only once nothing more of its reply will be written there', async () => {
    const data = Buffer.alloc(200_000, 7);
    const held: (() => void)[] = [];
    const conn = await peer((xid, socket) => {
      const bytes = fragments(success(xid, new XdrWriter().opaque(data).bytes()), [0]);
      // The first reply stops half-way until released; the second waits whole.
      const first = held.length === 0;
      if (first) socket.write(bytes.subarray(0, 100_000));
      held.push(() => socket.write(first ? bytes.subarray(100_000) : bytes));
    });
    const target = (into: Buffer) => ({ locate: (r: XdrReader) => r.u32(), destination: () => into, length: into.length });
    const first = Buffer.alloc(data.length);
    const streaming = conn.callInto(0, () => undefined, 10_000, target(first));
    while (first[0] !== 7) await new Promise((resolve) => setTimeout(resolve, 10));
    let released = false;
    const releasing = streaming.release().then(() => (released = true));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(released).toBe(false);
    // A call whose reply has not begun gives its buffer back at once; the reply lands elsewhere.
    const second = Buffer.alloc(data.length);
    const waiting = conn.callInto(0, () => undefined, 10_000, target(second));
    while (held.length < 2) await new Promise((resolve) => setTimeout(resolve, 10));
    await waiting.release();
    held[0]?.();
    await releasing;
    await streaming.reply;
    expect(first.equals(data)).toBe(true);
    held[1]?.();
    await waiting.reply;
    expect(second.every((b) => b === 0)).toBe(true);
    conn.close();
  });

  it('matches replies to calls by xid, whatever their order', async () => {
    const held: { xid: number; socket: Socket }[] = [];
    const conn = await peer((xid, socket) => {
      held.push({ xid, socket });
      if (held.length === 2) for (const h of held.reverse()) h.socket.write(fragments(success(h.xid, new XdrWriter().u32(h.xid).bytes()), [0]));
    });
    const [a, b] = await Promise.all([conn.call(0, () => undefined, 10_000), conn.call(0, () => undefined, 10_000)]);
    // Each reply echoes its xid; xids are given out in order, so the first call's is one less.
    expect(b.u32() - a.u32()).toBe(1);
    conn.close();
  });

  it('reports refused credentials as needing a person, and a missing program as a protocol mismatch', async () => {
    const conn = await peer((xid, socket) => {
      // MSG_DENIED, AUTH_ERROR, AUTH_TOOWEAK
      socket.write(fragments(new XdrWriter().u32(xid).u32(1).u32(1).u32(1).u32(5).bytes(), [0]));
    });
    const err = await conn.call(0, () => undefined, 10_000).catch((e: unknown) => e);
    expect(err).toMatchObject({ nfsStatus: 'RPC_AUTH_ERROR', code: 'EACCES' });
    expect(classifyError(err)).toMatchObject({ code: 'NFS_RPC_AUTH_ERROR', retryable: false });
    conn.close();

    const other = await peer((xid, socket) => {
      // MSG_ACCEPTED, PROG_UNAVAIL
      socket.write(fragments(new XdrWriter().u32(xid).u32(1).u32(0).u32(0).u32(0).u32(1).bytes(), [0]));
    });
    await expect(other.call(0, () => undefined, 10_000)).rejects.toMatchObject({ nfsStatus: 'RPC_MISMATCH' });
    other.close();
  });

  it('tears the connection down on a record larger than any reply can be', async () => {
    const conn = await peer((_xid, socket) => {
      socket.write(new XdrWriter().u32(0x80000000 | (100 * 1024 * 1024)).bytes());
    });
    await expect(conn.call(0, () => undefined, 10_000)).rejects.toMatchObject({ nfsStatus: 'CONNECTION_LOST' });
    expect(conn.closed).toBe(true);
  });

  it('fails every call in flight with TIMEOUT when one gets no answer in time', async () => {
    const conn = await peer(() => undefined);
    const calls = [conn.call(0, () => undefined, 300), conn.call(0, () => undefined, 60_000)];
    for (const call of calls) await expect(call).rejects.toMatchObject({ nfsStatus: 'TIMEOUT', code: 'ETIMEDOUT' });
    expect(conn.closed).toBe(true);
    await expect(conn.call(0, () => undefined, 1000)).rejects.toMatchObject({ nfsStatus: 'TIMEOUT' });
  });
});
