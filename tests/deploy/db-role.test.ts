import { spawnSync } from 'node:child_process';
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgDb, type Db } from '../../app/state/db.js';
import { migrate } from '../../app/state/migrate.js';
import { ROOT, onPath } from './support.js';

/**
 * Runs the shell blocks of docs/deployment.md "The agent's database role" as written, with
 * `terraform output` and `aws` stubbed: rds-data statements go to a scratch database through
 * psql (role and database names made unique), put-secret-value is captured. Then connects with
 * the captured DATABASE_URL and runs the agent's migrations as that role.
 */
const SERVER = process.env.TEST_DATABASE_URL;
const skip = !SERVER
  ? 'SKIPPED agent database role SQL: no TEST_DATABASE_URL (a PostgreSQL server where this test may create roles and databases)'
  : !onPath('psql')
    ? 'SKIPPED agent database role SQL: no psql on PATH'
    : null;
if (skip) console.warn(`tests/deploy: ${skip}`);

function docBlocks(): string[] {
  const doc = readFileSync(join(ROOT, 'docs/deployment.md'), 'utf8');
  const section = doc.slice(doc.indexOf("## The agent's database role"), doc.indexOf('## IAM model'));
  return [...section.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
}

/** PostgreSQL's SCRAM-SHA-256 verifier of `password` with a given salt (RFC 5802, as PostgreSQL stores it). */
function scram(password: string, salt: Buffer, iterations: number): string {
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const hmac = (key: Buffer, text: string) => createHmac('sha256', key).update(text).digest();
  const storedKey = createHash('sha256').update(hmac(salted, 'Client Key')).digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${hmac(salted, 'Server Key').toString('base64')}`;
}

describe.skipIf(skip !== null)(skip ?? "docs/deployment.md: the agent's database role", () => {
  const id = randomBytes(4).toString('hex');
  const names = { db: `ra_db_${id}`, master: `ra_master_${id}`, agent: `ra_agent_${id}` };
  const serverUrl = (db: string, user = 'postgres', password = '') => {
    const u = new URL(SERVER ?? '');
    u.pathname = `/${db}`;
    u.username = user;
    u.password = password;
    return u.toString();
  };
  const admin = (sql: string) => {
    const r = spawnSync('psql', [serverUrl('postgres', new URL(SERVER ?? '').username), '-v', 'ON_ERROR_STOP=1', '-qAtc', sql], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
    return r.stdout.trim();
  };
  const masterUrl = () => serverUrl(names.db, names.master, 'master-pw');
  let dir: string;

  /** Runs doc blocks in bash with the stubs; returns the DATABASE_URL the operator put. */
  function runDocBlocks(blocks: string[]): string {
    const r = spawnSync('bash', ['-euo', 'pipefail', '-c', blocks.join('\n')], {
      cwd: dir,
      encoding: 'utf8',
      env: {
        PATH: `${join(dir, 'bin')}:${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
        MASTER_URL: masterUrl(),
        T_DB: names.db,
        T_MASTER: names.master,
        T_AGENT: names.agent,
        CAPTURE: join(dir, 'secret'),
      },
    });
    expect(r.status, r.stderr + r.stdout).toBe(0);
    return readFileSync(join(dir, 'secret'), 'utf8');
  }

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'db-role-'));
    mkdirSync(join(dir, 'bin'));
    const stub = (name: string, body: string) => {
      writeFileSync(join(dir, 'bin', name), `#!/usr/bin/env bash\nset -euo pipefail\n${body}\n`);
      chmodSync(join(dir, 'bin', name), 0o755);
    };
    stub(
      'terraform',
      'case "$*" in\n  "output -raw db_cluster_arn") echo arn:aws:rds:ca-central-1:1:cluster:state ;;\n  "output -raw db_master_secret_arn") echo "arn:aws:secretsmanager:ca-central-1:1:secret:rds!cluster" ;;\n  "output -raw db_endpoint") echo state.cluster.example ;;\n  "output -raw database_url_secret_arn") echo arn:aws:secretsmanager:ca-central-1:1:secret:database-url ;;\n  *) exit 9 ;;\nesac',
    );
    stub(
      'aws',
      [
        'args=("$@"); get() { for ((i = 0; i < ${#args[@]}; i++)); do [[ "${args[i]}" == "$1" ]] && { echo "${args[i+1]}"; return; }; done; exit 8; }',
        'case "$1 $2" in',
        '  "rds-data execute-statement")',
        '    [[ "$(get --secret-arn)" == "arn:aws:secretsmanager:ca-central-1:1:secret:rds!cluster" && "$(get --database)" == uploader ]] || exit 7',
        '    sql="$(get --sql)"; sql="${sql//DATABASE uploader/DATABASE $T_DB}"; sql="${sql//uploader_agent/$T_AGENT}"; sql="${sql//TO uploader/TO $T_MASTER}"',
        '    psql "$MASTER_URL" -v ON_ERROR_STOP=1 -q -c "$sql" ;;',
        '  "secretsmanager put-secret-value")',
        '    [[ "$(get --secret-id)" == arn:aws:secretsmanager:ca-central-1:1:secret:database-url ]] || exit 7',
        '    value="$(get --secret-string)"; cp "${value#file://}" "$CAPTURE" ;;',
        '  *) exit 9 ;;',
        'esac',
      ].join('\n'),
    );
    // What an Aurora master is: may create roles, owns the database, is no superuser.
    admin(`CREATE ROLE ${names.master} LOGIN CREATEROLE PASSWORD 'master-pw'`);
    admin(`CREATE DATABASE ${names.db} OWNER ${names.master}`);
  });

  afterAll(() => {
    admin(`DROP DATABASE IF EXISTS ${names.db}`);
    admin(`DROP ROLE IF EXISTS ${names.agent}`);
    admin(`DROP ROLE IF EXISTS ${names.master}`);
    rmSync(dir, { recursive: true, force: true });
  });

  it('hands an existing deployment over to a role that logs in with the password put in the secret and can do nothing but its own schema', async () => {
    const blocks = docBlocks();
    expect(blocks).toHaveLength(2);
    // The deployment before: the agent ran as the master, its tables in public, with a session.
    const asMaster = createPgDb(masterUrl());
    await migrate(asMaster);
    await asMaster.query(
      "INSERT INTO uploader_sessions (folder_path, folder_name, root_path, profile, discovered_at, updated_at) VALUES ('/r/s1', 's1', '/r', 'p', now(), now())",
    );
    await asMaster.close();

    const secret = runDocBlocks(blocks);
    const url = new URL(secret);
    expect(`${url.protocol}//${url.host}${url.pathname}`).toBe('postgresql://state.cluster.example:5432/uploader');
    expect(url.searchParams.get('sslmode')).toBe('verify-full');
    expect(url.username).toBe('uploader_agent');
    expect(url.password).toMatch(/^[0-9a-f]{64}$/);

    // The database holds a verifier of exactly that password, and never the password itself.
    const stored = admin(`SELECT rolpassword FROM pg_authid WHERE rolname = '${names.agent}'`);
    const [, iterations, salt] = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(stored) ?? [];
    expect(stored).toBe(scram(url.password, Buffer.from(salt ?? '', 'base64'), Number(iterations)));
    expect(admin(`SELECT rolsuper OR rolcreatedb OR rolcreaterole FROM pg_roles WHERE rolname = '${names.agent}'`)).toBe('f');

    const agent: Db = createPgDb(serverUrl(names.db, names.agent, url.password));
    try {
      expect(await migrate(agent)).toEqual([]); // the handed-over tables are already migrated
      const rows = await agent.query<{ folder_name: string }>('SELECT folder_name FROM uploader_sessions');
      expect(rows.rows.map((r) => r.folder_name)).toEqual(['s1']);
      await agent.query(
        "INSERT INTO uploader_sessions (folder_path, folder_name, root_path, profile, discovered_at, updated_at) VALUES ('/r/s2', 's2', '/r', 'p', now(), now())",
      );
      const where = await agent.query<{ schemaname: string; tableowner: string }>(
        "SELECT DISTINCT schemaname, tableowner FROM pg_tables WHERE tablename LIKE 'uploader\\_%'",
      );
      expect(where.rows).toEqual([{ schemaname: names.agent, tableowner: names.agent }]);
      for (const sql of ['CREATE TABLE public.intruder (a int)', 'CREATE TEMP TABLE scratch (a int)', 'CREATE DATABASE other', 'CREATE ROLE other']) {
        await expect(agent.query(sql), sql).rejects.toThrow(/permission denied/);
      }
    } finally {
      await agent.close();
    }
  }, 60_000);

  it('the verifier the doc computes is the one PostgreSQL computes for the same password and salt', () => {
    const doc = docBlocks()[0] ?? '';
    const script = /node -e '\n([\s\S]*?)\n'\)"/.exec(doc)?.[1];
    expect(script).toContain('c.randomBytes(16)');
    admin(`SET password_encryption = 'scram-sha-256'; ALTER ROLE ${names.master} PASSWORD 'master-pw'`);
    const ours = admin(`SELECT rolpassword FROM pg_authid WHERE rolname = '${names.master}'`);
    const salt = /:([^$]+)\$/.exec(ours)?.[1] ?? '';
    const fixedSalt = (script ?? '').replace('c.randomBytes(16)', 'Buffer.from(process.env.SALT, "base64")');
    const r = spawnSync(process.execPath, ['-e', fixedSalt], { encoding: 'utf8', env: { PASSWORD: 'master-pw', SALT: salt } });
    expect(r.stdout.trim()).toBe(ours);
  });
});
