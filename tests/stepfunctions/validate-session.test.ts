/**
 * Executes the real validating state machine (platform/stepfunctions/validate-session.asl.json)
 * against sessions the agent itself uploaded to the test S3 server, then altered the ways a
 * bucket can go wrong. S3 reads go to that server; the hand-off table and the ETL are fakes.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir, writeSession } from '../helpers/fixtures.js';
import { getMetadata, sha256 } from '../helpers/s3.js';
import { runCli, uniqueName, writeAgentConfig } from '../cli/harness.js';
import { openCliWorld, type CliWorld } from '../cli/world.js';
import type { ExecutionReport } from './emulator.js';
import { HISTORY_LIMIT, PAYLOAD_LIMIT } from './history.js';
import { FaultyS3, serverBackend, type S3Backend } from './s3-backend.js';
import { ETL_ARN, Validator } from './validator.js';

const SESSIONS = ['good', 'short', 'missing', 'replaced', 'checksum', 'extra-inside', 'extra-after'] as const;
type Session = (typeof SESSIONS)[number];

let world: CliWorld;
let work: { path: string; remove(): Promise<void> };
let prefix: string;
let s3: S3Backend;
const ids = {} as Record<Session, string>;

const key = (session: Session, rel: string) => `${prefix}/${ids[session]}/${rel}`;
const marker = (session: Session) => key(session, '_COMPLETE');
const validator = (etlArn = ETL_ARN, backend = s3) => new Validator(backend, `${prefix}/`, etlArn);
const bucket = () => world.s3.bucket;

function expectWithinLimits(r: ExecutionReport): void {
  expect(r.historyEvents).toBeGreaterThan(0);
  expect(r.historyEvents).toBeLessThan(HISTORY_LIMIT);
  expect(r.largest.bytes, r.largest.where).toBeLessThanOrEqual(PAYLOAD_LIMIT);
  expect(r.children.largest.bytes, r.children.largest.where).toBeLessThanOrEqual(PAYLOAD_LIMIT);
}

async function put(k: string, body: string | Buffer, metadata?: Record<string, string>): Promise<void> {
  await world.s3.client.send(new PutObjectCommand({ Bucket: bucket(), Key: k, Body: body, ...(metadata ? { Metadata: metadata } : {}) }));
}

beforeAll(async () => {
  world = await openCliWorld();
  work = await tempDir('uploader-sfn-');
  prefix = uniqueName('sfn');
  // part_size_mb 5: big.bin (6 MiB) goes up in parts and so carries no sha256 metadata.
  const cfg = await writeAgentConfig(work.path, { endpoint: world.s3.endpoint, bucket: bucket(), prefix, upload: { part_size_mb: 5 } });
  for (const session of SESSIONS) {
    ids[session] = uniqueName(`S-${session}`);
    await writeSession(join(cfg.root, session), {
      'metadata.json': JSON.stringify({ session_id: ids[session] }),
      'data.csv': 'voltage,current\n3.7,0.1\n3.6,0.2\n',
      'raw/trace.bin': randomBytes(300_000),
      'raw/big.bin': randomBytes(6 * 1024 * 1024 + 123),
      'session_summary.json': '{"ok":true}',
    });
  }
  for (let cycle = 0; cycle < 2; cycle++) {
    const res = await runCli(['scan-once', '--config', cfg.path], world.env(), 240_000);
    expect(res.code, res.err + res.out).toBe(0);
  }
  for (const session of SESSIONS) expect(await getMetadata(world.s3, marker(session))).toHaveProperty('manifest-sha256');
  expect(await getMetadata(world.s3, key('good', 'raw/big.bin'))).toEqual({});
  s3 = serverBackend(world.s3.client);
}, 300_000);

afterAll(async () => {
  await world?.close();
  await work?.remove();
});

describe('the validating state machine, executed on sessions the agent uploaded', { timeout: 120_000 }, () => {
  it('validates a good session and hands it to the ETL once, with the session in its input', async () => {
    const v = validator();
    const r = await v.run(bucket(), marker('good'));
    expect(r.status, `${r.cause} ${r.children.firstFailure}`).toBe('SUCCEEDED');
    expectWithinLimits(r);
    // One batch of files, one batch of keys.
    expect(r.children.count).toBe(2);
    const hash = (await getMetadata(world.s3, marker('good')))['manifest-sha256'];
    expect(v.sfn.etlStarts).toEqual([
      {
        name: hash,
        input: expect.objectContaining({
          bucket: bucket(),
          session_id: ids.good,
          session_prefix: `${prefix}/${ids.good}/`,
          manifest_sha256: hash,
          manifest_key: key('good', 'manifest.json'),
        }),
      },
    ]);
    const [claim] = v.claims(`${prefix}/${ids.good}/`);
    expect(claim).toMatchObject({ state: { S: 'handed_off' }, execution: { S: r.executionArn } });
    // The tally of a valid session is removed; only the claim is left.
    expect(v.table.items.size).toBe(1);
  });

  it('ignores a _COMPLETE that is not a session marker', async () => {
    const v = validator();
    const r = await v.run(bucket(), key('good', 'raw/_COMPLETE'));
    expect(r.status).toBe('SUCCEEDED');
    expect(r.children.count).toBe(0);
    expect(v.sfn.etlStarts).toEqual([]);
  });

  it('names a short object', async () => {
    const target = key('short', 'data.csv');
    const { sha256: recorded } = await getMetadata(world.s3, target);
    await put(target, 'voltage\n', { sha256: String(recorded) });
    const v = validator();
    const r = await v.run(bucket(), marker('short'));
    expect(r.status).toBe('FAILED');
    expect(r.error).toBe('FileSizeMismatch');
    expect(r.cause).toContain(`s3://${bucket()}/${target} has 8 bytes, the manifest says 32`);
    expect(v.sfn.etlStarts).toEqual([]);
    expectWithinLimits(r);
  });

  it('names a missing object', async () => {
    const target = key('missing', 'raw/trace.bin');
    await world.s3.client.send(new DeleteObjectCommand({ Bucket: bucket(), Key: target }));
    const r = await validator().run(bucket(), marker('missing'));
    expect([r.status, r.error]).toEqual(['FAILED', 'FileMissing']);
    expect(r.cause).toContain(`s3://${bucket()}/${target} does not exist`);
    expectWithinLimits(r);
  });

  it('names an object whose sha256 metadata differs from the manifest', async () => {
    const target = key('checksum', 'data.csv');
    await put(target, 'voltage,current\n3.7,0.1\n3.6,0.9\n', { sha256: sha256('something else') });
    const r = await validator().run(bucket(), marker('checksum'));
    expect([r.status, r.error]).toEqual(['FAILED', 'FileChecksumMismatch']);
    expect(r.cause).toContain(`s3://${bucket()}/${target} has sha256 ${sha256('something else')}`);
  });

  it('refuses a manifest.json replaced after _COMPLETE was written for another one', async () => {
    const manifestKey = key('replaced', 'manifest.json');
    const original = (await getMetadata(world.s3, marker('replaced')))['manifest-sha256'];
    await put(manifestKey, '{"files":[],"session_id":"x"}\n', { 'manifest-sha256': sha256('another manifest') });
    const v = validator();
    const r = await v.run(bucket(), marker('replaced'));
    expect([r.status, r.error]).toEqual(['FAILED', 'ManifestMismatch']);
    expect(r.cause).toBe(`s3://${bucket()}/${manifestKey} is manifest ${sha256('another manifest')}, but _COMPLETE was written for manifest ${original}`);
    expect(r.children.count).toBe(0);
    expect(v.sfn.etlStarts).toEqual([]);
  });

  it('names a key under the session prefix that the manifest does not list, among the listed files', async () => {
    const stray = key('extra-inside', 'extra/leftover.bin');
    await put(stray, 'left over by an aborted attempt');
    const v = validator();
    const r = await v.run(bucket(), marker('extra-inside'));
    expect([r.status, r.error]).toEqual(['FAILED', 'UnlistedObject']);
    expect(r.cause).toContain(`s3://${bucket()}/${stray} is under the session prefix but not in the manifest`);
    expect(v.sfn.etlStarts).toEqual([]);
  });

  it('counts a key the manifest does not list that sorts after every listed file', async () => {
    await put(key('extra-after', 'wrong_file.bin'), randomBytes(1000));
    const r = await validator().run(bucket(), marker('extra-after'));
    expect([r.status, r.error]).toEqual(['FAILED', 'UnlistedObject']);
    expect(r.cause).toBe(`s3://${bucket()}/${prefix}/${ids['extra-after']}/ holds 8 keys; the manifest lists 5 files, plus manifest.json and _COMPLETE`);
  });

  it('hands a redelivered event off only once', async () => {
    const v = validator();
    const first = await v.run(bucket(), marker('good'));
    const second = await v.run(bucket(), marker('good'));
    expect([first.status, second.status]).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    expect(v.sfn.etlStarts).toHaveLength(1);
    expect(v.claims(`${prefix}/${ids.good}/`)[0]).toMatchObject({ execution: { S: first.executionArn }, state: { S: 'handed_off' } });
  });

  it('releases the claim when the ETL cannot be started, so a later run hands off', async () => {
    const v = validator();
    v.sfn.startFailures.push('StepFunctions.StateMachineDoesNotExistException');
    const failed = await v.run(bucket(), marker('good'));
    expect([failed.status, failed.error]).toEqual(['FAILED', 'HandOffFailed']);
    expect(failed.cause).toContain(`could not start the ETL for ${prefix}/${ids.good}/: StateMachineDoesNotExistException`);
    expect(v.claims(`${prefix}/${ids.good}/`)).toEqual([]);
    const retried = await v.run(bucket(), marker('good'));
    expect(retried.status).toBe('SUCCEEDED');
    expect(v.sfn.etlStarts).toHaveLength(1);
  });

  it('claims nothing while no ETL is configured, so the session is handed off once one is', async () => {
    const noEtl = validator('');
    const r = await noEtl.run(bucket(), marker('good'));
    expect(r.status).toBe('SUCCEEDED');
    expect(noEtl.claims(`${prefix}/${ids.good}/`)).toEqual([]);
    const later = new Validator(s3, `${prefix}/`, ETL_ARN, { table: noEtl.table, sfn: noEtl.sfn });
    expect((await later.run(bucket(), marker('good'))).status).toBe('SUCCEEDED');
    expect(later.sfn.etlStarts).toHaveLength(1);
  });

  describe('a claim left by an execution that died', () => {
    const claimBy = async (v: Validator, execution: string) => {
      const hash = (await getMetadata(world.s3, marker('good')))['manifest-sha256'];
      const pk = `s3://${bucket()}/${prefix}/${ids.good}/#${hash}`;
      v.table.putItem({
        TableName: v.table.name,
        Item: { pk: { S: pk }, state: { S: 'claimed' }, execution: { S: execution }, claimed_at: { S: '2026-01-01T00:00:00Z' } },
      });
      return { pk, hash: String(hash) };
    };

    it('is taken over and the session handed off', async () => {
      const v = validator();
      const dead = 'arn:aws:states:ca-central-1:111111111111:execution:validate-session:dead';
      v.sfn.validatorRuns.set(dead, 'FAILED');
      const { pk } = await claimBy(v, dead);
      const r = await v.run(bucket(), marker('good'));
      expect(r.status, r.cause).toBe('SUCCEEDED');
      expect(v.sfn.etlStarts).toHaveLength(1);
      expect(v.table.items.get(pk)).toMatchObject({ state: { S: 'handed_off' }, execution: { S: r.executionArn }, taken_over_from: { S: dead } });
    });

    it('is recorded as handed off without a second ETL start when the dead execution had started it', async () => {
      const v = validator();
      const dead = 'arn:aws:states:ca-central-1:111111111111:execution:validate-session:died-after-start';
      v.sfn.validatorRuns.set(dead, 'TIMED_OUT');
      const { pk, hash } = await claimBy(v, dead);
      v.sfn.etlStarts.push({ name: hash, input: {} });
      const r = await v.run(bucket(), marker('good'));
      expect(r.status, r.cause).toBe('SUCCEEDED');
      expect(v.sfn.etlStarts).toHaveLength(1);
      expect(v.table.items.get(pk)).toMatchObject({ state: { S: 'handed_off' }, etl_execution: { S: `${ETL_ARN}:${hash}` } });
    });

    it('is left alone while its execution is still running', async () => {
      const v = validator();
      const running = 'arn:aws:states:ca-central-1:111111111111:execution:validate-session:busy';
      v.sfn.validatorRuns.set(running, 'RUNNING');
      const { pk } = await claimBy(v, running);
      const r = await v.run(bucket(), marker('good'));
      expect(r.status).toBe('SUCCEEDED');
      expect(v.sfn.etlStarts).toEqual([]);
      expect(v.table.items.get(pk)).toMatchObject({ state: { S: 'claimed' }, execution: { S: running } });
    });
  });

  describe('S3 errors while checking files', () => {
    it('retries a 500 and a 503 SlowDown on HeadObject, and the session passes', async () => {
      const faulty = new FaultyS3(s3);
      faulty.failNext('head', key('good', 'raw/trace.bin'), 500, 503);
      const r = await validator(ETL_ARN, faulty).run(bucket(), marker('good'));
      expect(r.status, r.cause).toBe('SUCCEEDED');
    });

    it('reports an object that keeps failing as unreadable, not missing', async () => {
      const faulty = new FaultyS3(s3);
      faulty.failNext('head', key('good', 'data.csv'), 500, 500, 500, 500, 500);
      const r = await validator(ETL_ARN, faulty).run(bucket(), marker('good'));
      expect([r.status, r.error]).toEqual(['FAILED', 'FileUnreadable']);
      expect(r.cause).toContain(`s3://${bucket()}/${key('good', 'data.csv')} could not be read: InternalError (Service: S3, Status Code: 500`);
    });
  });
});
