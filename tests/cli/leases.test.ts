import { randomBytes } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { writeSession } from '../helpers/fixtures.js';
import { getObject, listKeys, sha256 } from '../helpers/s3.js';
import { CliProcess, logLines, runCli, uniqueName, writeAgentConfig } from './harness.js';
import { cliSuite } from './world.js';

const t = cliSuite('lease');
const proxies: FaultProxy[] = [];

afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});

/** A session with a multipart file, uploaded slowly through a delaying proxy; lease_seconds long enough that only a takeover can explain a prompt finish. */
async function slowUpload(env: NodeJS.ProcessEnv) {
  const proxy = await new FaultProxy('127.0.0.1', Number(new URL(t.world.s3.endpoint).port)).start();
  proxies.push(proxy);
  proxy.delayMs = 20;
  const cfg = await writeAgentConfig(t.work.path, {
    endpoint: proxy.url,
    bucket: t.world.s3.bucket,
    prefix: t.cfg.prefix,
    agent: { lease_seconds: 600 },
    upload: { part_size_mb: 5, concurrency: 2 },
  });
  const id = uniqueName('S');
  const files = { 'metadata.json': JSON.stringify({ session_id: id }), 'big.bin': randomBytes(12 * 1024 * 1024), 'session_summary.json': '{}' };
  await writeSession(join(cfg.root, 'run-1'), files);
  const agent = new CliProcess(['run', '--config', cfg.path], { ...env, PORT: '0' });
  await agent.waitForEvent('upload_started', 60_000);
  return { proxy, cfg, id, files, agent };
}

describe('leases after a crash', { timeout: 150_000 }, () => {
  it.for(['postgres', 'embedded'] as const)(
    '%s: kill -9 mid-upload; status and the dry run name the holder; scan-once at once takes the session over and completes it intact',
    async (kind, ctx) => {
      if (kind === 'postgres' && !t.world.dbUrl) ctx.skip();
      const env = kind === 'postgres' ? t.world.env() : t.world.env({ DATABASE_URL: undefined });
      const { proxy, cfg, id, agent } = await slowUpload(env);
      const holder = `${hostname()}-${agent.child.pid}-`;
      agent.kill('SIGKILL');
      await agent.exited;
      proxy.delayMs = 0;

      const status = await runCli(['status', '--config', cfg.path, '--json'], env);
      const [row] = JSON.parse(status.out) as { status: string; lease_holder: string; lease_expires_at: string }[];
      expect(row?.status).toBe('uploading');
      expect(row?.lease_holder).toContain(holder);
      expect(Date.parse(row?.lease_expires_at ?? '')).toBeGreaterThan(Date.now() + 500_000);
      const table = await runCli(['status', '--config', cfg.path], env);
      expect(table.out).toContain('HELD BY');
      expect(table.out).toContain(holder);

      const dry = await runCli(['scan-once', '--dry-run', '--json', '--config', cfg.path], env);
      const [planned] = (JSON.parse(dry.out) as { plan: { action: string; lease_holder?: string; take_over?: string }[] }).plan;
      expect(planned).toMatchObject({ action: 'upload', lease_holder: expect.stringContaining(holder) as string, take_over: expect.any(String) as string });

      const next = await runCli(['scan-once', '--config', cfg.path], env);
      expect(next.code, next.out + next.err).toBe(0);
      const takeover = logLines(next.out).find((l) => l.event === 'lease_taken_over');
      expect(takeover).toMatchObject({ holder: expect.stringContaining(holder) as string, folder: join(cfg.root, 'run-1') });
      expect(logLines(next.out).map((l) => l.event)).toContain('session_moved_to_processed');

      // Integrity: every object's SHA-256 = the manifest's = the local file's (now in processed/).
      const base = `${t.cfg.prefix}/${id}`;
      const manifest = JSON.parse((await getObject(t.world.s3, `${base}/manifest.json`)).toString()) as { files: { relative_path: string; sha256: string }[] };
      const moved = join(cfg.root, 'processed', (await readdir(join(cfg.root, 'processed')))[0] as string);
      expect(manifest.files.map((f) => f.relative_path)).toEqual(['big.bin', 'metadata.json', 'session_summary.json']);
      for (const f of manifest.files) {
        expect(sha256(await getObject(t.world.s3, `${base}/${f.relative_path}`)), f.relative_path).toBe(f.sha256);
        expect(sha256(await readFile(join(moved, f.relative_path))), f.relative_path).toBe(f.sha256);
      }
      expect(await listKeys(t.world.s3, `${base}/`)).toHaveLength(5);
    },
  );

  it('a live holder: scan-once logs that it skipped the session, with holder and expiry; the dry run says skip', async (ctx) => {
    if (!t.world.dbUrl) ctx.skip();
    const env = t.world.env();
    const { proxy, cfg, agent } = await slowUpload(env);
    // Slower still: the upload must outlast both commands below, however loaded the machine.
    proxy.delayMs = 500;
    const other = await runCli(['scan-once', '--config', cfg.path], env);
    expect(other.code, other.out + other.err).toBe(0);
    const skipped = logLines(other.out).find((l) => l.event === 'session_leased');
    expect(skipped).toMatchObject({
      holder: expect.stringContaining(`${hostname()}-${agent.child.pid}-`) as string,
      lease_expires_at: expect.any(String) as string,
      folder: join(cfg.root, 'run-1'),
    });
    const dry = await runCli(['scan-once', '--dry-run', '--json', '--config', cfg.path], env);
    expect((JSON.parse(dry.out) as { plan: { action: string }[] }).plan[0]).toMatchObject({ action: 'skip', lease_holder: expect.any(String) as string });
    agent.kill('SIGTERM');
    expect((await agent.exited).code).toBe(0);
  });
});
