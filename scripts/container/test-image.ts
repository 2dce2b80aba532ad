import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { podmanOk, ULIMITS } from './podman.js';

export const TEST_IMAGE = 'localhost/lab-data-uploader:container-test';
const BUILD_STAGE_IMAGE = 'localhost/lab-data-uploader:container-test-build';
const HOST_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
/** A fixed port keeps RDS_CA_BUNDLE_URL, and so podman's layer cache, the same from run to run. */
const CA_PORT = 18931;

export interface BuiltImage {
  image: string;
  base: string;
  baseSeconds: number;
  buildSeconds: number;
  sizeBytes: number;
}

/** Serves a PEM bundle over HTTP on loopback: the stand-in for the RDS CA download. */
async function serveBundle(pem: Buffer): Promise<{ url: string; server: Server }> {
  const server = createServer((_, res) => res.end(pem));
  for (const port of [CA_PORT, 0]) {
    const ok = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    const address = server.address();
    if (ok && typeof address === 'object' && address) return { url: `http://127.0.0.1:${address.port}/rds-ca-bundle.pem`, server };
  }
  throw new Error('cannot serve the CA bundle on loopback');
}

/**
 * The real Dockerfile, built from a locally bootstrapped base, with the two build arguments
 * that reach outside this machine substituted: no Tailscale repository, and the RDS CA bundle
 * served from loopback. The host's trust store goes in as the build_ca secret, for a proxy
 * that inspects TLS on the way to the npm registry.
 */
export async function buildTestImage(root: string): Promise<BuiltImage> {
  let started = Date.now();
  const bootstrap = spawnSync('bash', [join(root, 'scripts/container/bootstrap-base.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 1_200_000,
  });
  if (bootstrap.status !== 0) throw new Error(`bootstrap-base.sh exited ${bootstrap.status}`);
  const base = bootstrap.stdout.trim().split('\n').at(-1) ?? '';
  const baseSeconds = (Date.now() - started) / 1000;

  if (!existsSync(HOST_CA_BUNDLE)) throw new Error(`${HOST_CA_BUNDLE} is missing (Debian's ca-certificates)`);
  // Any PEM bundle stands in for the RDS one: the build only checks it holds certificates.
  const { url, server } = await serveBundle(readFileSync(HOST_CA_BUNDLE));
  started = Date.now();
  try {
    const build = (target: string[], tag: string) =>
      podmanOk(
        [
          'build',
          '--format',
          'docker',
          '--network',
          'host',
          ...ULIMITS,
          '--secret',
          `id=build_ca,src=${HOST_CA_BUNDLE}`,
          '--build-arg',
          `NODE_IMAGE=${base}`,
          '--build-arg',
          'WITH_TAILSCALE=no',
          '--build-arg',
          `RDS_CA_BUNDLE_URL=${url}`,
          ...target,
          '--tag',
          tag,
          root,
        ],
        { timeoutMs: 1_500_000 },
      );
    // The build stage tagged too: its layers (npm ci above all) stay the cache of the next run
    // while the untagged leftovers of earlier runs are pruned.
    await build(['--target', 'build'], BUILD_STAGE_IMAGE);
    await build([], TEST_IMAGE);
    await podmanOk(['image', 'prune', '--force']);
  } finally {
    server.close();
  }
  const buildSeconds = (Date.now() - started) / 1000;
  const sizeBytes = Number(await podmanOk(['image', 'inspect', '--format', '{{.Size}}', TEST_IMAGE]));
  return { image: TEST_IMAGE, base, baseSeconds, buildSeconds, sizeBytes };
}
