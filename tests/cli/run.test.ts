import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeSession } from '../helpers/fixtures.js';
import { getObject, listKeys, sha256 } from '../helpers/s3.js';
import { CliProcess, events, freePort, logLines, runCli, uniqueName, waitFor, writeAgentConfig } from './harness.js';
import { cliSuite } from './world.js';

// Each child process starts in ~1 s (PGlite: 2-8 s); a test runs several in sequence.
const SLOW = 150_000;

const t = cliSuite('run');

describe('run', { timeout: SLOW }, () => {
  it('serves /health and /metrics, uploads a session dropped in while running, and exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const agent = new CliProcess(['run', '--config', t.cfg.path], t.world.env({ PORT: String(port) }));
    const started = await agent.waitForEvent('agent_started', 30_000);
    expect(started.port).toBe(port);

    const health = await fetch(`http://127.0.0.1:${port}/health`);
    expect(health.status).toBe(200);
    expect(health.headers.get('content-type')).toMatch(/application\/json/);
    expect(await health.json()).toMatchObject({ status: 'ok' });

    const metrics = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await metrics.text();
    expect(text).toMatch(/^# (HELP|TYPE) uploader_/m);

    expect((await fetch(`http://127.0.0.1:${port}/nope`)).status).toBe(404);

    const id = uniqueName('R');
    const files = { 'metadata.json': JSON.stringify({ session_id: id }), 'data.bin': randomBytes(200_000), 'session_summary.json': '{}' };
    await writeSession(join(t.cfg.root, 'live-run'), files);
    const complete = `${t.cfg.prefix}/${id}/_COMPLETE`;
    await waitFor(async () => (await listKeys(t.world.s3, t.cfg.prefix)).includes(complete), 20_000, `${complete} in S3`);
    for (const [rel, content] of Object.entries(files)) expect(sha256(await getObject(t.world.s3, `${t.cfg.prefix}/${id}/${rel}`)), rel).toBe(sha256(content));
    // _COMPLETE is in S3 a moment before the agent logs it and counts the session.
    await agent.waitForEvent('complete_marker_uploaded', 20_000);

    // Metrics now count the upload.
    const after = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(after).toMatch(/^uploader_sessions_completed_total 1$/m);
    expect(after).toMatch(/^uploader_files_uploaded_total 3$/m);
    const bytes = Object.values(files).reduce((n, c) => n + Buffer.byteLength(c), 0);
    expect(after).toMatch(new RegExp(`^uploader_bytes_uploaded_total ${bytes}$`, 'm'));

    const sentAt = Date.now();
    agent.kill('SIGTERM');
    const exit = await agent.exited;
    expect(exit.code, agent.err).toBe(0);
    expect(exit.at - sentAt).toBeLessThan(25_000);
    const log = events(agent.out);
    expect(log).toContain('agent_stopping');
    expect(log.at(-1)).toBe('agent_stopped');
    // The port is released.
    await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();
    // Every stdout line is a JSON log line.
    const lines = agent.out.trimEnd().split('\n');
    expect(logLines(agent.out)).toHaveLength(lines.length);
    // And the same events are in {log_dir}/agent.log.
    const fileEvents = logLines(await readFile(join(t.cfg.logDir, 'agent.log'), 'utf8')).map((l) => l.event);
    expect(fileEvents).toContain('agent_started');
    expect(fileEvents).toContain('complete_marker_uploaded');
    expect(fileEvents.at(-1)).toBe('agent_stopped');
  });

  it('agent.health_port from the config is used when PORT is unset', async () => {
    const port = await freePort();
    const cfg2 = await writeAgentConfig(join(t.work.path, 'hp'), {
      endpoint: t.world.s3.endpoint,
      bucket: t.world.s3.bucket,
      prefix: t.cfg.prefix,
      agent: { health_port: port },
    });
    const agent = new CliProcess(['run', '--config', cfg2.path], t.world.env({ PORT: undefined }));
    await agent.waitForEvent('agent_started', 30_000);
    expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
    agent.kill('SIGINT');
    expect((await agent.exited).code, agent.err).toBe(0);
  });
});

describe('embedded PGlite lock (DATABASE_URL unset)', { timeout: SLOW }, () => {
  it('a second process on the same state_dir fails fast with exit 3; the first still stops cleanly', async () => {
    const port = await freePort();
    const env = t.world.env({ DATABASE_URL: undefined, PORT: String(port) });
    const agent = new CliProcess(['run', '--config', t.cfg.path], env);
    const started = await agent.waitForEvent('agent_started', 45_000);
    expect(started.db).toBe('pglite');

    const second = await runCli(['scan-once', '--config', t.cfg.path], env);
    expect(second.code, second.err + second.out).toBe(3);
    expect(second.err).toContain('in use by another uploader-agent');
    expect(second.err).toContain(t.cfg.stateDir);
    // Fails fast: well before runCli's 45 s kill, with room for a loaded machine's slow start.
    expect(second.ms).toBeLessThan(20_000);
    expect(agent.running).toBe(true);

    // Operator commands reach the database through the running agent's socket (embedded-db-served.test.ts).
    const status = await runCli(['status', '--json', '--config', t.cfg.path], env);
    expect(status.code, status.err).toBe(0);
    expect(JSON.parse(status.out)).toEqual([]);

    agent.kill('SIGTERM');
    const exit = await agent.exited;
    expect(exit.code, agent.err).toBe(0);
    expect(events(agent.out).at(-1)).toBe('agent_stopped');

    // Released: the next process gets the database.
    const after = await runCli(['status', '--json', '--config', t.cfg.path], env);
    expect(after.code, after.err).toBe(0);
    expect(JSON.parse(after.out)).toEqual([]);
  });
});
