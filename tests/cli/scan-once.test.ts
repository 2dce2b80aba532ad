import { randomBytes } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeSession } from '../helpers/fixtures.js';
import { getMetadata, getObject, listKeys, sha256 } from '../helpers/s3.js';
import { canonical, closedPort, events, logLines, runCli, uniqueName, writeAgentConfig } from './harness.js';
import { cliSuite } from './world.js';

// Each child process starts in ~1 s (PGlite: 2-8 s); a test runs several in sequence.
const SLOW = 150_000;

const t = cliSuite('scan');

function sessionFiles(sessionId: string): Record<string, string | Buffer> {
  return {
    'metadata.json': JSON.stringify({ session_id: sessionId, operator: 'ada' }),
    'data.csv': 'voltage,current\n3.7,0.1\n3.6,0.2\n',
    'raw/trace.bin': randomBytes(300_000),
    'raw/deep/notes.txt': 'ünïcödé ✓\n',
    'session_summary.json': '{"ok":true}',
  };
}

const scanOnce = (env = t.world.env()) => runCli(['scan-once', '--config', t.cfg.path], env);

describe('scan-once', { timeout: SLOW }, () => {
  it('uploads a complete session byte-exactly across two processes, then moves it to processed/', async () => {
    const id = uniqueName('S');
    const files = sessionFiles(id);
    await writeSession(join(t.cfg.root, 'run-1'), { ...files, 'partial.tmp': 'ignored' });

    const first = await scanOnce();
    expect(first.code, first.err + first.out).toBe(0);
    expect(await listKeys(t.world.s3, t.cfg.prefix)).toEqual([]);
    expect(events(first.out)).toContain('session_discovered');
    expect(events(first.out)).not.toContain('upload_started');
    expect((await stat(join(t.cfg.root, 'run-1'))).isDirectory()).toBe(true);

    const second = await scanOnce();
    expect(second.code, second.err + second.out).toBe(0);
    const base = `${t.cfg.prefix}/${id}`;
    const expectedKeys = [...Object.keys(files), 'manifest.json', '_COMPLETE'].map((k) => `${base}/${k}`).sort();
    expect(await listKeys(t.world.s3, t.cfg.prefix)).toEqual(expectedKeys);
    for (const [rel, content] of Object.entries(files)) {
      const got = await getObject(t.world.s3, `${base}/${rel}`);
      expect(got.equals(Buffer.from(content)), `${rel}: bytes differ`).toBe(true);
      expect(sha256(got), rel).toBe(sha256(content));
    }
    expect((await getObject(t.world.s3, `${base}/_COMPLETE`)).length).toBe(0);

    const log = events(second.out);
    for (const e of ['session_stable', 'manifest_created', 'upload_started', 'upload_completed', 'complete_marker_uploaded', 'session_moved_to_processed'])
      expect(log, e).toContain(e);
    expect(log.indexOf('complete_marker_uploaded')).toBeLessThan(log.indexOf('session_moved_to_processed'));

    await expect(stat(join(t.cfg.root, 'run-1'))).rejects.toMatchObject({ code: 'ENOENT' });
    const processed = await readdir(join(t.cfg.root, 'processed'));
    expect(processed).toHaveLength(1);
    const movedFolder = join(t.cfg.root, 'processed', processed[0] as string);
    expect(await readFile(join(movedFolder, 'data.csv'), 'utf8')).toBe(files['data.csv']);

    // A third run finds nothing new to do and uploads nothing again.
    const third = await scanOnce();
    expect(third.code, third.err).toBe(0);
    expect(events(third.out)).not.toContain('upload_started');
    expect(await listKeys(t.world.s3, t.cfg.prefix)).toEqual(expectedKeys);
  });

  it('an empty root: exit 0, a cycle_completed line, nothing uploaded', async () => {
    const r = await scanOnce();
    expect(r.code, r.err).toBe(0);
    expect(logLines(r.out).find((l) => l.event === 'cycle_completed')).toMatchObject({ failed: 0 });
    expect(await listKeys(t.world.s3, t.cfg.prefix)).toEqual([]);
  });

  it('a session with a top-level manifest.json: exit 1, needs_attention, nothing uploaded, folder untouched', async () => {
    const folder = join(t.cfg.root, 'run-reserved');
    await writeSession(folder, { 'manifest.json': '{"mine":true}', 'data.csv': '1,2\n', 'session_summary.json': '{}' });
    const before = (await readdir(folder)).sort();

    const first = await scanOnce();
    const second = await scanOnce();
    // First observation: waiting. Second: stable, looked at closely, needs_attention: that cycle exits 1.
    expect(first.code, first.out).toBe(0);
    expect(second.code, second.out).toBe(1);
    const failed = logLines(first.out + second.out).filter((l) => l.event === 'session_failed');
    expect(failed.length, first.out + second.out).toBeGreaterThan(0);

    const st = await runCli(['status', '--json', '--config', t.cfg.path], t.world.env());
    expect(st.code, st.err).toBe(0);
    const rows = JSON.parse(st.out) as { id: string; status: string; last_error: string | null }[];
    const row = rows.find((r) => r.id === 'run-reserved');
    expect(row, st.out).toMatchObject({ status: 'needs_attention' });
    expect(row?.last_error).toMatch(/manifest\.json/);

    expect(await listKeys(t.world.s3, t.cfg.prefix)).toEqual([]);
    expect((await readdir(folder)).sort()).toEqual(before);
    expect(await readFile(join(folder, 'manifest.json'), 'utf8')).toBe('{"mine":true}');
    await expect(stat(join(t.cfg.root, 'processed', 'run-reserved'))).rejects.toMatchObject({ code: 'ENOENT' });

    // It stays put on the next cycle too (no retry burns, no upload).
    const third = await scanOnce();
    expect(events(third.out)).not.toContain('upload_started');
    expect(await listKeys(t.world.s3, t.cfg.prefix)).toEqual([]);
  });

  it('writes the same JSON events to {log_dir}/agent.log as to stdout', async () => {
    await writeSession(join(t.cfg.root, 'run-log'), sessionFiles(uniqueName('L')));
    const a = await scanOnce();
    const b = await scanOnce();
    expect(a.code, a.err).toBe(0);
    expect(b.code, b.err).toBe(0);
    const file = await readFile(join(t.cfg.logDir, 'agent.log'), 'utf8');
    const fromFile = logLines(file);
    expect(fromFile.length).toBeGreaterThan(0);
    // Every line of the file is JSON, with the same events as stdout, in the same order.
    expect(file.trimEnd().split('\n').length).toBe(fromFile.length);
    expect(fromFile.map((l) => l.event)).toEqual(logLines(a.out + b.out).map((l) => l.event));
    expect(fromFile.map((l) => l.event)).toContain('complete_marker_uploaded');
    for (const l of fromFile) expect(l).toHaveProperty('time');
  });
});

