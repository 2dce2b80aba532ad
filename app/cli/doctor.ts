import { readFile } from 'node:fs/promises';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { loadConfig, ConfigError, formatProblem } from '../config/load.js';
import type { AgentConfig } from '../config/schema.js';
import { classifyError, redactSecrets } from '../errors.js';
import { silentLogger } from '../logging/logger.js';
import { objectKey } from '../pipeline/s3-keys.js';
import { parseMounts, type Mount } from '../share/nfs-window.js';
import { openShare } from '../share/open-share.js';
import { processedFolderProblem } from '../share/processed-folder.js';
import type { Share } from '../share/share.js';
import { createS3Client } from '../s3/client.js';
import type { Db } from '../state/db.js';
import { loadMigrations } from '../state/migrate.js';
import { SKEW_WARNING_SECONDS, describeSkew } from '../state/clock-skew.js';
import { DatabaseTime } from '../state/database-time.js';
import { CliExit } from './exit-codes.js';
import { openStateDb, stateDir } from './runtime.js';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  hint?: string;
}

const MAX_SKEW_SECONDS = 60;

const DB_NAMES: Record<Db['kind'], string> = {
  postgres: 'PostgreSQL (DATABASE_URL)',
  pglite: 'embedded PGlite',
  'pglite-served': 'embedded PGlite, served by the running agent,',
};

/** Every check an operator would otherwise do by hand before the first real bytes. */
export async function runDoctor(configFile: string, env: NodeJS.ProcessEnv): Promise<Check[]> {
  const checks: Check[] = [];
  let config: AgentConfig;
  try {
    config = await loadConfig(configFile);
    checks.push({ name: 'config', ok: true, detail: `${configFile} is valid` });
  } catch (err) {
    const detail = err instanceof ConfigError ? err.problems.map(formatProblem).join('\n').trim() : (err as Error).message;
    checks.push({ name: 'config', ok: false, detail, hint: 'run validate-config for the full list; see config.example.yaml' });
    return checks;
  }
  checks.push(...(await rootChecks(config, env)));
  checks.push(...(await databaseChecks(config, env)));
  const s3 = createS3Client(config.upload, env);
  try {
    checks.push(...(await s3Checks(s3, config)));
  } finally {
    s3.destroy();
  }
  return checks;
}

async function rootChecks(config: AgentConfig, env: NodeJS.ProcessEnv): Promise<Check[]> {
  const checks: Check[] = [];
  const mounts = parseMounts(await readFile('/proc/mounts', 'utf8').catch(() => ''));
  const expectedMounts = (env.NFS_MOUNTS ?? '')
    .split(',')
    .map((m) => m.trim().split(':').at(-1) ?? '')
    .filter(Boolean);
  for (const root of config.watch.session_roots) {
    // No retrying through reconnects: doctor reports whether the server answers now, with its own error.
    const share = openShare([root], { ...config.share.nfs, retry_seconds: 0 });
    try {
      checks.push(await rootCheck(config, root.path, share, mounts, expectedMounts));
    } finally {
      await share.close();
    }
  }
  return checks;
}

/** One root: listed, writable when sessions are moved, processed/ a real folder, mounted where NFS_MOUNTS says. */
async function rootCheck(config: AgentConfig, rootPath: string, share: Share, mounts: Mount[], expectedMounts: string[]): Promise<Check> {
  const name = `root ${rootPath}`;
  // A one-shot command: Ctrl-C ends the process, nothing needs to be aborted.
  const signal = new AbortController().signal;
  try {
    await share.list(rootPath, signal);
  } catch (err) {
    const code = (err as { code?: string }).code ?? classifyError(err).code;
    const message = redactSecrets((err as Error).message);
    // A system call's message starts with its code and says no more; an NFS client's says where it failed.
    return {
      name,
      ok: false,
      detail: `cannot list it (${code})${message.startsWith(code) ? '' : `: ${message}`}`,
      hint: 'is the share mounted (or the nfs:// server reachable, through share.nfs.proxy when set)? are permissions right for the agent user?',
    };
  }
  if (config.agent.move_after_upload) {
    if (!(await share.canWrite(rootPath, signal))) {
      return {
        name,
        ok: false,
        detail: 'not writable, so sessions cannot be moved to processed/',
        hint: 'mount or export the share read-write, or set agent.move_after_upload: false',
      };
    }
    const problem = await processedFolderProblem(share, rootPath, signal).catch((err: Error) => `cannot look at processed/: ${err.message}`);
    if (problem) return { name, ok: false, detail: problem, hint: 'uploaded sessions stay in the root (status uploaded) until processed/ is a real folder' };
  }
  const expected = expectedMounts.find((m) => rootPath === m || rootPath.startsWith(`${m.replace(/\/+$/, '')}/`));
  if (expected && !mounts.some((m) => m.mountPoint === expected.replace(/\/+$/, ''))) {
    return {
      name,
      ok: false,
      detail: `NFS_MOUNTS says ${expected} is a mount point, but nothing is mounted there`,
      hint: 'the mount failed or was lost: check the entrypoint log and the lab PC',
    };
  }
  return { name, ok: true, detail: `readable${config.agent.move_after_upload ? ' and writable' : ''}${expected ? `, mounted at ${expected}` : ''}` };
}

