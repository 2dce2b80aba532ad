import { mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeSession } from '../helpers/fixtures.js';
import { listKeys } from '../helpers/s3.js';
import { events, runCli, uniqueName } from './harness.js';
import { cliSuite } from './world.js';

// Each child process starts in ~1 s (PGlite: 2-8 s); a test runs several in sequence.
const SLOW = 150_000;

const t = cliSuite('processed');

const scanOnce = () => runCli(['scan-once', '--config', t.cfg.path], t.world.env());

async function statusOf(folderName: string): Promise<{ status: string; last_error: string | null; path: string }> {
  const r = await runCli(['status', '--json', '--config', t.cfg.path], t.world.env());
  expect(r.code, r.err).toBe(0);
  const row = (JSON.parse(r.out) as { status: string; last_error: string | null; path: string }[]).find((s) => s.path === join(t.cfg.root, folderName));
  expect(row, r.out).toBeDefined();
  return row as { status: string; last_error: string | null; path: string };
}

/** Two cycles: the first observes the session, the second uploads it and tries the move. */
async function uploadSession(folderName: string): Promise<string> {
  const id = uniqueName('P');
  await writeSession(join(t.cfg.root, folderName), {
    'metadata.json': JSON.stringify({ session_id: id }),
    'data.csv': 'a,b\n1,2\n',
    'session_summary.json': '{}',
  });
  expect((await scanOnce()).code).toBe(0);
  const second = await scanOnce();
  expect(second.code, 'a failed move fails the cycle').toBe(1);
  expect(events(second.out)).toContain('complete_marker_uploaded');
  expect(events(second.out)).toContain('session_move_failed');
  expect(await listKeys(t.world.s3, `${t.cfg.prefix}/${id}/`)).toContain(`${t.cfg.prefix}/${id}/_COMPLETE`);
  return id;
}

describe('<root>/processed that is not a real folder', { timeout: SLOW }, () => {
  it('a file: the session stays uploaded saying why, the file is untouched, and the move happens once processed/ is a folder', async () => {
    const processed = join(t.cfg.root, 'processed');
    await writeFile(processed, 'not a folder\n');
    await uploadSession('run-file');

    const held = await statusOf('run-file');
    expect(held.status).toBe('uploaded');
    expect(held.last_error).toContain(`${processed} is a file, not a folder`);
    expect(await readFile(processed, 'utf8')).toBe('not a folder\n');
    expect((await stat(join(t.cfg.root, 'run-file'))).isDirectory()).toBe(true);

    const doctor = await runCli(['doctor', '--config', t.cfg.path], t.world.env());
    expect(doctor.code).toBe(1);
    expect(doctor.out).toContain(`FAIL  root ${t.cfg.root}: ${processed} is a file, not a folder`);

    await rm(processed);
    await mkdir(processed);
    const fixed = await scanOnce();
    expect(fixed.code, fixed.err + fixed.out).toBe(0);
    expect(events(fixed.out)).toContain('session_moved_to_processed');
    expect((await statusOf('run-file')).status).toBe('processed');
    expect(await readdir(processed)).toEqual(['run-file']);
  });

  it('a link to a folder elsewhere: never followed, nothing is moved out of the root, and doctor fails naming it', async () => {
    const elsewhere = join(t.work.path, 'elsewhere');
    await mkdir(elsewhere);
    const processed = join(t.cfg.root, 'processed');
    await symlink(elsewhere, processed);
    await uploadSession('run-link');

    const held = await statusOf('run-link');
    expect(held.status).toBe('uploaded');
    expect(held.last_error).toContain(`${processed} is a symbolic link, not a folder`);
    expect(await readdir(elsewhere)).toEqual([]);
    expect((await readdir(join(t.cfg.root, 'run-link'))).sort()).toEqual(['data.csv', 'metadata.json', 'session_summary.json']);

    const doctor = await runCli(['doctor', '--config', t.cfg.path], t.world.env());
    expect(doctor.code).toBe(1);
    expect(doctor.out).toContain(`FAIL  root ${t.cfg.root}: ${processed} is a symbolic link, not a folder`);
  });
});
