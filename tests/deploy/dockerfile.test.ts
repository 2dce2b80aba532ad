import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, onPath } from './support.js';

// Static checks; `npm run test:container` builds and runs the image where containers can run.
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
const lines = dockerfile
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));
const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

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
    expect(dockerfile).toContain('-o /etc/ssl/certs/rds-global-bundle.pem');
  });

  it('builds the production image by default; test builds substitute what cannot be reached', () => {
    expect(dockerfile).toContain('ARG RDS_CA_BUNDLE_URL=https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem');
    expect(dockerfile).toContain('ARG WITH_TAILSCALE=yes');
    expect(dockerfile).toMatch(/yes\)\s+curl -fsSL https:\/\/pkgs\.tailscale\.com\/stable\/debian\/bookworm/);
    expect(dockerfile).toMatch(/\*\) echo "WITH_TAILSCALE must be yes or no" >&2; exit 1/);
  });

  it('takes a build CA only as a build secret, for the npm step alone', () => {
    const withSecret = lines.filter((l) => l.includes('--mount=type=secret'));
    expect(withSecret).toHaveLength(1);
    expect(withSecret[0]).toMatch(/^RUN --mount=type=secret,id=build_ca .*NODE_EXTRA_CA_CERTS=\/run\/secrets\/build_ca.*npm ci /);
    expect(lines.filter((l) => /^(ENV|ARG) /.test(l)).join(' ')).not.toContain('NODE_EXTRA_CA_CERTS');
  });

  it('ships the compiled secrets preload where entrypoint.sh loads it', () => {
    expect(dockerfile).toMatch(/esbuild scripts\/container\/agent-secrets\.cts .*--outfile=dist\/container\/agent-secrets\.cjs/);
    expect(lines).toContain('COPY --from=build /src/dist/container/agent-secrets.cjs /usr/local/lib/uploader/agent-secrets.cjs');
    expect(readFileSync(join(ROOT, 'entrypoint.sh'), 'utf8')).toContain(
      'AGENT_SECRETS_PRELOAD="${AGENT_SECRETS_PRELOAD:-/usr/local/lib/uploader/agent-secrets.cjs}"',
    );
    expect(ignored.slice(ignored.indexOf('scripts/container'))).toEqual(['scripts/container', '!scripts/container/agent-secrets.cts']);
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

  it.skipIf(!onPath('shellcheck'))('bootstrap-base.sh (the locally built NODE_IMAGE) passes shellcheck', () => {
    const r = spawnSync('shellcheck', [join(ROOT, 'scripts/container/bootstrap-base.sh')], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