async function databaseChecks(config: AgentConfig, env: NodeJS.ProcessEnv): Promise<Check[]> {
  let db: Db | undefined;
  try {
    db = await openStateDb(config, env, silentLogger(), { migrate: true, shareWithRunningAgent: true });
    const applied = await db.query<{ id: number }>('SELECT id FROM uploader_migrations');
    const known = (await loadMigrations()).map((m) => m.id);
    const missing = known.filter((id) => !applied.rows.some((r) => Number(r.id) === id));
    if (missing.length > 0) return [{ name: 'state database', ok: false, detail: `migrations missing: ${missing.join(', ')}` }];
    const skew = await new DatabaseTime(db).align();
    return [
      { name: 'state database', ok: true, detail: `${DB_NAMES[db.kind]} answers; migrations ${known.join(', ')} applied` },
      {
        name: 'clock skew against the state database',
        ok: Math.abs(skew) <= SKEW_WARNING_SECONDS,
        detail: `this host is ${describeSkew(skew, 1)} the database (at most ${SKEW_WARNING_SECONDS} s)`,
        hint: "the agent keeps leases and windows on the database's time, but its logs and S3 request signatures use this host's clock; sync it (chrony/NTP)",
      },
    ];
  } catch (err) {
    const hint =
      err instanceof CliExit && err.code === 'DATABASE_URL_INVALID'
        ? 'set DATABASE_URL to postgres://USER@HOST:5432/DATABASE (the password in PGPASSWORD or the URL), or unset it for the embedded database'
        : err instanceof CliExit && err.code === 'STATE_DIR_LOCKED'
          ? 'another uploader-agent process (scan-once, or a run that cannot serve its database) has it open: run doctor again when it has finished, or give this one a DATABASE_URL'
          : env.DATABASE_URL
            ? 'check DATABASE_URL, the network path and the security group'
            : `check that storage.state_dir (${stateDir(config)}) is writable by this user`;
    return [{ name: 'state database', ok: false, detail: redactSecrets((err as Error).message), hint }];
  } finally {
    await db?.close().catch(() => undefined);
  }
}

async function s3Checks(s3: S3Client, config: AgentConfig): Promise<Check[]> {
  const bucket = config.upload.s3_bucket;
  const key = objectKey(config.upload.s3_prefix, '_uploader_doctor', 'probe.txt');
  const body = `uploader-agent doctor probe ${new Date().toISOString()}\n`;
  const name = `S3 s3://${bucket}/${key}`;
  try {
    const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.from(body) }), { abortSignal: AbortSignal.timeout(30_000) });
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: AbortSignal.timeout(30_000) });
    const text = await got.Body?.transformToString();
    if (text !== body)
      return [
        {
          name,
          ok: false,
          detail: `wrote ${body.length} bytes, read back ${text?.length ?? 0} different bytes`,
          hint: 'the server mangles bodies; check upload.s3_endpoint',
        },
      ];
    const serverDate = got.LastModified ?? null;
    const removed = await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: AbortSignal.timeout(30_000) }).then(
      () => 'and removed',
      (err: unknown) => `but not removed (${redactSecrets(classifyError(err).message)}): delete it by hand, or allow s3:DeleteObject under the prefix`,
    );
    const checks: Check[] = [{ name, ok: true, detail: `probe written, read back ${removed} (ETag ${put.ETag ?? '?'})` }];
    if (serverDate) {
      const skew = Math.abs(Date.now() - serverDate.getTime()) / 1000;
      checks.push({
        name: 'clock skew',
        ok: skew <= MAX_SKEW_SECONDS,
        detail: `${skew.toFixed(0)} s between this host and S3`,
        ...(skew > MAX_SKEW_SECONDS ? { hint: 'S3 rejects requests signed more than 15 minutes off; sync the clock (chrony/NTP)' } : {}),
      });
    }
    return checks;
  } catch (err) {
    const e = classifyError(err);
    return [
      {
        name,
        ok: false,
        detail: redactSecrets(e.message),
        hint: 'check credentials (task role), the bucket name and region, s3_endpoint, and that the role may put and get under the prefix',
      },
    ];
  }
}

export function formatChecks(checks: Check[]): string {
  return `${checks
    .map((c) => `${c.ok ? 'PASS' : 'FAIL'}  ${c.name}: ${c.detail.replace(/\n/g, '\n      ')}${c.hint && !c.ok ? `\n      hint: ${c.hint}` : ''}`)
    .join('\n')}\n`;
}
