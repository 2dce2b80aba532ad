import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeSession } from '../helpers/fixtures.js';
import { events, logLines, runCli } from './harness.js';
import { cliSuite } from './world.js';

// Each child process starts in ~1 s; a test runs several in sequence.
const SLOW = 150_000;

const t = cliSuite('logs');

const scanOnce = (extra: Record<string, string> = {}) => runCli(['scan-once', '--config', t.cfg.path], t.world.env(extra));
const files = (n: number) => Object.fromEntries([...Array.from({ length: n }, (_, i) => [`f${i}.csv`, `${i}\n`]), ['session_summary.json', '{}']]);

describe('logs for people', { timeout: SLOW }, () => {
  it('one summary line per session at info (files, bytes, duration, MB/s); per-file lines only at debug', async () => {
    await writeSession(join(t.cfg.root, 'run-info'), files(20));
    expect((await scanOnce()).code).toBe(0);
    const up = await scanOnce();
    expect(up.code, up.out).toBe(0);
    expect(events(up.out)).not.toContain('upload_file_succeeded');
    const summary = logLines(up.out).filter((l) => l.event === 'upload_completed');
    expect(summary).toHaveLength(1);
    expect(summary[0]).toMatchObject({ level: 'info', files: 21, bytes: expect.any(Number) as number, seconds: expect.any(Number) as number });
    expect(summary[0]).toHaveProperty('mb_per_s');
    expect(summary[0]?.msg).toMatch(/21 files, [\d.]+ MB in [\d.]+ s/);

    await writeSession(join(t.cfg.root, 'run-debug'), files(3));
    expect((await scanOnce({ LOG_LEVEL: 'debug' })).code).toBe(0);
    const debug = await scanOnce({ LOG_LEVEL: 'debug' });
    expect(logLines(debug.out).filter((l) => l.event === 'upload_file_succeeded')).toHaveLength(4);
  });

  it('an expected, classified error is logged with its code and message and no stack trace', async () => {
    await writeSession(join(t.cfg.root, 'run-bad'), { 'data.csv': '1\n', 'session_summary.json': '{}', _COMPLETE: '' });
    expect((await scanOnce()).code).toBe(0);
    const failed = await scanOnce();
    const line = logLines(failed.out).find((l) => l.event === 'session_failed');
    expect(line?.err, failed.out).toMatchObject({ code: 'RESERVED_OR_INVALID_NAME', retryable: false });
    expect(line?.err).toHaveProperty('message');
    expect(line?.err).not.toHaveProperty('stack');
  });

  it('LOG_FORMAT=pretty prints readable lines (the log file stays JSON); an unknown LOG_FORMAT is exit 2', async () => {
    await writeSession(join(t.cfg.root, 'run-pretty'), files(1));
    expect((await scanOnce({ LOG_FORMAT: 'pretty' })).code).toBe(0);
    const pretty = await scanOnce({ LOG_FORMAT: 'pretty' });
    expect(pretty.code, pretty.out).toBe(0);
    expect(logLines(pretty.out)).toEqual([]);
    expect(pretty.out).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: upload_completed: all files and manifest.json are in S3: 2 files/m);
    const [logFile = ''] = await readdir(t.cfg.logDir);
    expect(logLines(await readFile(join(t.cfg.logDir, logFile), 'utf8')).map((l) => l.event)).toContain('upload_completed');

    const bad = await scanOnce({ LOG_FORMAT: 'xml' });
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/LOG_FORMAT="xml" is not a log format/);
  });
});
