import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startLocalS3, type LocalS3 } from '../../demo/local-s3.js';
import { FaultProxy } from '../../tests/helpers/fault-proxy.js';
import { withSearchPath } from '../../tests/helpers/database.js';

export const AGENT_UID = 1000;
export const BUCKET = 'container-test';
export const PREFIX = 'ct';

/**
 * What the container under test talks to over the host network: s3rver, and the machine's
 * PostgreSQL behind a TCP proxy that can be taken away (the shared server itself is never
 * stopped), in a schema of its own. The secrets are random markers to search for.
 */
export interface Fixtures {
  dir: string;
  lab: string;
  s3: LocalS3;
  db: FaultProxy;
  databaseUrl: string;
  tsAuthKey: string;
  standInBin: string;
  close(): Promise<void>;
}

/** tailscaled and tailscale stand-ins (the test image has no Tailscale): bound over /usr/local/sbin. */
function writeTailscaleStandIns(bin: string): void {
  mkdirSync(bin);
  const tailscaled = [
    '#!/bin/bash',
    'for a in "$@"; do [[ "$a" == --socket=* ]] && { mkdir -p "$(dirname "${a#--socket=}")"; touch "${a#--socket=}"; }; done',
    // Runs until stopped, keeping its own command line (the test looks for its flags there).
    'trap "exit 0" TERM',
    'while :; do sleep 1 & wait $!; done',
  ];
  const tailscale = ['#!/bin/bash', 'echo "tailscale stand-in: $*" >&2', 'case " $* " in *" up "*) cat >/run/tailscale-up.stdin ;; esac', 'exit 0'];
  writeFileSync(join(bin, 'tailscaled'), `${tailscaled.join('\n')}\n`);
  writeFileSync(join(bin, 'tailscale'), `${tailscale.join('\n')}\n`);
  for (const f of ['tailscaled', 'tailscale']) chmodSync(join(bin, f), 0o755);
}

/** A finished session folder of one random file, owned by the agent's user. */
export function addSession(lab: string, name: string, bytes: number): void {
  const folder = join(lab, 'sessions', name);
  mkdirSync(folder);
  writeFileSync(join(folder, 'data.bin'), randomBytes(bytes));
  for (const p of [folder, join(folder, 'data.bin')]) chownSync(p, AGENT_UID, AGENT_UID);
}

export async function startFixtures(): Promise<Fixtures> {
  const dir = mkdtempSync(join(tmpdir(), 'container-test-'));
  chmodSync(dir, 0o755);
  const lab = join(dir, 'lab');
  mkdirSync(join(lab, 'sessions'), { recursive: true });
  for (const p of [lab, join(lab, 'sessions')]) chownSync(p, AGENT_UID, AGENT_UID);
  addSession(lab, 'ct-session-1', 256 * 1024);
  const standInBin = join(dir, 'bin');
  writeTailscaleStandIns(standInBin);

  const server = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const schema = `ct_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: server });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const target = new URL(server);
  const db = await new FaultProxy(target.hostname, Number(target.port || 5432)).start();
  const url = new URL(withSearchPath(server, schema));
  url.host = `127.0.0.1:${db.port}`;
  url.username = url.username || 'postgres';
  url.password = `ct-db-secret-${randomBytes(8).toString('hex')}`; // trust auth accepts any
  const s3 = await startLocalS3([BUCKET]);

  return {
    dir,
    lab,
    s3,
    db,
    databaseUrl: url.toString(),
    tsAuthKey: `tskey-auth-ct-${randomBytes(8).toString('hex')}`,
    standInBin,
    async close() {
      await s3.close();
      await db.close();
      const c = new pg.Client({ connectionString: server });
      await c.connect();
      await c.query(`DROP SCHEMA ${schema} CASCADE`);
      await c.end();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function agentConfig(s3Endpoint: string): string {
  return [
    'agent:',
    '  machine_id: container-test',
    '  lab_id: lab-ct',
    '  scan_interval_seconds: 2',
    '  stable_window_seconds: 0',
    '  health_port: 8000 # PORT must win',
    'watch:',
    '  session_roots:',
    '    - path: /srv/lab/sessions',
    '      profile: plain',
    'profiles:',
    '  plain: {}',
    'upload:',
    `  s3_bucket: ${BUCKET}`,
    '  s3_region: us-east-1',
    `  s3_prefix: ${PREFIX}`,
    `  s3_endpoint: ${s3Endpoint}`,
    '  s3_force_path_style: true',
    '  max_bytes_per_second: 4000000 # keeps a large session in flight when SIGTERM comes',
    'storage:',
    '  manifest_cache_dir: /data/manifests',
    '  log_dir: /data/logs',
  ].join('\n');
}
