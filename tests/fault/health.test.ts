import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent } from '../helpers/agent-process.js';
import { openTestDatabase, type TestDatabase } from '../helpers/database.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { freePort } from '../helpers/ports.js';
import { tempDir } from '../helpers/fixtures.js';
import { startTestS3, type TestS3 } from '../helpers/s3.js';

let database: TestDatabase;
let s3: TestS3;

beforeAll(async () => {
  [database, s3] = await Promise.all([openTestDatabase(), startTestS3('health-bucket')]);
});
afterAll(async () => {
  await Promise.all([database?.close(), s3?.close()]);
});

async function health(port: number): Promise<{ status: number; body: { status: string; reason?: string } }> {
  const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: (await res.json()) as { status: string; reason?: string } };
}

describe('/health tells the truth', () => {
  it('answers 503 with the reason while PostgreSQL is unreachable, and 200 again once it is back; the agent keeps running', async (ctx) => {
    if (!database.url) ctx.skip('the agent child needs a PostgreSQL server to cut connections to');
    const work = await tempDir();
    const pgUrl = new URL(database.url as string);
    const proxy = await new FaultProxy(pgUrl.hostname, Number(pgUrl.port || 5432)).start();
    const viaProxy = new URL(database.url as string);
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    const root = join(work.path, 'sessions');
    await mkdir(root);
    const configFile = join(work.path, 'config.yaml');
    await writeFile(
      configFile,
      `agent: {machine_id: m, lab_id: l, scan_interval_seconds: 1, stable_window_seconds: 0}
watch: {session_roots: [{path: ${root}, profile: p}]}
profiles: {p: {}}
upload: {s3_bucket: ${s3.bucket}, s3_region: us-east-1, s3_endpoint: "${s3.endpoint}", s3_force_path_style: true}
storage: {manifest_cache_dir: ${join(work.path, 'm')}, log_dir: ${join(work.path, 'l')}}
`,
    );
    const port = await freePort();
    const agent = startAgent(['run', '--config', configFile], {
      DATABASE_URL: viaProxy.toString(),
      AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
      PORT: String(port),
    });
    try {
      await agent.waitForEvent('agent_started');
      expect(await health(port)).toEqual({ status: 200, body: { status: 'ok' } });
      proxy.fault = 'refuse';
      proxy.dropAll();
      const down = await health(port);
      expect(down.status).toBe(503);
      expect(down.body.reason).toMatch(/^state database does not answer/);
      expect(down.body.reason).not.toContain(pgUrl.password || '\0');
      proxy.fault = 'none';
      let back = await health(port);
      for (let i = 0; i < 20 && back.status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 250));
        back = await health(port);
      }
      expect(back.status).toBe(200);
      expect(agent.child.exitCode).toBeNull();
    } finally {
      agent.child.kill('SIGTERM');
      await agent.exited;
      await proxy.close();
      await work.remove();
    }
  }, 60_000);
});
