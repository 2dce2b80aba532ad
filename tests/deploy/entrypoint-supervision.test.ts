import { spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AUTHKEY, DATABASE_URL, EntrypointHarness } from './entrypoint-harness.js';
import { ROOT } from './support.js';

const PRELOAD_SOURCE = join(ROOT, 'scripts/container/agent-secrets.cts');

function exited(child: ChildProcess): Promise<{ code: number | null; stderr: string }> {
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr })));
}

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('entrypoint.sh supervising the agent', () => {
  let h: EntrypointHarness;
  let preload: string;
  beforeEach(() => {
    h = new EntrypointHarness();
    // Compiled as the image build compiles it.
    preload = h.path('agent-secrets.cjs');
    buildSync({ entryPoints: [PRELOAD_SOURCE], outfile: preload, format: 'cjs', platform: 'node', target: 'node20', logLevel: 'error' });
  });
  afterEach(() => h.cleanup());

  it('passes SIGTERM to the agent alone, exits with its status once it drained, then logs Tailscale out', async () => {
    const child = h.start({ STUB_AGENT_SERVES: '1' });
    const done = exited(child);
    await until('the agent to serve', () => h.log().includes('fake-agent serving'));
    child.kill('SIGTERM');
    const { code, stderr } = await done;
    expect(code, stderr).toBe(0);
    expect(h.log().slice(-3)).toEqual(['fake-agent drained', `tailscale --socket=${h.socket} logout`, 'tailscaled stopped']);
  });

  it('fails the task when tailscaled dies under a running agent, after stopping the agent', async () => {
    const child = h.start({ STUB_AGENT_SERVES: '1', STUB_TAILSCALED_DIES_AFTER: '1' });
    const { code, stderr } = await exited(child);
    expect(code).toBe(1);
    expect(stderr).toContain('tailscaled exited with status 7; stopping the agent');
    expect(h.log()).toContain('fake-agent drained');
    expect(h.log().some((l) => l.endsWith(' logout'))).toBe(false); // nothing left to log out of
  });

  it('gives the agent neither secrets nor entrypoint settings in its environment; DATABASE_URL comes on fd 3', () => {
    const r = h.run({ LAUNCH_TYPE: 'EC2', DATABASE_URL, AGENT_CONFIG_YAML: 'agent: {}', NFS_MOUNTS: `pc:/s:${h.path('mnt')}`, PORT: '8123' });
    expect(r.status, r.stderr).toBe(0);
    const env = h.read('agent.env');
    for (const secret of [AUTHKEY, DATABASE_URL]) expect(env).not.toContain(secret);
    for (const name of ['TS_AUTHKEY', 'DATABASE_URL', 'NFS_MOUNTS', 'AGENT_CONFIG_YAML', 'LAUNCH_TYPE', 'TS_HOSTNAME', 'AGENT_UID']) {
      expect(env).not.toMatch(new RegExp(`^${name}=`, 'm'));
    }
    expect(env).toMatch(/^PORT=8123$/m);
    expect(env.split('\n')).toContain(`HOME=${h.path('data')}`); // root's home is closed to the agent
    expect(env).toMatch(/^UPLOADER_SECRETS_FD=3$/m);
    expect(env).toMatch(/^NODE_OPTIONS=--require=\/usr\/local\/lib\/uploader\/agent-secrets\.cjs$/m);
    expect(h.read('agent.fd3')).toBe(`DATABASE_URL=${DATABASE_URL}\n`);
  });

  it('without DATABASE_URL passes no secrets pipe (the agent uses its embedded database)', () => {
    const r = h.run({ TS_AUTHKEY: undefined });
    expect(r.status, r.stderr).toBe(0);
    expect(h.read('agent.env')).not.toMatch(/^(UPLOADER_SECRETS_FD|NODE_OPTIONS)=/m);
    expect(h.read('agent.fd3')).toBe('');
  });

  it('agent-secrets puts the piped secret into process.env, never into /proc/self/environ', () => {
    const agent = h.path('bin', 'node-agent');
    const report = (what: string) =>
      `require('node:fs').writeFileSync(process.env.STUB_DIR + '/${what}', JSON.stringify({ url: process.env.DATABASE_URL ?? null, fd: process.env.UPLOADER_SECRETS_FD ?? null, environ: require('node:fs').readFileSync('/proc/self/environ', 'utf8') }));`;
    writeFileSync(
      agent,
      [
        `#!${process.execPath}`,
        report('agent.json'),
        // A process the agent starts inherits NODE_OPTIONS, so the preload runs there too.
        `require('node:child_process').execFileSync(process.execPath, ['-e', ${JSON.stringify(report('child.json'))}]);`,
      ].join('\n'),
    );
    chmodSync(agent, 0o755);
    const r = h.run({ DATABASE_URL, AGENT_BIN: agent, AGENT_SECRETS_PRELOAD: preload });
    expect(r.status, r.stderr).toBe(0);
    const seen = JSON.parse(h.read('agent.json')) as { url: string | null; fd: string | null; environ: string };
    expect(seen.url).toBe(DATABASE_URL);
    expect(seen.fd).toBeNull();
    expect(seen.environ).not.toContain('TEST-SECRET');
    expect(seen.environ).toContain('UPLOADER_SECRETS_FD=3'); // the start-up environment, as the kernel keeps it
    const child = JSON.parse(h.read('child.json')) as { url: string | null; environ: string };
    expect(child.url).toBe(DATABASE_URL); // inherited from process.env like any variable the agent sets
  });

  it('agent-secrets fails the start loudly when the descriptor it is given is not open', () => {
    const r = spawnSync(process.execPath, ['-e', '0'], {
      env: { PATH: process.env.PATH, NODE_OPTIONS: `--require=${preload}`, UPLOADER_SECRETS_FD: '99' },
      encoding: 'utf8',
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('agent-secrets: cannot read the secrets pipe on fd 99');
  });
});
