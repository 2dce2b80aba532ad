import { randomBytes } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_S3_CREDENTIALS, startLocalS3, type LocalS3 } from '../../demo/local-s3.js';
import { listSessions } from '../../app/state/queries/operator.js';
import { startAgent } from '../helpers/agent-process.js';
import { openTestDatabase, type TestDatabase } from '../helpers/database.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { tempDir, writeSession } from '../helpers/fixtures.js';
import { getObject, s3Client, sha256, type TestS3 } from '../helpers/s3.js';

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

describe('two agents on one database and the same root (a rolling deploy)', () => {
  it('each session is uploaded once; when one agent is killed, the other takes its sessions over after the lease expires', async (ctx) => {
    if (!database.url) ctx.skip();
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
    await writeFile(
      configFile,
      `agent: {machine_id: m, lab_id: l, scan_interval_seconds: 1, stable_window_seconds: 0, lease_seconds: 5}
watch: {session_roots: [{path: ${root}, profile: p}]}
profiles: {p: {required_markers: [session_summary.json]}}
upload: {s3_bucket: ${BUCKET}, s3_region: us-east-1, s3_endpoint: "${proxy.url}", s3_force_path_style: true, part_size_mb: 5}
storage: {manifest_cache_dir: ${join(work.path, 'm')}, log_dir: ${join(work.path, 'l')}}
`,
    );
    const env = (port: number) => ({ DATABASE_URL: database.url as string, AWS_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: LOCAL_S3_CREDENTIALS.secretAccessKey, PORT: String(port) });
    const a = startAgent(['run', '--config', configFile], env(0));
    const b = startAgent(['run', '--config', configFile], env(0));
    const s3: Pick<TestS3, 'client' | 'bucket'> = { client: s3Client(server.endpoint, LOCAL_S3_CREDENTIALS), bucket: BUCKET };
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
      const deadline = Date.now() + 60_000;
      while ((await listSessions(database.db)).filter((s) => s.status === 'processed').length < 8) {
        if (Date.now() > deadline) throw new Error(`not all processed: ${JSON.stringify((await listSessions(database.db)).map((s) => [s.folderName, s.status, s.lastError]))}`);
        await new Promise((r) => setTimeout(r, 250));
      }
      for (const [name, content] of Object.entries(files)) {
        expect(sha256(await getObject(s3 as TestS3, `${name}/data.bin`)), name).toBe(sha256(content['data.bin'] as Buffer));
        expect(created.filter((k) => k === `${name}/_COMPLETE`), name).toHaveLength(1);
      }
      expect((await readdir(join(root, 'processed'))).sort()).toEqual(Object.keys(files).sort());
      const worked = (logs: Record<string, unknown>[]) => new Set(logs.filter((l) => l.event === 'upload_started').map((l) => l.session_id));
      expect(worked(survivor.logs).size).toBeGreaterThan(0);
    } finally {
      survivor.child.kill('SIGTERM');
      await survivor.exited;
      s3.client.destroy();
      await proxy.close();
      await work.remove();
    }
  }, 120_000);
});
