/**
 * The validating state machine on 1,000, 10,000 and 100,000-file sessions, measured against the
 * Step Functions limits the emulator does not enforce: 256 KiB per state input/output or task
 * result (parent and child executions) and 25,000 history events (the standard parent; its express
 * children keep no history). 1,000 and 10,000 files sit on the test S3 server; 100,000 in memory.
 */
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestS3, type TestS3 } from '../helpers/s3.js';
import type { ExecutionReport } from './emulator.js';
import { HISTORY_LIMIT, PAYLOAD_LIMIT } from './history.js';
import { MemoryS3, serverBackend, type S3Backend } from './s3-backend.js';
import { syntheticSession, type SyntheticObject } from './synthetic-session.js';
import { Validator } from './validator.js';

const PREFIX = 'raw/';
const reports = new Map<number, ExecutionReport>();
let server: TestS3;

beforeAll(async () => {
  server = await startTestS3('scale-bucket');
});

afterAll(async () => {
  await server?.close();
  for (const [files, r] of reports) {
    console.log(
      `${files} files: ${r.historyEvents} history events; largest payload ${r.largest.bytes} B (${r.largest.where}); ${r.children.count} child executions, largest child payload ${r.children.largest.bytes} B (${r.children.largest.where}), at most ${r.children.mostEvents} events in one`,
    );
  }
});

async function putAll(s3: TestS3, objects: SyntheticObject[]): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < objects.length) {
      const o = objects[next++] as SyntheticObject;
      await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: o.key, Body: Buffer.from(o.body), Metadata: o.metadata }));
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

async function validate(backend: S3Backend, bucket: string, sessionId: string, files: number): Promise<ExecutionReport> {
  const v = new Validator(backend, PREFIX);
  const r = await v.run(bucket, `${PREFIX}${sessionId}/_COMPLETE`);
  expect(r.status, `${r.error}: ${r.cause} (${r.children.firstFailure ?? 'no child failed'})`).toBe('SUCCEEDED');
  expect(v.sfn.etlStarts).toHaveLength(1);
  expect(r.largest.bytes, r.largest.where).toBeLessThanOrEqual(PAYLOAD_LIMIT);
  expect(r.children.largest.bytes, r.children.largest.where).toBeLessThanOrEqual(PAYLOAD_LIMIT);
  expect(r.historyEvents).toBeLessThan(HISTORY_LIMIT);
  // Every file went through a child: at most 250 per batch.
  expect(r.children.count).toBeGreaterThanOrEqual(Math.ceil(files / 250));
  reports.set(files, r);
  return r;
}

describe('validation at scale', () => {
  it.each([1_000, 10_000])('%i files on the test S3 server', { timeout: 900_000 }, async (files) => {
    const sessionId = `SCALE-${files}`;
    await putAll(server, syntheticSession(PREFIX, sessionId, files));
    // Room for the 20 × 10 HEADs in flight that the definition's MaxConcurrency allows.
    const client = new S3Client({
      region: 'us-east-1',
      endpoint: server.endpoint,
      forcePathStyle: true,
      credentials: server.credentials,
      requestHandler: { httpAgent: { maxSockets: 256 } },
    });
    try {
      await validate(serverBackend(client), server.bucket, sessionId, files);
    } finally {
      client.destroy();
    }
  });

  it('100,000 files (objects in memory)', { timeout: 1_800_000 }, async () => {
    const s3 = new MemoryS3('memory-bucket');
    for (const o of syntheticSession(PREFIX, 'SCALE-100000', 100_000)) s3.put(o.key, o.body, o.metadata);
    const r = await validate(s3, 'memory-bucket', 'SCALE-100000', 100_000);
    // The parent's history does not depend on the file count.
    const small = reports.get(1_000);
    if (small) expect(r.historyEvents).toBe(small.historyEvents);
  });

  it('finds a stray key among 10,000 files (the check can fail at scale)', { timeout: 900_000 }, async () => {
    const s3 = new MemoryS3('memory-bucket');
    const objects = syntheticSession(PREFIX, 'SCALE-STRAY', 10_000);
    for (const o of objects) s3.put(o.key, o.body, o.metadata);
    // Right after the session's first file, so inside the first batch's range.
    s3.put(`${PREFIX}SCALE-STRAY/cam0/frame_000000.tif.partial`, 'left over');
    const r = await new Validator(s3, PREFIX).run('memory-bucket', `${PREFIX}SCALE-STRAY/_COMPLETE`);
    expect([r.status, r.error]).toEqual(['FAILED', 'UnlistedObject']);
    expect(r.cause).toContain(`s3://memory-bucket/${PREFIX}SCALE-STRAY/cam0/frame_000000.tif.partial is under the session prefix but not in the manifest`);
  });
});