describe('print-manifest', { timeout: SLOW }, () => {
  it('stdout is byte-for-byte the manifest.json the agent uploads; stderr is its canonical hash, also on _COMPLETE', async () => {
    const id = uniqueName('M');
    const folder = join(t.cfg.root, 'run-manifest');
    await writeSession(folder, { ...sessionFiles(id), 'scratch.tmp': 'ignored' });

    const printed = await runCli(['print-manifest', '--session', folder, '--config', t.cfg.path], t.world.env());
    expect(printed.code, printed.err).toBe(0);
    const hash = printed.err.replace(/^manifest-sha256: /, '').trim();
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(printed.err).toBe(`manifest-sha256: ${hash}\n`); // nothing else on stderr: no log lines
    const manifest = JSON.parse(printed.out) as { session_id: string; files: { relative_path: string }[]; file_count: number };
    expect(manifest.session_id).toBe(id);
    expect(manifest.files.map((f) => f.relative_path)).not.toContain('scratch.tmp');
    expect(manifest.file_count).toBe(5);
    expect(sha256(canonical(manifest))).toBe(hash);
    expect(await listKeys(t.world.s3, t.cfg.prefix)).toEqual([]); // printing uploads nothing

    expect((await scanOnce()).code).toBe(0);
    const up = await scanOnce();
    expect(up.code, up.err + up.out).toBe(0);

    const uploaded = await getObject(t.world.s3, `${t.cfg.prefix}/${id}/manifest.json`);
    expect(printed.stdout.equals(uploaded), `printed:\n${printed.out}\nuploaded:\n${uploaded.toString()}`).toBe(true);
    expect((await getMetadata(t.world.s3, `${t.cfg.prefix}/${id}/_COMPLETE`))['manifest-sha256']).toBe(hash);
    // And the cached copy is named after the same hash.
    expect(await readdir(t.cfg.manifestDir)).toContain(`${id}_${hash}.json`);
  });

  it('a folder that does not exist: exit 2, stdout empty', async () => {
    const r = await runCli(['print-manifest', '--session', join(t.cfg.root, 'nope'), '--config', t.cfg.path], t.world.env());
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toContain('nope');
  });
});

describe('exit 3: infrastructure unavailable at start', { timeout: SLOW }, () => {
  it('DATABASE_URL at a closed port: exit 3, names the database, never prints the password', async () => {
    const port = await closedPort();
    const r = await runCli(['scan-once', '--config', t.cfg.path], t.world.env({ DATABASE_URL: `postgres://postgres:s3cr3t-pw@127.0.0.1:${port}/x` }));
    expect(r.code, r.err + r.out).toBe(3);
    expect(r.err).toMatch(/database/i);
    expect(r.err).toMatch(/DATABASE_URL|PostgreSQL/);
    expect(r.err + r.out).not.toContain('s3cr3t-pw');
    expect(r.ms).toBeLessThan(30_000);
    // Nothing in the log file either.
    const log = await readFile(join(t.cfg.logDir, 'agent.log'), 'utf8').catch(() => '');
    expect(log).not.toContain('s3cr3t-pw');
  });

  it('S3 endpoint at a closed port: exit 3, names S3', async () => {
    const port = await closedPort();
    const cfg2 = await writeAgentConfig(join(t.work.path, 'closed-s3'), {
      endpoint: `http://127.0.0.1:${port}`,
      bucket: t.world.s3.bucket,
      prefix: t.cfg.prefix,
    });
    const r = await runCli(['scan-once', '--config', cfg2.path], t.world.env());
    expect(r.code, r.err + r.out).toBe(3);
    expect(r.err).toMatch(/S3/);
    expect(r.err).toContain(t.world.s3.bucket);
  });

  it('a bucket that does not exist: exit 3', async () => {
    const cfg2 = await writeAgentConfig(join(t.work.path, 'no-bucket'), { endpoint: t.world.s3.endpoint, bucket: 'no-such-bucket-here', prefix: t.cfg.prefix });
    const r = await runCli(['scan-once', '--config', cfg2.path], t.world.env());
    expect(r.code, r.err + r.out).toBe(3);
    expect(r.err).toContain('no-such-bucket-here');
  });
});
