import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeSession } from '../helpers/fixtures.js';
import { logLines, runCli, uniqueName } from './harness.js';
import { cliSuite } from './world.js';

const t = cliSuite('find');

describe('finding a session, and lines that say which', { timeout: 120_000 }, () => {
  it('status accepts the session_id from the metadata file before the session is stable, the folder name or path, and the processed path', async () => {
    const id = uniqueName('S');
    const folder = join(t.cfg.root, 'run-1');
    await writeSession(folder, { 'metadata.json': JSON.stringify({ session_id: id }), 'data.csv': 'v\n', 'session_summary.json': '{}' });
    const scanOnce = () => runCli(['scan-once', '--config', t.cfg.path], t.world.env());
    const status = (ref: string) => runCli(['status', ref, '--config', t.cfg.path, '--json'], t.world.env());
    const folderOf = (out: string) => (JSON.parse(out) as { path: string }[]).map((s) => s.path);

    expect((await scanOnce()).code).toBe(0);
    for (const ref of [id, 'run-1', folder, `${relative(process.cwd(), folder)}/`]) {
      const r = await status(ref);
      expect(r.code, `${ref}: ${r.err}`).toBe(0);
      expect(folderOf(r.out), ref).toEqual([folder]);
    }

    expect((await scanOnce()).code).toBe(0);
    const moved = join(t.cfg.root, 'processed', (await readdir(join(t.cfg.root, 'processed')))[0] as string);
    const r = await status(moved);
    expect(r.code, r.err).toBe(0);
    expect(folderOf(r.out)).toEqual([folder]);
  });

  it('every line about a failing session names its folder and the session_id it resolved (no session_id: null)', async () => {
    const id = uniqueName('S');
    const folder = join(t.cfg.root, 'deep');
    const deep = Array.from({ length: 5 }, (_, i) => `${i}${'d'.repeat(220)}`).join('/');
    await writeSession(folder, { 'metadata.json': JSON.stringify({ session_id: id }), [`${deep}/x.csv`]: 'v\n', 'session_summary.json': '{}' });
    await runCli(['scan-once', '--config', t.cfg.path], t.world.env());
    const r = await runCli(['scan-once', '--config', t.cfg.path], t.world.env());
    expect(r.code).toBe(1);
    const failed = logLines(r.out).find((l) => l.event === 'session_failed');
    expect(failed).toMatchObject({ folder, session_id: id, to: 'needs_attention' });
    const aboutIt = logLines(r.out).filter((l) => l.folder === folder);
    expect(aboutIt.length).toBeGreaterThan(1);
    for (const l of logLines(r.out)) expect(l.session_id, JSON.stringify(l)).not.toBeNull();
  });
});
