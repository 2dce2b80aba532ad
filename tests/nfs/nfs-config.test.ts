import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../app/config/load.js';

const base = `agent:
  machine_id: m1
  lab_id: lab1
watch:
  session_roots:
    - path: /mnt/a
      profile: p1
profiles:
  p1: {}
upload:
  s3_bucket: my-bucket
storage:
  manifest_cache_dir: /data/m
  log_dir: /data/logs
`;

describe('share.nfs configuration', () => {
  it('defaults to direct connections with the process credentials, 30 s calls and 120 s of retries', () => {
    expect(parseConfig(base, 'test.yaml').share.nfs).toEqual({ timeout_seconds: 30, retry_seconds: 120 });
  });

  it('takes a SOCKS5 proxy and AUTH_SYS credentials', () => {
    const config = parseConfig(`${base}share:\n  nfs:\n    proxy: socks5://127.0.0.1:1055\n    uid: 1000\n    gid: 1000\n`, 'test.yaml');
    expect(config.share.nfs).toEqual({ proxy: 'socks5://127.0.0.1:1055', uid: 1000, gid: 1000, timeout_seconds: 30, retry_seconds: 120 });
  });

  it.each(['http://127.0.0.1:1055', 'socks5://127.0.0.1', 'socks5://user:pw@host:1055'])('refuses the proxy %s', (proxy) => {
    let problems: unknown;
    try {
      parseConfig(`${base}share:\n  nfs:\n    proxy: ${proxy}\n`, 'test.yaml');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      problems = (err as ConfigError).problems;
    }
    expect(problems).toEqual([expect.objectContaining({ path: 'share.nfs.proxy', message: expect.stringMatching(/socks5:\/\/host:port/) })]);
  });
});
