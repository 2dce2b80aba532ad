import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeSession } from '../helpers/fixtures.js';
import { getMetadata, getObject, listKeys } from '../helpers/s3.js';
import { CliProcess, freePort, runCli, uniqueName, type CliResult } from './harness.js';
import { cliSuite } from './world.js';

const PASSWORD = 'Sup3rS3cretPw';

// Each child process starts in ~1 s (PGlite: 2-8 s); a test runs several in sequence.
const SLOW = 150_000;

const t = cliSuite('sec');

/** Every file under `dir`, recursively, with its contents. */
async function filesUnder(dir: string): Promise<{ path: string; text: string }[]> {
  const out: { path: string; text: string }[] = [];
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  for (const e of entries) {
    if (!e.isFile()) continue;
    const path = join(e.parentPath, e.name);
    out.push({ path, text: await readFile(path, 'latin1') });
  }
  return out;
}

describe('secrets', { timeout: SLOW }, () => {
  it('the DATABASE_URL password appears nowhere: stdout, stderr, log files, manifest cache, S3 objects and metadata, state rows', async (ctx) => {
    if (!t.world.dbUrl) {
      ctx.skip('needs a PostgreSQL server (TEST_DATABASE_URL or Docker); the embedded PGlite takes no password');
      return;
    }
    const url = new URL(t.world.dbUrl);
    url.password = PASSWORD; // trust auth ignores it; the search_path options stay
    const env = t.world.env({ DATABASE_URL: url.toString() });
    expect(url.toString()).toContain(PASSWORD);

    const id = uniqueName('SEC');
    await writeSession(join(t.cfg.root, 'run-ok'), { 'metadata.json': JSON.stringify({ session_id: id }), 'data.csv': '1,2\n', 'session_summary.json': '{}' });
    await writeSession(join(t.cfg.root, 'run-bad'), { 'data.csv': '1\n', _COMPLETE: '', 'session_summary.json': '{}' }); // needs_attention: an error path

    const results: [string, CliResult][] = [];
    const run = async (...args: string[]) => {
      const r = await runCli([...args, '--config', t.cfg.path], env);
      results.push([args.join(' '), r]);
      return r;
    };
    expect((await run('scan-once')).code).toBe(0);
    expect((await run('scan-once')).code).toBe(1); // run-bad fails, run-ok is uploaded
    expect((await run('status', '--json')).code).toBe(0);
    expect((await run('status', 'run-bad')).code).toBe(0);
    expect((await run('status')).code).toBe(0);
    expect((await run('retry', 'run-bad')).code).toBe(0);
    expect((await run('validate-config')).code).toBe(0);
    expect((await run('print-manifest', '--session', join(t.cfg.root, 'run-bad'))).code).toBe(1);

    // A run process too, with its start, a cycle and its shutdown.
    const agent = new CliProcess(['run', '--config', t.cfg.path], { ...env, PORT: String(await freePort()) });
    await agent.waitForEvent('agent_started');
    await agent.waitForEvent('cycle_completed').catch(() => undefined);
    agent.kill('SIGTERM');
    expect((await agent.exited).code, agent.err).toBe(0);

    // Sanity: the agent really used this URL, and produced output worth searching.
    const keys = await listKeys(t.world.s3, t.cfg.prefix);
    expect(keys).toContain(`${t.cfg.prefix}/${id}/_COMPLETE`);
    const logFiles = await filesUnder(t.cfg.logDir);
    expect(logFiles.map((f) => f.path)).toContain(join(t.cfg.logDir, 'agent.log'));
    const manifests = await filesUnder(t.cfg.manifestDir);
    expect(manifests.length).toBeGreaterThan(0);

    const leaks: string[] = [];
    const check = (where: string, text: string) => {
      if (text.includes(PASSWORD)) leaks.push(where);
    };
    for (const [cmd, r] of results) {
      check(`${cmd}: stdout`, r.out);
      check(`${cmd}: stderr`, r.err);
    }
    check('run: stdout', agent.out);
    check('run: stderr', agent.err);
    for (const f of [...logFiles, ...manifests, ...(await filesUnder(t.cfg.stateDir))]) check(f.path, f.text);
    for (const key of await listKeys(t.world.s3)) {
      check(`s3://${key}`, (await getObject(t.world.s3, key)).toString('latin1'));
      check(`s3://${key} metadata`, JSON.stringify(await getMetadata(t.world.s3, key)));
    }
    for (const table of ['uploader_sessions', 'uploader_session_ids', 'uploader_files', 'uploader_events']) {
      const { rows } = await t.world.database.db.query<{ j: string }>(`SELECT row_to_json(t)::text AS j FROM ${table} t`);
      for (const row of rows) check(`table ${table}`, row.j);
    }
    expect(leaks).toEqual([]);
  });
});
