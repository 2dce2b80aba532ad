import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir, writeSession } from '../helpers/fixtures.js';
import { getObject, listKeys, sha256 } from '../helpers/s3.js';
import { runCli, uniqueName, writeAgentConfig } from './harness.js';
import { cliSuite } from './world.js';

const t = cliSuite('tls');
const hasOpenssl = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/**
 * S3 over HTTPS with a private CA, as an on-premises MinIO often is: a TLS-terminating proxy
 * in front of the test server, its certificate signed by a CA made here, which the agent is
 * given with NODE_EXTRA_CA_CERTS. Both the SDK's requests and the agent's own connections (whole
 * files and parts) must trust it, and nothing else.
 */
describe.skipIf(!hasOpenssl)('S3 over HTTPS with a private CA', { timeout: 120_000 }, () => {
  let certs: { path: string; remove(): Promise<void> };
  let server: tls.Server;
  let endpoint: string;
  let connections = 0;

  beforeAll(async () => {
    certs = await tempDir('uploader-tls-');
    const file = (name: string) => join(certs.path, name);
    const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    ssl('req', '-x509', ...ec, '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '2', '-subj', '/CN=lab uploader test CA');
    ssl('req', ...ec, '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=127.0.0.1');
    await writeFile(file('san.ext'), 'subjectAltName=IP:127.0.0.1\n');
    ssl(
      'x509',
      '-req',
      '-in',
      file('server.csr'),
      '-CA',
      file('ca.pem'),
      '-CAkey',
      file('ca.key'),
      '-CAcreateserial',
      '-out',
      file('server.pem'),
      '-days',
      '2',
      '-extfile',
      file('san.ext'),
    );
    const upstreamPort = Number(new URL(t.world.s3.endpoint).port);
    server = tls.createServer({ key: await readFile(file('server.key')), cert: await readFile(file('server.pem')) }, (client) => {
      connections++;
      const upstream = net.connect(upstreamPort, '127.0.0.1');
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    endpoint = `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await certs?.remove();
  });

  it('trusts the CA it is given: a session with a multipart file lands byte-exact over TLS', async () => {
    const cfg = await writeAgentConfig(t.work.path, { endpoint, bucket: t.world.s3.bucket, prefix: uniqueName('tls'), upload: { part_size_mb: 5 } });
    const id = uniqueName('TLS');
    const files = {
      'metadata.json': JSON.stringify({ session_id: id }),
      'frames/camera.raw': randomBytes(12 * 1024 * 1024 + 3),
      'notes.txt': 'over TLS\n',
      'session_summary.json': '{}',
    };
    await writeSession(join(cfg.root, 'run-tls'), files);
    const env = t.world.env({ NODE_EXTRA_CA_CERTS: join(certs.path, 'ca.pem') });
    const first = await runCli(['scan-once', '--config', cfg.path], env);
    expect(first.code, first.err + first.out).toBe(0);
    const second = await runCli(['scan-once', '--config', cfg.path], env);
    expect(second.code, second.err + second.out).toBe(0);

    const base = `${cfg.prefix}/${id}`;
    expect(await listKeys(t.world.s3, cfg.prefix)).toEqual([...Object.keys(files), 'manifest.json', '_COMPLETE'].map((k) => `${base}/${k}`).sort());
    for (const [rel, content] of Object.entries(files)) expect(sha256(await getObject(t.world.s3, `${base}/${rel}`)), rel).toBe(sha256(content));
    expect(connections).toBeGreaterThan(0);
  });

  it('refuses a certificate nobody vouches for: exit 3 naming the problem, nothing uploaded', async () => {
    const cfg = await writeAgentConfig(t.work.path, { endpoint, bucket: t.world.s3.bucket, prefix: uniqueName('untrusted') });
    await writeSession(join(cfg.root, 'run-untrusted'), { 'data.csv': 'a\n', 'session_summary.json': '{}' });
    const res = await runCli(['scan-once', '--config', cfg.path], t.world.env({ NODE_EXTRA_CA_CERTS: undefined }));
    expect(res.code, res.err + res.out).toBe(3);
    expect(res.err + res.out).toMatch(/certificate/i);
    expect(await listKeys(t.world.s3, cfg.prefix)).toEqual([]);
  });
});
