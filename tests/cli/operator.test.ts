import { randomBytes } from 'node:crypto';
import { readdir, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeSession } from '../helpers/fixtures.js';
import { getObject, listKeys, sha256 } from '../helpers/s3.js';
import { events, logLines, runCli } from './harness.js';
import { cliSuite } from './world.js';

// Each child process starts in ~1 s (PGlite: 2-8 s); a test runs several in sequence.
const SLOW = 150_000;

const t = cliSuite('ops');

const cli = (...args: string[]) => runCli([...args, '--config', t.cfg.path], t.world.env());

interface StatusRow {
  id: string;
  status: string;
  path: string;
  files: number | null;
  bytes: number | null;
  retries: number;
  last_error: string | null;
  history?: { from: string | null; to: string }[];
}

function parseStatus(out: string): StatusRow[] {
  const rows = JSON.parse(out) as unknown;
  expect(Array.isArray(rows), out).toBe(true);
  return rows as StatusRow[];
}

describe('status', { timeout: SLOW }, () => {
  it('--json: a JSON array on stdout alone, with id, status, path, files, bytes, retries, last_error', async () => {
    const data = randomBytes(10_000);
    await writeSession(join(t.cfg.root, 'run-a'), { 'data.bin': data, 'session_summary.json': '{}' });
    await writeSession(join(t.cfg.root, 'run-b'), { 'data.csv': '1\n' }); // no marker: keeps waiting
    expect((await cli('scan-once')).code).toBe(0);
    expect((await cli('scan-once')).code).toBe(0);

    const r = await cli('status', '--json');
    expect(r.code, r.err).toBe(0);
    const rows = parseStatus(r.out); // stdout is nothing but the JSON document
    expect(logLines(r.out)).toEqual([]);
    for (const row of rows) for (const f of ['id', 'status', 'path', 'files', 'bytes', 'retries', 'last_error']) expect(row, f).toHaveProperty(f);
    const a = rows.find((x) => x.id === 'run-a');
    const b = rows.find((x) => x.id === 'run-b');
    expect(a, r.out).toMatchObject({ status: 'processed', files: 2, bytes: data.length + 2, retries: 0, last_error: null });
    expect(a?.path).toContain('run-a');
    expect(b, r.out).toMatchObject({ status: 'waiting_for_stable' });
    expect(rows).toHaveLength(2);
    // Any logs went to stderr, as JSON lines, never to stdout.
    for (const line of r.err.split('\n').filter(Boolean)) expect(() => JSON.parse(line) as unknown, line).not.toThrow();

    const only = await cli('status', '--json', '--state', 'waiting_for_stable');
    expect(only.code, only.err).toBe(0);
    expect(parseStatus(only.out).map((x) => x.id)).toEqual(['run-b']);

    const table = await cli('status');
    expect(table.code, table.err).toBe(0);
    expect(table.out).toMatch(/^SESSION\s+STATUS/);
    expect(table.out).toMatch(/run-a\s+processed/);
  });

  it('status SESSION shows its history from discovery to processed', async () => {
    await writeSession(join(t.cfg.root, 'run-h'), { 'data.csv': '1,2\n', 'session_summary.json': '{}' });
    expect((await cli('scan-once')).code).toBe(0);
    expect((await cli('scan-once')).code).toBe(0);

    const text = await cli('status', 'run-h');
    expect(text.code, text.err).toBe(0);
    expect(text.out).toMatch(/session run-h .*processed/);
    for (const s of ['waiting_for_stable', 'ready_to_upload', 'uploading', 'uploaded', 'processed']) expect(text.out, s).toContain(`→ ${s}`);

    const json = await cli('status', '--json', 'run-h');
    expect(json.code, json.err).toBe(0);
    const [row] = parseStatus(json.out);
    expect(row?.status).toBe('processed');
    const to = (row?.history ?? []).map((h) => h.to);
    expect(to.at(-1)).toBe('processed');
    expect(to.indexOf('uploaded')).toBeLessThan(to.indexOf('processed'));
    expect(to.indexOf('uploading')).toBeLessThan(to.indexOf('uploaded'));
  });

  it('status of an unknown session: exit 2', async () => {
    const r = await cli('status', 'no-such-session');
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toContain('no-such-session');
  });
});

describe('retry', { timeout: SLOW }, () => {
  it('a needs_attention session, once fixed and retried, is uploaded by the next two cycles', async () => {
    const folder = join(t.cfg.root, 'run-r');
    const files = { 'data.csv': 'a,b\n1,2\n', 'session_summary.json': '{"done":true}' };
    await writeSession(folder, { ...files, _COMPLETE: '' });
    expect((await cli('scan-once')).code).toBe(0);
    const failing = await cli('scan-once');
    expect(failing.code, failing.out).toBe(1);
    const [before] = parseStatus((await cli('status', '--json', 'run-r')).out);
    expect(before?.status).toBe('needs_attention');
    expect(before?.last_error).toMatch(/_COMPLETE/);

    // Without a retry, fixing the folder changes nothing: needs_attention waits for an operator.
    await rename(join(folder, '_COMPLETE'), join(t.work.path, 'moved-away'));
    const idle = await cli('scan-once');
    expect(events(idle.out)).not.toContain('upload_started');
    expect(await listKeys(t.world.s3, t.cfg.prefix)).toEqual([]);

    const r = await cli('retry', 'run-r');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/needs_attention → waiting_for_stable/);
    const [queued] = parseStatus((await cli('status', '--json', 'run-r')).out);
    expect(queued?.status).toBe('waiting_for_stable');

    const c1 = await cli('scan-once');
    const c2 = await cli('scan-once');
    expect(c1.code, c1.out).toBe(0);
    expect(c2.code, c2.out).toBe(0);
    const base = `${t.cfg.prefix}/run-r`;
    expect(await listKeys(t.world.s3, t.cfg.prefix)).toEqual([
      `${base}/_COMPLETE`,
      `${base}/data.csv`,
      `${base}/manifest.json`,
      `${base}/session_summary.json`,
    ]);
    for (const [rel, content] of Object.entries(files)) expect(sha256(await getObject(t.world.s3, `${base}/${rel}`)), rel).toBe(sha256(content));
    const [after] = parseStatus((await cli('status', '--json', 'run-r')).out);
    expect(after?.status).toBe('processed');
    expect(await readdir(join(t.cfg.root, 'processed'))).toHaveLength(1);
    await expect(stat(folder)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('retry of an unknown session: exit 2', async () => {
    const r = await cli('retry', 'never-seen');
    expect(r.code).toBe(2);
    expect(r.err).toContain('never-seen');
  });

  it('retry of a processed session: exit 1, and it stays processed', async () => {
    await writeSession(join(t.cfg.root, 'run-p'), { 'data.csv': '1\n', 'session_summary.json': '{}' });
    expect((await cli('scan-once')).code).toBe(0);
    expect((await cli('scan-once')).code).toBe(0);
    const r = await cli('retry', 'run-p');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/processed/);
    const [row] = parseStatus((await cli('status', '--json', 'run-p')).out);
    expect(row?.status).toBe('processed');
  });
});
