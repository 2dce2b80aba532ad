import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LOCAL_S3_CREDENTIALS } from '../../demo/local-s3.js';
import { getMetadata, getObject, listKeys, s3Client, type Bucket } from '../helpers/s3.js';
import { logLines, runCli, uniqueName, writeAgentConfig } from './harness.js';
import { cliSuite } from './world.js';

// 10,000 PUTs to the S3 server take a while on a loaded machine; nothing here is timed.
const SLOW = 400_000;
const MANY = 10_000;
const FEW = 50;

const t = cliSuite('many');

type TestBucket = Bucket & { endpoint: string };

/**
 * s3rver in a process of its own, with OpenSSL's legacy provider: it encrypts ListObjectsV2
 * continuation tokens with DES, which OpenSSL 3 otherwise refuses, so the in-process test
 * server answers any listing of more than 1,000 keys with a 500 (and the agent lists a
 * session's prefix before `_COMPLETE`). MinIO, used where there is Docker, has no such limit.
 */
async function startS3Process(bucket: string): Promise<TestBucket & { stop(): void }> {
  const module = new URL('../../dist/demo/local-s3.js', import.meta.url).href;
  const script = `import { startLocalS3 } from ${JSON.stringify(module)};
    const s3 = await startLocalS3([${JSON.stringify(bucket)}]);
    console.log(s3.endpoint);
    process.on('SIGTERM', () => void s3.close().then(() => process.exit(0)));`;
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '--no-warnings', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const endpoint = await new Promise<string>((resolve, reject) => {
    child.stdout.once('data', (c: Buffer) => resolve(c.toString('utf8').trim()));
    child.once('exit', (code) => reject(new Error(`the S3 server exited (${code}) before it listened`)));
  });
  return { endpoint, bucket, client: s3Client(endpoint, LOCAL_S3_CREDENTIALS), stop: () => void child.kill('SIGTERM') };
}

/** A session of `count` small files spread over 100 subfolders, plus its marker and metadata. */
async function writeManyFileSession(folder: string, sessionId: string, count: number): Promise<void> {
  const dirs = Math.min(100, count);
  await Promise.all(Array.from({ length: dirs }, (_, d) => mkdir(join(folder, `d${d}`), { recursive: true })));
  for (let start = 0; start < count; start += 500) {
    await Promise.all(
      Array.from({ length: Math.min(500, count - start) }, (_, i) =>
        writeFile(join(folder, `d${(start + i) % dirs}`, `f${start + i}.txt`), `file ${start + i}\n`),
      ),
    );
  }
  await writeFile(join(folder, 'metadata.json'), JSON.stringify({ session_id: sessionId }));
  await writeFile(join(folder, 'session_summary.json'), '{}');
}

describe('a session with many files', { timeout: SLOW }, () => {
  it(`lands completely (${MANY} files), with DB round trips that do not grow with the file count`, async () => {
    const many = uniqueName('MANY');
    const few = uniqueName('FEW');
    await writeManyFileSession(join(t.cfg.root, 'run-many'), many, MANY);
    await writeManyFileSession(join(t.cfg.root, 'run-few'), few, FEW);
    const s3 = await startS3Process('many-bucket');
    try {
      await uploadAndCheck(s3, many, few);
    } finally {
      s3.client.destroy();
      s3.stop();
    }
  });
});

async function uploadAndCheck(s3: TestBucket, many: string, few: string): Promise<void> {
  // db_round_trips counts the process's statements while the session uploads: one session at a
  // time, and no lease renewal within the test, so only the session's own are counted.
  const cfg = await writeAgentConfig(t.work.path, {
    endpoint: s3.endpoint,
    bucket: s3.bucket,
    prefix: t.cfg.prefix,
    agent: { lease_seconds: 3600 },
    upload: { parallel_sessions: 1 },
  });
  const env = t.world.env({ AWS_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: LOCAL_S3_CREDENTIALS.secretAccessKey });
  const observe = await runCli(['scan-once', '--config', cfg.path], env, SLOW);
  expect(observe.code, observe.err + observe.out.slice(-3000)).toBe(0);
  const upload = await runCli(['scan-once', '--config', cfg.path], env, SLOW);
  const problems = logLines(upload.out).filter((l) => l.level === 'error' || l.level === 'warn');
  expect(upload.code, upload.err + problems.map((l) => JSON.stringify(l)).join('\n')).toBe(0);

  const done = new Map(
    logLines(upload.out)
      .filter((l) => l.event === 'complete_marker_uploaded')
      .map((l) => [l.session_id, l.db_round_trips]),
  );
  const manyTrips = done.get(many);
  const fewTrips = done.get(few);
  expect(typeof manyTrips, upload.out.slice(-3000)).toBe('number');
  expect(typeof fewTrips).toBe('number');
  // Records go in batches of thousands: 200 times the files cost a few more statements (one
  // per 5,000 uploaded and per 10,000 recorded), not one per few hundred files.
  expect(manyTrips as number).toBeLessThanOrEqual((fewTrips as number) + 4);

  const base = `${t.cfg.prefix}/${many}`;
  const keys = await listKeys(s3, `${base}/`);
  expect(keys).toHaveLength(MANY + 4);
  expect(keys).toContain(`${base}/_COMPLETE`);
  expect(keys).toContain(`${base}/d99/f9999.txt`);
  const manifest = JSON.parse((await getObject(s3, `${base}/manifest.json`)).toString('utf8')) as { file_count: number; files: { relative_path: string }[] };
  expect(manifest.file_count).toBe(MANY + 2);
  expect(new Set(manifest.files.map((f) => `${base}/${f.relative_path}`))).toEqual(
    new Set(keys.filter((k) => !k.endsWith('/manifest.json') && !k.endsWith('/_COMPLETE'))),
  );
  expect((await getObject(s3, `${base}/d7/f5607.txt`)).toString()).toBe('file 5607\n');
  expect(await getMetadata(s3, `${base}/_COMPLETE`)).toHaveProperty('manifest-sha256');

  const records = await t.world.database.db.query<{ status: string; n: string }>(
    `SELECT f.status, count(*) AS n FROM uploader_files f JOIN uploader_sessions s ON s.id = f.session_pk WHERE s.session_id = $1 GROUP BY f.status`,
    [many],
  );
  expect(records.rows.map((r) => [r.status, Number(r.n)])).toEqual([['uploaded', MANY + 2]]);
}
