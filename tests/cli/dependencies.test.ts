import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { writeSession } from '../helpers/fixtures.js';
import { listKeys } from '../helpers/s3.js';
import { listSessions } from '../../app/state/queries/operator.js';
import { CliProcess, freePort, logLines, runCli, uniqueName, waitFor, writeAgentConfig } from './harness.js';
import { cliSuite } from './world.js';

const t = cliSuite('deps');
const proxies: FaultProxy[] = [];

afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});

async function proxyTo(url: string): Promise<FaultProxy> {
  const u = new URL(url);
  const proxy = await new FaultProxy(u.hostname, Number(u.port)).start();
  proxies.push(proxy);
  return proxy;
}

async function health(port: number): Promise<{ status: number; reason?: string }> {
  const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(10_000) });
  const body = (await res.json()) as { reason?: string };
  return { status: res.status, ...(body.reason ? { reason: body.reason } : {}) };
}

const session = (id: string) => ({ 'metadata.json': JSON.stringify({ session_id: id }), 'data.csv': 'v\n1\n', 'session_summary.json': '{}' });

/**
 * A running agent meets S3 broken by `breakS3` once it has started: a new session pauses and
 * three checks fail (`pauseEvent`) without a counted retry, /health is 503 with `reason`;
 * after `mendS3` the session lands and /health is 200 again.
 */
async function pausesThenResumes(how: {
  breakS3: (proxy: FaultProxy) => unknown;
  mendS3: (proxy: FaultProxy) => Promise<unknown>;
  pauseEvent: string;
  reason: RegExp;
}): Promise<void> {
  const proxy = await proxyTo(t.world.s3.endpoint);
  const cfg = await writeAgentConfig(t.work.path, {
    endpoint: proxy.url,
    bucket: t.world.s3.bucket,
    prefix: t.cfg.prefix,
    upload: { initial_backoff_seconds: 1, max_retries: 1 },
  });
  const port = await freePort();
  const agent = new CliProcess(['run', '--config', cfg.path], t.world.env({ PORT: String(port) }));
  await agent.waitForEvent('agent_started');
  await how.breakS3(proxy);
  const id = uniqueName('S');
  await writeSession(join(cfg.root, 'run-1'), session(id));
  await agent.waitForEvent('session_upload_paused');
  // max_retries is 1: two counted failures would have sent it to needs_attention.
  await waitFor(async () => logLines(agent.out).filter((l) => l.event === how.pauseEvent).length >= 3, 30_000, `three ${how.pauseEvent} checks`);
  const down = await health(port);
  expect(down.status).toBe(503);
  expect(down.reason).toMatch(how.reason);
  expect((await listSessions(t.world.database.db))[0]).toMatchObject({ status: 'failed', attempts: 0 });

  await how.mendS3(proxy);
  await agent.waitForEvent('session_moved_to_processed', 30_000);
  expect(await listKeys(t.world.s3, `${t.cfg.prefix}/${id}/`)).toContain(`${t.cfg.prefix}/${id}/_COMPLETE`);
  expect((await listSessions(t.world.database.db))[0]).toMatchObject({ status: 'processed', attempts: 0 });
  expect(await health(port)).toEqual({ status: 200 });
  agent.kill('SIGTERM');
  expect((await agent.exited).code).toBe(0);
}

describe('S3 refusing the agent, and dependencies down at start', { timeout: 120_000 }, () => {
  it("wrong credentials: scan-once exits 3 naming S3's own code and message; the session spends no retry", async () => {
    await writeSession(join(t.cfg.root, 'run-1'), session(uniqueName('S')));
    expect((await runCli(['scan-once', '--config', t.cfg.path], t.world.env())).code).toBe(0);
    const r = await runCli(['scan-once', '--config', t.cfg.path], t.world.env({ AWS_ACCESS_KEY_ID: 'AKIAWRONGWRONGWRONG1', AWS_SECRET_ACCESS_KEY: 'nope' }));
    expect(r.code, r.out + r.err).toBe(3);
    expect(r.err).toMatch(/S3 refuses this agent: bucket \S+: S3 InvalidAccessKeyId \(HTTP 403\): The AWS Access Key Id you provided does not exist/);
    const [row] = await listSessions(t.world.database.db);
    expect(row).toMatchObject({ status: 'waiting_for_stable', attempts: 0 });
  });

  it('run: S3 starts refusing the agent mid-way; uploads pause, /health is 503 with the cause, no retry is spent; they resume when S3 accepts it', async () => {
    await pausesThenResumes({
      breakS3: (proxy) => {
        proxy.fault = 'http403';
        proxy.dropAll();
      },
      mendS3: async (proxy) => {
        proxy.fault = 'none';
      },
      pauseEvent: 's3_access_denied',
      reason: /^uploads paused: S3 refuses this agent: S3 InvalidAccessKeyId \(HTTP 403\): The AWS Access Key Id/,
    });
  });

  it('run: the S3 endpoint becomes unreachable (connections refused); uploads pause, /health is 503 saying so, no retry is spent; they resume when it is back', async () => {
    await pausesThenResumes({
      breakS3: (proxy) => proxy.close(),
      mendS3: (proxy) => proxy.start(proxy.port),
      pauseEvent: 's3_unreachable',
      reason: /^uploads paused: S3 unreachable: S3 ECONNREFUSED: connect ECONNREFUSED 127\.0\.0\.1:\d+; next check /,
    });
  });

  it('run starts with the database and S3 unreachable: /health 503 with the reason, /metrics served; a session lands once they are back', async (ctx) => {
    if (!t.world.dbUrl) ctx.skip();
    const s3Proxy = await proxyTo(t.world.s3.endpoint);
    const dbProxy = await proxyTo(t.world.dbUrl as string);
    s3Proxy.fault = 'refuse';
    dbProxy.fault = 'refuse';
    const viaProxy = new URL(t.world.dbUrl as string);
    viaProxy.host = `127.0.0.1:${dbProxy.port}`;
    const cfg = await writeAgentConfig(t.work.path, {
      endpoint: s3Proxy.url,
      bucket: t.world.s3.bucket,
      prefix: t.cfg.prefix,
      upload: { initial_backoff_seconds: 1 },
    });
    const id = uniqueName('S');
    await writeSession(join(cfg.root, 'run-1'), session(id));
    const port = await freePort();
    const agent = new CliProcess(['run', '--config', cfg.path], t.world.env({ PORT: String(port), DATABASE_URL: viaProxy.toString() }));
    await agent.waitForEvent('dependency_unavailable');
    const noDb = await waitFor(() => health(port).catch(() => undefined), 10_000, '/health');
    expect(noDb?.status).toBe(503);
    expect(noDb?.reason).toMatch(/^starting: state database unavailable: PostgreSQL at 127\.0\.0\.1:\d+\/\w+ \(DATABASE_URL\)/);
    expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(200);

    dbProxy.fault = 'none';
    await agent.waitForEvent('agent_started', 60_000);
    const noS3 = await health(port);
    expect(noS3.status).toBe(503);
    expect(noS3.reason).toMatch(/^uploads paused: S3 unavailable: /);

    s3Proxy.fault = 'none';
    await agent.waitForEvent('session_moved_to_processed', 60_000);
    expect(await listKeys(t.world.s3, `${t.cfg.prefix}/${id}/`)).toContain(`${t.cfg.prefix}/${id}/_COMPLETE`);
    expect(await health(port)).toEqual({ status: 200 });
    agent.kill('SIGTERM');
    expect((await agent.exited).code).toBe(0);
    expect(agent.out + agent.err).not.toContain(new URL(t.world.dbUrl as string).password || '\0');
  });
});
