import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, type ConfigProblem } from '../../app/config/load.js';

const example = readFileSync(new URL('../../config.example.yaml', import.meta.url), 'utf8');

// Line numbers below refer to this text (line 1 = "agent:").
const valid = `agent:
  machine_id: m1
  lab_id: lab1
watch:
  session_roots:
    - path: /mnt/a
      profile: p1
profiles:
  p1:
    required_markers: [done.json]
upload:
  s3_bucket: my-bucket
storage:
  manifest_cache_dir: /data/m
  log_dir: /data/logs
`;

function problems(text: string): ConfigProblem[] {
  try {
    parseConfig(text, 'test.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}
const edit = (from: string, to: string) => {
  expect(valid).toContain(from);
  return valid.replace(from, to);
};

describe('parseConfig', () => {
  it('accepts config.example.yaml and fills the defaults', () => {
    const cfg = parseConfig(example);
    expect(cfg.agent).toMatchObject({
      machine_id: 'ecs-uploader',
      lab_id: 'sdl1',
      scan_interval_seconds: 60,
      stable_window_seconds: 300,
      timezone: 'UTC',
      move_after_upload: true,
    });
    expect(cfg.upload).toMatchObject({
      s3_bucket: 'battery-etl-dev-data',
      s3_region: 'ca-central-1',
      s3_prefix: '',
      max_retries: 10,
      initial_backoff_seconds: 30,
      part_size_mb: 8,
      concurrency: 64,
      buffer_memory_mb: 64,
    });
    expect(cfg.watch.session_roots).toEqual([{ path: '/mnt/lab1/sessions', profile: 'battery_session' }]);
    expect(cfg.profiles.battery_session).toEqual({
      required_markers: ['session_summary.json'],
      ignore_patterns: ['*.tmp', '*.lock'],
      metadata_files: ['metadata.json'],
    });
  });

  it('fills defaults for a minimal file', () => {
    const cfg = parseConfig(valid);
    expect(cfg.agent).toMatchObject({ scan_interval_seconds: 60, stable_window_seconds: 300, timezone: 'UTC', move_after_upload: true });
    expect(cfg.upload).toMatchObject({
      s3_region: 'ca-central-1',
      s3_prefix: '',
      max_retries: 10,
      initial_backoff_seconds: 30,
      part_size_mb: 8,
      concurrency: 64,
      buffer_memory_mb: 64,
      parallel_sessions: 2,
      s3_force_path_style: false,
    });
    expect(cfg.profiles.p1).toEqual({ required_markers: ['done.json'], ignore_patterns: [], metadata_files: [] });
  });

  it('reports an unknown top-level key with its line', () => {
    expect(problems(`${valid}extra_section: 1\n`)).toEqual([expect.objectContaining({ path: 'extra_section', line: 16 })]);
  });

  it('reports an unknown nested key with its path and line', () => {
    const p = problems(edit('  lab_id: lab1\n', '  lab_id: lab1\n  scan_intervall_seconds: 5\n'));
    expect(p).toEqual([expect.objectContaining({ path: 'agent.scan_intervall_seconds', line: 4 })]);
    expect(p[0]?.message).toMatch(/unknown key/);
  });

  it.each([
    ['upload', '  s3_bucket: my-bucket\n', '  s3_bucket: my-bucket\n  max_retry: 3\n', 'upload.max_retry', 13],
    ['storage', '  log_dir: /data/logs\n', '  log_dir: /data/logs\n  state_directory: /data/db\n', 'storage.state_directory', 16],
    [
      'a profile',
      '    required_markers: [done.json]\n',
      '    required_markers: [done.json]\n    ignore_pattern: ["*.tmp"]\n',
      'profiles.p1.ignore_pattern',
      11,
    ],
    ['a session root', '      profile: p1\n', '      profile: p1\n      profiles: p1\n', 'watch.session_roots.0.profiles', 8],
    ['watch', '  session_roots:\n', '  session_root: []\n  session_roots:\n', 'watch.session_root', 5],
  ])('reports an unknown key in %s with its path and line', (_, from, to, path, line) => {
    const p = problems(edit(from, to));
    expect(p).toEqual([expect.objectContaining({ path, line })]);
    expect(p[0]?.message).toMatch(/unknown key/);
  });

  it('reports a wrong type (not as "required")', () => {
    const p = problems(edit('  lab_id: lab1\n', '  lab_id: lab1\n  scan_interval_seconds: sixty\n'));
    expect(p).toHaveLength(1);
    expect(p[0]).toMatchObject({ path: 'agent.scan_interval_seconds', line: 4 });
    expect(p[0]?.message).not.toBe('required');
  });

  it('reports a missing required field as "required"', () => {
    const p = problems(edit('  machine_id: m1\n', ''));
    expect(p).toEqual([expect.objectContaining({ path: 'agent.machine_id', message: 'required' })]);
  });

  it('rejects an invalid bucket name', () => {
    const p = problems(edit('s3_bucket: my-bucket', 's3_bucket: My_Bucket'));
    expect(p).toEqual([expect.objectContaining({ path: 'upload.s3_bucket', line: 12 })]);
    expect(p[0]?.message).toMatch(/bucket/);
  });

  it.each([0, 17, 1.5])('rejects parallel_sessions %s, naming the field', (n) => {
    const p = problems(edit('s3_bucket: my-bucket', `s3_bucket: my-bucket\n  parallel_sessions: ${n}`));
    expect(p).toEqual([expect.objectContaining({ path: 'upload.parallel_sessions', line: 13 })]);
  });

  it('sizes the memory for file data from part_size_mb unless it is set', () => {
    expect(parseConfig(edit('s3_bucket: my-bucket', 's3_bucket: my-bucket\n  part_size_mb: 16')).upload.buffer_memory_mb).toBe(128);
    expect(parseConfig(edit('s3_bucket: my-bucket', 's3_bucket: my-bucket\n  buffer_memory_mb: 32')).upload).toMatchObject({
      buffer_memory_mb: 32,
      part_size_mb: 8,
    });
  });

  it.each([
    ['buffer_memory_mb: 4', />=5/],
    ['buffer_memory_mb: many', /number/],
    ['part_size_mb: 16\n  buffer_memory_mb: 10', /at least part_size_mb \(16\)/],
  ])('rejects %s, naming upload.buffer_memory_mb', (setting, message) => {
    const p = problems(edit('s3_bucket: my-bucket', `s3_bucket: my-bucket\n  ${setting}`));
    expect(p).toEqual([expect.objectContaining({ path: 'upload.buffer_memory_mb' })]);
    expect(p[0]?.message).toMatch(message);
  });

  it.each([0, 257])('rejects concurrency %s, naming the field', (n) => {
    expect(problems(edit('s3_bucket: my-bucket', `s3_bucket: my-bucket\n  concurrency: ${n}`))).toEqual([
      expect.objectContaining({ path: 'upload.concurrency' }),
    ]);
  });

  it('rejects a relative session root path', () => {
    const p = problems(edit('path: /mnt/a', 'path: mnt/a'));
    expect(p).toEqual([expect.objectContaining({ path: 'watch.session_roots.0.path', line: 6 })]);
    expect(p[0]?.message).toMatch(/absolute/);
  });

  it('rejects a root that references an unknown profile', () => {
    const p = problems(edit('profile: p1', 'profile: p2'));
    expect(p).toEqual([expect.objectContaining({ path: 'watch.session_roots.0.profile', line: 7 })]);
    expect(p[0]?.message).toContain('p2');
  });

  it('rejects duplicate roots', () => {
    const p = problems(edit('      profile: p1\n', '      profile: p1\n    - path: /mnt/a/\n      profile: p1\n'));
    expect(p).toEqual([expect.objectContaining({ path: 'watch.session_roots.1.path', line: 8 })]);
  });

  it('reports a YAML syntax error with a line', () => {
    let caught: unknown;
    try {
      parseConfig(edit('  lab_id: lab1\n', '  lab_id: [lab1\n'));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const p = (caught as ConfigError).problems;
    expect(p.length).toBeGreaterThan(0);
    expect(p[0]?.line).toEqual(expect.any(Number));
    expect(p[0]?.message).toMatch(/^YAML/);
  });

  it('reports a duplicate YAML key with its line', () => {
    const p = problems(edit('  lab_id: lab1\n', '  lab_id: lab1\n  lab_id: lab2\n'));
    expect(p).toEqual([expect.objectContaining({ path: '', line: 4 })]);
    expect(p[0]?.message).toMatch(/unique/);
  });

  it('lists several problems at once', () => {
    const text = edit('s3_bucket: my-bucket', 's3_bucket: BAD')
      .replace('path: /mnt/a', 'path: relative')
      .replace('  lab_id: lab1\n', '  lab_id: lab1\n  typo: 1\n')
      .replace('  log_dir: /data/logs\n', '');
    const paths = problems(text)
      .map((p) => p.path)
      .sort();
    expect(paths).toEqual(['agent.typo', 'storage.log_dir', 'upload.s3_bucket', 'watch.session_roots.0.path']);
    const error = (() => {
      try {
        parseConfig(text, 'x.yaml');
      } catch (e) {
        return e as Error;
      }
      return null;
    })();
    expect(error?.message).toContain('x.yaml');
    expect(error?.message).toContain('agent.typo');
  });

  it('reports an unknown profile together with an invalid bucket and an unknown key', () => {
    const text = edit('profile: p1', 'profile: nope')
      .replace('s3_bucket: my-bucket', 's3_bucket: BAD')
      .replace('  lab_id: lab1\n', '  lab_id: lab1\n  typo: 1\n');
    expect(
      problems(text)
        .map((p) => p.path)
        .sort(),
    ).toEqual(['agent.typo', 'upload.s3_bucket', 'watch.session_roots.0.profile']);
  });

  // zod skips a superRefine once any field is missing or mistyped; the cross-field checks
  // (unknown profile, duplicate roots) must still be reported in the same round.
  it('reports an unknown profile even when another field is missing', () => {
    const text = edit('profile: p1', 'profile: nope').replace('  log_dir: /data/logs\n', '');
    expect(
      problems(text)
        .map((p) => p.path)
        .sort(),
    ).toEqual(['storage.log_dir', 'watch.session_roots.0.profile']);
  });

  it('rejects an unknown time zone, naming the field', () => {
    expect(problems(example.replace('timezone: UTC', 'timezone: Mars/Olympus_Mons'))).toContainEqual(
      expect.objectContaining({ path: 'agent.timezone', message: expect.stringMatching(/unknown time zone/) }),
    );
  });

  it('rejects nested roots and agent directories inside a root, naming the fields', () => {
    const text = example
      .replace(
        '    - path: /mnt/lab1/sessions      # one folder per session; <root>/processed/ is reserved\n      profile: battery_session',
        '    - path: /mnt/lab1/sessions\n      profile: battery_session\n    - path: /mnt/lab1/sessions/inner/\n      profile: battery_session',
      )
      .replace('log_dir: /data/logs', 'log_dir: /mnt/lab1/sessions/logs');
    const found = problems(text).map((p) => `${p.path}: ${p.message}`);
    expect(found).toContainEqual(expect.stringMatching(/^watch\.session_roots\.1\.path: is inside session_roots\[0\] \(\/mnt\/lab1\/sessions\)/));
    expect(found).toContainEqual(expect.stringMatching(/^storage\.log_dir: is inside the session root \/mnt\/lab1\/sessions/));
    expect(found.filter((f) => f.startsWith('watch.session_roots.0'))).toEqual([]);
  });
});
