import { randomBytes } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LOCAL_S3_CREDENTIALS, startLocalS3, type LocalS3 } from '../../demo/local-s3.js';
import { listSessions } from '../../app/state/queries/operator.js';
import { startAgent } from '../helpers/agent-process.js';
import { emptyTables, openTestDatabase, type TestDatabase } from '../helpers/database.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { tempDir, writeSession } from '../helpers/fixtures.js';
import { expectCompletedSessionsIntact } from '../helpers/integrity.js';
import { emptyBucket, getObject, s3Client, sha256, type Bucket } from '../helpers/s3.js';

const BUCKET = 'two-agents';
let database: TestDatabase;
let server: LocalS3;
const created: string[] = [];

beforeAll(async () => {
  [database, server] = await Promise.all([openTestDatabase(), startLocalS3([BUCKET], (key) => created.push(key))]);
});
afterAll(async () => {
  await Promise.all([database?.close(), server?.close()]);
});
beforeEach(async () => {
  const s3 = { client: s3Client(server.endpoint, LOCAL_S3_CREDENTIALS), bucket: BUCKET };
  await Promise.all([emptyTables(database.db), emptyBucket(s3)]);
  s3.client.destroy();
  created.length = 0;
});

function writeConfig(configFile: string, root: string, work: string, endpoint: string): Promise<void> {
  return writeFile(
    configFile,
    `agent: {machine_id: m, lab_id: l, scan_interval_seconds: 1, stable_window_seconds: 0, lease_seconds: 5}
watch: {session_roots: [{path: ${root}, profile: p}]}
profiles: {p: {required_markers: [session_summary.json]}}
upload: {s3_bucket: ${BUCKET}, s3_region: us-east-1, s3_endpoint: "${endpoint}", s3_force_path_style: true, part_size_mb: 5}
storage: {manifest_cache_dir: ${join(work, 'm')}, log_dir: ${join(work, 'l')}}
`,
  );
}

const agentEnv = () => ({
  DATABASE_URL: database.url as string,
  AWS_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: LOCAL_S3_CREDENTIALS.secretAccessKey,
  PORT: '0',
});

async function waitUntilProcessed(count: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await listSessions(database.db)).filter((s) => s.status === 'processed').length < count) {
    if (Date.now() > deadline)
      throw new Error(`not all processed: ${JSON.stringify((await listSessions(database.db)).map((s) => [s.folderName, s.status, s.lastError]))}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('two agents on one database and the same root (a rolling deploy)', () => {
  it('started together on many small sessions, round after round, the two never work the same session', async (ctx) => {
    if (!database.url) ctx.skip('the agent children need a PostgreSQL server');
    const work = await tempDir();
    const root = join(work.path, 'sessions');
    await mkdir(root);
    const configFile = join(work.path, 'config.yaml');
    await writeConfig(configFile, root, work.path, server.endpoint);
    const s3: Bucket = { client: s3Client(server.endpoint, LOCAL_S3_CREDENTIALS), bucket: BUCKET };
    const rounds = 3;
    const perRound = 16;
    try {
      for (let round = 0; round < rounds; round++) {
        for (let i = 0; i < perRound; i++)
          await writeSession(join(root, `r${round}-s${i}`), { 'data.csv': `round ${round} session ${i}\n`, 'session_summary.json': '{}' });
        // Both claim from the first cycle on: each claim races the other agent's.
        const agents = [startAgent(['run', '--config', configFile], agentEnv()), startAgent(['run', '--config', configFile], agentEnv())];
        try {
          await waitUntilProcessed(perRound * (round + 1), 60_000);
        } finally {
          for (const agent of agents) agent.child.kill('SIGTERM');
          await Promise.all(agents.map((agent) => agent.exited));
        }
        const starts = agents.flatMap((agent) => agent.logs.filter((l) => l.event === 'upload_started').map((l) => String(l.session_id)));
        expect(
          starts.filter((id, i) => starts.indexOf(id) !== i),
          `round ${round}: sessions both agents uploaded`,
        ).toEqual([]);
        expect(starts.sort(), `round ${round}`).toEqual(Array.from({ length: perRound }, (_, i) => `r${round}-s${i}`).sort());
        expect(
          agents.flatMap((agent) => agent.logs.filter((l) => l.event === 'lease_lost')),
          `round ${round}`,
        ).toEqual([]);
      }
      const completes = created.filter((k) => k.endsWith('/_COMPLETE'));
      expect(completes.length).toBe(new Set(completes).size);
      expect(await expectCompletedSessionsIntact(s3)).toHaveLength(rounds * perRound);
    } finally {
      s3.client.destroy();
      await work.remove();
    }
  }, 240_000);

  it('each session is uploaded once; when one agent is killed, the other takes its sessions over after the lease expires', async (ctx) => {
    if (!database.url) ctx.skip('the agent children need a PostgreSQL server');
    const work = await tempDir();
    const proxy = await new FaultProxy('127.0.0.1', Number(new URL(server.endpoint).port)).start();
    proxy.delayMs = 2;
    const root = join(work.path, 'sessions');
    await mkdir(root);
    const files: Record<string, Record<string, Buffer | string>> = {};
    for (let i = 0; i < 8; i++) {
      files[`s${i}`] = { 'data.bin': randomBytes((i % 3) * 4 * 1024 * 1024 + 1000), 'session_summary.json': '{}' };
      await writeSession(join(root, `s${i}`), files[`s${i}`] as Record<string, Buffer>);
    }
    const configFile = join(work.path, 'config.yaml');
    await writeConfig(configFile, root, work.path, proxy.url);
    const a = startAgent(['run', '--config', configFile], agentEnv());
    const b = startAgent(['run', '--config', configFile], agentEnv());
    const s3: Bucket = { client: s3Client(server.endpoint, LOCAL_S3_CREDENTIALS), bucket: BUCKET };
    // Whichever agent starts uploading first is killed then (each runs two sessions at once,
    // so either may take every session before the other's second cycle).
    const waits = [a, b].map((agent) => agent.waitForEvent('upload_started', 30_000).then(() => agent));
    for (const w of waits) w.catch(() => undefined);
    let survivor = b;
    try {
      const killed = await Promise.any(waits);
      survivor = killed === a ? b : a;
      killed.child.kill('SIGKILL');
      await killed.exited;
      await waitUntilProcessed(8, 60_000);
      for (const [name, content] of Object.entries(files)) {
        expect(sha256(await getObject(s3, `${name}/data.bin`)), name).toBe(sha256(content['data.bin'] as Buffer));
        expect(
          created.filter((k) => k === `${name}/_COMPLETE`),
          name,
        ).toHaveLength(1);
      }
      expect((await readdir(join(root, 'processed'))).sort()).toEqual(Object.keys(files).sort());
      const worked = (logs: Record<string, unknown>[]) => new Set(logs.filter((l) => l.event === 'upload_started').map((l) => l.session_id));
      expect(worked(survivor.logs).size).toBeGreaterThan(0);
      expect(await expectCompletedSessionsIntact(s3)).toEqual(Object.keys(files).sort());
    } finally {
      survivor.child.kill('SIGTERM');
      await survivor.exited;
      s3.client.destroy();
      await proxy.close();
      await work.remove();
    }
  }, 120_000);
});
