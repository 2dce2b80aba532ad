import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AUTHKEY, ENTRYPOINT, EntrypointHarness } from './entrypoint-harness.js';
import { onPath } from './support.js';

const hasShellcheck = onPath('shellcheck');
if (!hasShellcheck) console.warn('tests/deploy: SKIPPING shellcheck entrypoint.sh: no shellcheck binary on PATH (CI installs it)');

describe('entrypoint.sh', () => {
  it.skipIf(!hasShellcheck)(hasShellcheck ? 'passes shellcheck' : 'shellcheck: SKIPPED, no shellcheck binary on PATH (CI installs it)', () => {
    const r = spawnSync('shellcheck', [ENTRYPOINT], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('is executable and uses strict mode', () => {
    const text = readFileSync(ENTRYPOINT, 'utf8');
    expect(text.startsWith('#!/usr/bin/env bash\n')).toBe(true);
    expect(text).toMatch(/^set -euo pipefail$/m);
    expect(spawnSync('test', ['-x', ENTRYPOINT]).status).toBe(0);
  });
});

describe('entrypoint.sh with stubbed tools', () => {
  let h: EntrypointHarness;
  beforeEach(() => {
    h = new EntrypointHarness();
  });
  afterEach(() => h.cleanup());

  const mnt = (name: string) => h.path('mnt', name);
  const agentCmd = () => `${h.path('bin', 'fake-agent')} run --config ${h.path('config.yaml')}`;
  const setpriv = () =>
    `setpriv --reuid=${process.getuid?.()} --regid=${process.getgid?.()} --clear-groups --no-new-privs --inh-caps=-all --ambient-caps=-all --bounding-set=-all -- ${agentCmd()}`;
  const started = (log: string[]) => log.filter((l) => /^(setpriv|fake-agent)/.test(l));
  const tailscaleUp = () => `tailscale --socket=${h.socket} up --auth-key=file:/dev/stdin --hostname=uploader-test --timeout=60s`;

  it('FARGATE (the default): userspace Tailscale with a SOCKS5 proxy, no mounts, then the agent without privileges', () => {
    const r = h.run({});
    expect(r.status, r.stderr).toBe(0);
    expect(r.log).toEqual([
      `tailscaled --socket=${h.socket} --tun=userspace-networking --socks5-server=127.0.0.1:1055 --state=mem:`,
      tailscaleUp(),
      setpriv(),
      `fake-agent run --config ${h.path('config.yaml')}`,
      `tailscale --socket=${h.socket} logout`,
      'tailscaled stopped',
    ]);
    expect(h.read('tailscale-up.stdin')).toBe(AUTHKEY);
  });

  it('FARGATE starts unprivileged without Tailscale when no TS_AUTHKEY is given (test images)', () => {
    const r = h.run({ TS_AUTHKEY: undefined, PROC_STATUS: h.path('caps-none'), TS_TUN_DEVICE: '/nonexistent/tun' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('TS_AUTHKEY is not set: not starting Tailscale');
    expect(r.log).toEqual([setpriv(), `fake-agent run --config ${h.path('config.yaml')}`]);
  });

  it.each<[string, Record<string, string>, string]>([
    ['NFS_MOUNTS under FARGATE', { NFS_MOUNTS: 'pc1:/s:/mnt/a' }, 'NFS_MOUNTS needs LAUNCH_TYPE=EC2'],
    ['an unknown LAUNCH_TYPE', { LAUNCH_TYPE: 'fargate' }, "LAUNCH_TYPE must be FARGATE or EC2, not 'fargate'"],
  ])('refuses %s with exit 2 before starting anything', (_, env, message) => {
    const r = h.run(env);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.log).toEqual([]);
  });

  it('EC2: kernel Tailscale, waits for DNS, mounts every NFS_MOUNTS entry rw and verifies it, then the agent', () => {
    const r = h.run({ LAUNCH_TYPE: 'EC2', NFS_MOUNTS: ` lab-pc-01:/export/sessions:${mnt('lab1')} , 100.64.0.7:/data/runs:${mnt('lab2')},` });
    expect(r.status, r.stderr).toBe(0);
    const opts = 'rw,soft,timeo=300,retrans=3,nolock,noatime';
    expect(r.log).toEqual([
      `tailscaled --socket=${h.socket} --state=mem:`,
      tailscaleUp(),
      'getent hosts lab-pc-01', // an IPv4 literal needs no lookup
      `mount -t nfs -o ${opts} lab-pc-01:/export/sessions ${mnt('lab1')}`,
      `mountpoint -q ${mnt('lab1')}`,
      `mount -t nfs -o ${opts} 100.64.0.7:/data/runs ${mnt('lab2')}`,
      `mountpoint -q ${mnt('lab2')}`,
      setpriv(),
      `fake-agent run --config ${h.path('config.yaml')}`,
      `tailscale --socket=${h.socket} logout`,
      'tailscaled stopped',
    ]);
    expect(existsSync(mnt('lab1')) && existsSync(mnt('lab2')) && existsSync(h.path('data'))).toBe(true);
  });

  it('keeps the auth key off every command line and out of the output', () => {
    for (const env of [{}, { LAUNCH_TYPE: 'EC2', NFS_MOUNTS: `pc:/s:${mnt('a')}` }, { STUB_TAILSCALE_STATUS: '1' }]) {
      const r = h.run(env);
      expect(r.log.join('\n')).not.toContain(AUTHKEY);
      expect(r.stderr).not.toContain(AUTHKEY);
      expect(h.read('tailscale-up.stdin')).toBe(AUTHKEY);
    }
  });

  it('EC2: keeps Tailscale state in TS_STATE_DIR when set and honours NFS_MOUNT_OPTIONS', () => {
    const state = h.path('ts-state');
    const r = h.run({ LAUNCH_TYPE: 'EC2', TS_STATE_DIR: state, NFS_MOUNT_OPTIONS: 'rw,hard,nfsvers=4.1', NFS_MOUNTS: `pc:/s:${mnt('a')}` });
    expect(r.status, r.stderr).toBe(0);
    expect(r.log[0]).toBe(`tailscaled --socket=${h.socket} --statedir=${state}`);
    expect(r.log).toContain(`mount -t nfs -o rw,hard,nfsvers=4.1 pc:/s ${mnt('a')}`);
  });

  it('EC2: waits for a name that resolves late, and stops when one never resolves', () => {
    const late = h.run({ LAUNCH_TYPE: 'EC2', NFS_MOUNTS: `pc-late:/s:${mnt('a')}`, STUB_DNS_LATE: 'pc-late' });
    expect(late.status, late.stderr).toBe(0);
    expect(late.log.filter((l) => l === 'getent hosts pc-late')).toHaveLength(3);
    expect(late.log).toContain(`mount -t nfs -o rw,soft,timeo=300,retrans=3,nolock,noatime pc-late:/s ${mnt('a')}`);

    const never = h.run({ LAUNCH_TYPE: 'EC2', DNS_WAIT_SECONDS: '1', NFS_MOUNTS: `pc-gone:/s:${mnt('a')}`, STUB_DNS_NEVER: 'pc-gone' });
    expect(never.status).not.toBe(0);
    expect(never.stderr).toContain('cannot resolve NFS host pc-gone after 1 s');
    expect(never.log.filter((l) => /^(mount|setpriv|fake-agent)/.test(l))).toEqual([]);
  });

  it('EC2: stops with the reason, and never starts the agent, when a mount fails', () => {
    const r = h.run({
      LAUNCH_TYPE: 'EC2',
      NFS_MOUNTS: `pc1:/ok:${mnt('one')},pc2:/broken:${mnt('two')},pc3:/never:${mnt('three')}`,
      STUB_MOUNT_FAIL: 'pc2:/broken',
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`mount of pc2:/broken on ${mnt('two')} failed; refusing to start against an empty directory`);
    expect(r.log.some((l) => l.startsWith('mount') && l.includes('pc3'))).toBe(false);
    expect(started(r.log)).toEqual([]);
    expect(r.log.slice(-2)).toEqual([`tailscale --socket=${h.socket} logout`, 'tailscaled stopped']);
  });

  it('EC2: stops when a share is not a mountpoint after mounting', () => {
    const r = h.run({ LAUNCH_TYPE: 'EC2', NFS_MOUNTS: `pc1:/ok:${mnt('one')}`, STUB_NOT_MOUNTED: mnt('one') });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`${mnt('one')} is not a mountpoint`);
    expect(started(r.log)).toEqual([]);
  });

  it.each(['pc1', 'pc1:/share', 'pc1:share:/mnt/x', 'pc1:/share:relative', ':/share:/mnt/x', 'fe80::1:/share:/mnt/x'])(
    'rejects the malformed NFS_MOUNTS entry %j with exit 2 before starting or mounting anything',
    (entry) => {
      const r = h.run({ LAUNCH_TYPE: 'EC2', NFS_MOUNTS: `pc0:/fine:${mnt('zero')},${entry}` });
      expect(r.status).toBe(2);
      expect(r.stderr).toContain('invalid NFS_MOUNTS entry');
      expect(r.log).toEqual([]);
    },
  );

  it('EC2 without TS_AUTHKEY skips Tailscale with a message and still mounts and starts', () => {
    const r = h.run({ LAUNCH_TYPE: 'EC2', TS_AUTHKEY: undefined, NFS_MOUNTS: `pc1:/ok:${mnt('one')}` });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('TS_AUTHKEY is not set: not starting Tailscale');
    expect(r.log.filter((l) => l.startsWith('tailscale'))).toEqual([]);
    expect(r.log.at(-1)).toBe(`fake-agent run --config ${h.path('config.yaml')}`);
  });

  it.each<[string, Record<string, string>]>([
    ['no tun device', { TS_TUN_DEVICE: '/nonexistent/tun' }],
    ['no NET_ADMIN', { PROC_STATUS: 'caps-none' }],
  ])('EC2 refuses kernel Tailscale with %s', (_, override) => {
    const env: Record<string, string> = { LAUNCH_TYPE: 'EC2', ...override, NFS_MOUNTS: `pc1:/ok:${mnt('one')}` };
    if (env.PROC_STATUS) env.PROC_STATUS = h.path(env.PROC_STATUS);
    const r = h.run(env);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('LAUNCH_TYPE=EC2 mounts NFS over kernel Tailscale');
    expect(r.stderr).toContain('NET_ADMIN');
    expect(r.log).toEqual([]);
  });

  it('stops when tailscaled dies at start or tailscale up fails', () => {
    const died = h.run({ STUB_TAILSCALED_FAIL: '1' });
    expect(died.status).not.toBe(0);
    expect(died.stderr).toContain('tailscaled exited during start');
    const upFailed = h.run({ STUB_TAILSCALE_STATUS: '1' });
    expect(upFailed.status).not.toBe(0);
    expect(upFailed.stderr).toContain('tailscale up failed');
    for (const r of [died, upFailed]) expect(started(r.log)).toEqual([]);
  });

  it('writes AGENT_CONFIG_YAML to AGENT_CONFIG, and refuses to start without a config', () => {
    const cfg = h.path('etc', 'uploader', 'config.yaml');
    const ok = h.run({ AGENT_CONFIG: cfg, AGENT_CONFIG_YAML: 'agent:\n  lab_id: lab1' });
    expect(ok.status, ok.stderr).toBe(0);
    expect(readFileSync(cfg, 'utf8')).toBe('agent:\n  lab_id: lab1\n');
    const missing = h.run({ AGENT_CONFIG: h.path('nope.yaml') });
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toContain('agent config');
    expect(started(missing.log)).toEqual([]);
  });
});
