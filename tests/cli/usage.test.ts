import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/fixtures.js';
import { killAll, runCli } from './harness.js';

const COMMANDS = ['run', 'scan-once', 'validate-config', 'print-manifest', 'status', 'retry'];
const EXAMPLE = fileURLToPath(new URL('../../config.example.yaml', import.meta.url));

let work: { path: string; remove(): Promise<void> };
beforeAll(async () => {
  work = await tempDir('uploader-cli-usage-');
});
afterAll(async () => {
  await killAll();
  await work?.remove();
});

// Every test runs its own short-lived children (each ~1 s to start): run them side by side.
describe.concurrent('uploader-agent usage', () => {
  it('--help exits 0 and lists all six commands', async () => {
    const r = await runCli(['--help']);
    expect(r.code, r.err).toBe(0);
    for (const c of COMMANDS) expect(r.out).toMatch(new RegExp(`^\\s+${c}\\b`, 'm'));
  });

  it.each(COMMANDS)('%s --help exits 0 and shows its usage', async (command) => {
    const r = await runCli([command, '--help']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(`Usage: uploader-agent ${command}`);
    expect(r.out).toContain('--config');
  });

  it('an unknown command exits 2 and says so on stderr', async () => {
    const r = await runCli(['upload-everything']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown command 'upload-everything'/);
    expect(r.out).toBe('');
  });

  it.each(['scan-once', 'run', 'validate-config', 'status'])('%s without --config exits 2', async (command) => {
    const r = await runCli([command]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--config/);
  });

  it('print-manifest without --session and retry without a session exit 2', async () => {
    const a = await runCli(['print-manifest', '--config', EXAMPLE]);
    expect(a.code).toBe(2);
    expect(a.err).toMatch(/--session/);
    const b = await runCli(['retry', '--config', EXAMPLE]);
    expect(b.code).toBe(2);
    expect(b.err).toMatch(/session/);
  });
});

describe.concurrent('validate-config', () => {
  it('accepts config.example.yaml: summary on stdout, nothing on stderr, exit 0', async () => {
    const r = await runCli(['validate-config', '--config', EXAMPLE]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('is valid');
    expect(r.out).toContain('battery-etl-dev-data');
    expect(r.out).toContain('/mnt/lab1/sessions');
    expect(r.out).toContain('battery_session');
    expect(r.err).toBe('');
  });

  it('the summary shows s3_endpoint without the password a URL may carry', async () => {
    const file = join(work.path, 'endpoint-with-password.yaml');
    await writeFile(
      file,
      (await readFile(EXAMPLE, 'utf8')).replace('# s3_endpoint: http://127.0.0.1:9000', 's3_endpoint: http://minio:Sup3rS3cretPw@127.0.0.1:9000'),
    );
    const r = await runCli(['validate-config', '--config', file]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('endpoint http://minio:***@127.0.0.1:9000');
    expect(r.out + r.err).not.toContain('Sup3rS3cretPw');
  });

  const BAD = [
    'agent:', //                                 1
    '  machine_id: pc1', //                      2
    '  lab_id: lab1', //                         3
    '  scan_intervall_seconds: 60', //           4  unknown key (typo)
    '  stable_window_seconds: soon', //          5  wrong type
    'watch:', //                                 6
    '  session_roots:', //                       7
    '    - path: /mnt/lab1/sessions', //         8
    '      profile: nope_profile', //            9  unknown profile
    'profiles:', //                              10
    '  battery_session:', //                     11
    '    required_markers: [session_summary.json]', // 12
    'upload:', //                                13
    '  s3_region: us-east-1', //                 14  s3_bucket missing
    'storage:', //                               15
    '  manifest_cache_dir: /tmp/m', //           16
    '  log_dir: /tmp/l', //                      17
    '',
  ].join('\n');

  function problemLine(stderr: string, path: string): string | undefined {
    return stderr.split('\n').find((l) => l.trim().startsWith(`${path}:`));
  }

  it('lists every problem of a bad file as `path: message (line N)` on stderr, exit 2, stdout empty', async () => {
    const file = join(work.path, 'bad.yaml');
    await writeFile(file, BAD);
    const r = await runCli(['validate-config', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    const expected: [string, number, RegExp][] = [
      ['agent.scan_intervall_seconds', 4, /unknown key/i],
      ['agent.stable_window_seconds', 5, /number/i],
      ['upload.s3_bucket', 14, /required/i],
      ['watch.session_roots.0.profile', 9, /nope_profile/],
    ];
    const missing = expected.filter(([path]) => !problemLine(r.err, path)).map(([p]) => p);
    expect(missing, `problems not reported; stderr:\n${r.err}`).toEqual([]);
    for (const [path, line, message] of expected) {
      const l = problemLine(r.err, path) as string;
      expect(l, path).toMatch(message);
      expect(l, path).toMatch(new RegExp(`\\(line ${line}\\)$`));
    }
  });

  it('an unknown profile alone: exit 2 with its path and line', async () => {
    const file = join(work.path, 'bad-profile.yaml');
    await writeFile(
      file,
      BAD.replace('  scan_intervall_seconds: 60\n', '')
        .replace('  stable_window_seconds: soon\n', '')
        .replace('  s3_region: us-east-1', '  s3_bucket: some-bucket'),
    );
    const r = await runCli(['validate-config', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(problemLine(r.err, 'watch.session_roots.0.profile')).toMatch(/unknown profile "nope_profile".*\(line 7\)$/);
  });

  it('YAML syntax errors exit 2 with a line', async () => {
    const file = join(work.path, 'broken.yaml');
    await writeFile(file, 'agent:\n  machine_id: [unclosed\n  lab_id: x\n');
    const r = await runCli(['validate-config', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/YAML.*\(line \d+\)/);
  });

  it('a missing file exits 2 and names it', async () => {
    const file = join(work.path, 'does-not-exist.yaml');
    const r = await runCli(['validate-config', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toContain(file);
    expect(r.err).toMatch(/ENOENT|cannot read/);
  });
});
