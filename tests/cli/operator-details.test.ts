import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { writeSession } from '../helpers/fixtures.js';
import { listKeys } from '../helpers/s3.js';
import { CliProcess, closedPort, freePort, logLines, runCli, uniqueName, writeAgentConfig } from './harness.js';
import { cliSuite } from './world.js';

// Each child process starts in ~1 s; a test runs several in sequence.
const SLOW = 150_000;

const t = cliSuite('details');

const cli = (...args: string[]) => runCli([...args, '--config', t.cfg.path], t.world.env());

interface StatusRow {
  id: string;
  status: string;
  retries: number;
  failed_attempts: number;
}

describe('metadata files', { timeout: SLOW }, () => {
  it('a metadata.json that starts with a UTF-8 byte order mark names the session', async () => {
    const id = uniqueName('BOM');
    const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify({ session_id: id }))]);
    await writeSession(join(t.cfg.root, 'run-bom'), { 'metadata.json': bom, 'data.csv': '1\n', 'session_summary.json': '{}' });
    expect((await cli('scan-once')).code).toBe(0);
    const up = await cli('scan-once');
    expect(up.code, up.out).toBe(0);
    expect(await listKeys(t.world.s3, t.cfg.prefix)).toContain(`${t.cfg.prefix}/${id}/_COMPLETE`);
  });
});

describe('environment and arguments', { timeout: SLOW }, () => {
  it('an invalid LOG_LEVEL: exit 2 naming the variable', async () => {
    const r = await runCli(['status', '--config', t.cfg.path], t.world.env({ LOG_LEVEL: 'verbose' }));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/LOG_LEVEL="verbose" is not a log level; use one of fatal, error, warn, info, debug, trace, silent/);
    expect(r.err).not.toMatch(/unexpected error/);
  });

  it('--version prints the version', async () => {
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    const r = await runCli(['--version']);
    expect(r.code).toBe(0);
    expect(r.out).toBe(`${pkg.version}\n`);
  });

  it('print-manifest on a file: exit 2 with a clear message; on a folder the hash on stderr is labelled', async () => {
    await writeSession(join(t.cfg.root, 'run-m'), { 'data.csv': '1\n', 'session_summary.json': '{}' });
    const onFile = await cli('print-manifest', '--session', join(t.cfg.root, 'run-m', 'data.csv'));
    expect(onFile.code).toBe(2);
    expect(onFile.err).toMatch(/data\.csv is a file; --session takes a session folder/);
    expect(onFile.out).toBe('');

    const ok = await cli('print-manifest', '--session', join(t.cfg.root, 'run-m'));
    expect(ok.code, ok.err).toBe(0);
    expect(ok.out.endsWith('}\n')).toBe(true);
    expect(ok.err).toMatch(/^manifest-sha256: [0-9a-f]{64}\n$/);
  });

  it('DATABASE_URL: not a URL or not PostgreSQL is exit 2; an unreachable server names host:port, never the password', async () => {
    const status = (url: string) => runCli(['status', '--config', t.cfg.path], t.world.env({ DATABASE_URL: url }));
    const notUrl = await status('not-a-url');
    expect(notUrl.code).toBe(2);
    expect(notUrl.err).toMatch(/DATABASE_URL is not a URL; expected postgres:\/\//);

    const mysql = await status('mysql://lab:s3cretPw@db.example:3306/lab');
    expect(mysql.code).toBe(2);
    expect(mysql.err).toMatch(/DATABASE_URL is a mysql:\/\/ URL; only PostgreSQL/);
    expect(mysql.err).not.toContain('s3cretPw');

    const port = await closedPort();
    const down = await status(`postgres://lab:s3cretPw@127.0.0.1:${port}/lab`);
    expect(down.code).toBe(3);
    expect(down.err).toContain(`PostgreSQL at 127.0.0.1:${port}/lab`);
    expect(down.err).not.toContain('s3cretPw');
  });
});

describe('status', { timeout: SLOW }, () => {
  it('--state with no match says so; a folder name with a newline stays on its own table row', async () => {
    const none = await cli('status', '--state', 'failed');
    expect(none.code, none.err).toBe(0);
    expect(none.out).toBe('no sessions in state failed\n');

    await writeSession(join(t.cfg.root, 'bad\nname'), { 'data.csv': '1\n', 'session_summary.json': '{}' });
    expect((await cli('scan-once')).code).toBe(0);
    await cli('scan-once');
    const table = await cli('status');
    expect(table.code, table.err).toBe(0);
    const lines = table.out.trimEnd().split('\n');
    expect(lines, table.out).toHaveLength(2);
    expect(lines[1]).toMatch(/^bad\\nname\s+needs_attention/);
  });

  it('max_retries: N is N retries after the first attempt, and status counts retries against it', async () => {
    const proxy = await new FaultProxy('127.0.0.1', Number(new URL(t.world.s3.endpoint).port), true).start();
    try {
      const cfg = await writeAgentConfig(t.work.path, {
        endpoint: `http://127.0.0.1:${proxy.port}`,
        bucket: t.world.s3.bucket,
        prefix: t.cfg.prefix,
        upload: { max_retries: 1, initial_backoff_seconds: 0 },
      });
      const run = (...args: string[]) => runCli([...args, '--config', cfg.path], t.world.env());
      await writeSession(join(cfg.root, 'run-503'), { 'data.bin': randomBytes(1000), 'session_summary.json': '{}' });
      expect((await run('scan-once')).code).toBe(0);
      proxy.fault = 'http503';
      const rows = async () => JSON.parse((await run('status', '--json')).out) as StatusRow[];
      const retriesColumn = async () => {
        const [header = '', row = ''] = (await run('status')).out.split('\n');
        return row.slice(header.indexOf('RETRIES')).split(' ')[0];
      };

      expect((await run('scan-once')).code).toBe(1);
      expect(await rows()).toMatchObject([{ id: 'run-503', status: 'failed', retries: 0, failed_attempts: 1 }]);
      expect(await retriesColumn()).toBe('0/1');

      expect((await run('scan-once')).code).toBe(1);
      expect(await rows()).toMatchObject([{ id: 'run-503', status: 'needs_attention', retries: 1, failed_attempts: 2 }]);
      expect(await retriesColumn()).toBe('1/1');
    } finally {
      await proxy.close();
    }
  });
});

describe('doctor', { timeout: SLOW }, () => {
  it('removes its probe object', async () => {
    const r = await cli('doctor');
    expect(r.out).toMatch(/PASS {2}S3 .*probe written, read back and removed/);
    expect(await listKeys(t.world.s3, t.cfg.prefix)).toEqual([]);
  });
});

describe('run', { timeout: SLOW }, () => {
  it('session_interrupted names the state the session was in: uploading', async () => {
    await writeFile(t.cfg.path, (await readFile(t.cfg.path, 'utf8')).replace('max_retries: 3', 'max_retries: 3\n  max_bytes_per_second: 200000'));
    await writeSession(join(t.cfg.root, 'run-slow'), { 'data.bin': randomBytes(3_000_000), 'session_summary.json': '{}' });
    const agent = new CliProcess(['run', '--config', t.cfg.path], t.world.env({ PORT: String(await freePort()) }));
    await agent.waitForEvent('upload_started', 60_000);
    agent.kill('SIGTERM');
    expect((await agent.exited).code, agent.err).toBe(0);
    const interrupted = logLines(agent.out).find((l) => l.event === 'session_interrupted');
    expect(interrupted, agent.out).toMatchObject({ status: 'uploading' });
  });
});
