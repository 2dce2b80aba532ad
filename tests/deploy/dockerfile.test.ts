import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './support.js';

// `docker build` cannot run on every machine (CI runs it); these are the static checks.
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
const lines = dockerfile.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));

describe('Dockerfile', () => {
  it('is multi-stage: builds with dev dependencies, ships production ones only', () => {
    const froms = lines.filter((l) => l.startsWith('FROM '));
    expect(froms).toEqual(['FROM ${NODE_IMAGE} AS build', 'FROM ${NODE_IMAGE}']);
    expect(dockerfile).toMatch(/ARG NODE_IMAGE=node:22-[a-z]+-slim/);
    expect(dockerfile).toContain('npm prune --omit=dev');
    expect(lines.filter((l) => l.startsWith('COPY --from=build')).join('\n')).toContain('node_modules');
  });

  it('installs nfs-common, tailscale and tini, and fetches the RDS CA bundle from a build ARG', () => {
    for (const pkg of ['nfs-common', 'tini', 'tailscale']) expect(dockerfile).toMatch(new RegExp(`apt-get install[^;]*\\b${pkg}\\b`));
    expect(dockerfile).toContain('ARG RDS_CA_BUNDLE_URL=');
    expect(dockerfile).toContain('-o /etc/ssl/certs/rds-global-bundle.pem');
  });

  it('runs entrypoint.sh under tini, health-checks /health, and bakes in no secrets', () => {
    expect(lines.find((l) => l.startsWith('ENTRYPOINT'))).toBe('ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/entrypoint.sh"]');
    expect(lines.find((l) => l.startsWith('HEALTHCHECK'))).toContain('/health');
    const envAndArgs = lines.filter((l) => /^(ENV|ARG) /.test(l)).join(' ');
    expect(envAndArgs).not.toMatch(/DATABASE_URL|TS_AUTHKEY|PASSWORD|SECRET|AWS_ACCESS_KEY|AWS_SECRET/i);
  });

  it('copies only sources that exist and are not excluded by .dockerignore', () => {
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', '.git', '.env*']));
    const sources = lines
      .filter((l) => l.startsWith('COPY ') && !l.includes('--from='))
      .flatMap((l) => l.split(/\s+/).slice(1, -1))
      .filter((s) => s !== '.');
    expect(sources.length).toBeGreaterThan(0);
    for (const s of sources) {
      expect(existsSync(join(ROOT, s)), s).toBe(true);
      expect(ignored, s).not.toContain(s);
    }
  });
});
