// `npm run test:container`: builds the real Dockerfile here (base bootstrapped locally, see
// test-image.ts) and checks the running image: privileges, secrets, health, drain, refusals.
// One PASS/FAIL line per check, a closing "container: N passed, N failed", exit 1 on any FAIL.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { LOCAL_S3_CREDENTIALS } from '../../demo/local-s3.js';
import { freePort } from '../../tests/helpers/ports.js';
import { s3Client } from '../../tests/helpers/s3.js';
import { AGENT_UID, BUCKET, PREFIX, addSession, agentConfig, startFixtures, type Fixtures } from './fixtures.js';
import { descendants, environ, mountinfo, status, allProcesses } from './host-processes.js';
import { podman, podmanOk, removeContainer, ULIMITS } from './podman.js';
import { buildTestImage, type BuiltImage } from './test-image.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const NAME = `uploader-container-test-${process.pid}`;
let passed = 0;
let failed = 0;

class CheckFailed extends Error {}

function expect(condition: boolean, message: string): asserts condition {
  if (!condition) throw new CheckFailed(message);
}

async function check(name: string, body: () => Promise<string | void> | string | void): Promise<boolean> {
  try {
    const detail = await body();
    passed++;
    console.log(`PASS ${name}${detail ? ` (${detail})` : ''}`);
    return true;
  } catch (err) {
    failed++;
    console.log(`FAIL ${name}: ${(err as Error).message}`);
    return false;
  }
}

async function until<T>(what: string, timeoutMs: number, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new CheckFailed(`${what}: not within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** ECS's stopTimeout for the agent container, as the task definition sets it. */
function stopTimeoutSeconds(): number {
  const m = /stopTimeout\s*=\s*(\d+)/.exec(readFileSync(join(ROOT, 'platform/ecs.tf'), 'utf8'));
  if (!m?.[1]) throw new Error('platform/ecs.tf sets no stopTimeout');
  return Number(m[1]);
}

async function healthcheck(): Promise<'healthy' | 'unhealthy'> {
  const r = await podman(['healthcheck', 'run', NAME], { timeoutMs: 30_000 });
  if (r.status !== 0 && r.status !== 1) throw new CheckFailed(`podman healthcheck run exited ${r.status}: ${r.stderr.trim()}`);
  return r.status === 0 ? 'healthy' : 'unhealthy';
}

async function containerLogs(name = NAME): Promise<string> {
  const r = await podman(['logs', name]);
  return r.stdout + r.stderr;
}

/** A container run to its end: exit status and output. */
async function runToEnd(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ exit: number | null; logs: string }> {
  const name = `${NAME}-once`;
  await removeContainer(name);
  await podman(['run', '--name', name, '--network', 'none', ...ULIMITS, ...args], { env, timeoutMs: 120_000 });
  const exit = Number(await podmanOk(['inspect', '--format', '{{.State.ExitCode}}', name]));
  const logs = await containerLogs(name);
  await removeContainer(name);
  return { exit, logs };
}

/** The agent's JSON log lines among the container's output (the entrypoint's own lines are plain text). */
function logEvents(logs: string): Record<string, unknown>[] {
  return logs.split('\n').flatMap((line) => {
    if (!line.startsWith('{')) return [];
    try {
      return [JSON.parse(line) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

const agentNeverStarted = (logs: string) => !logs.includes('starting uploader-agent') && !logs.includes('"agent_started"');

async function imageChecks(built: BuiltImage, f: Fixtures): Promise<void> {
  await check('the image history holds no secret', async () => {
    const history = await podmanOk(['history', '--no-trunc', '--format', '{{.CreatedBy}}', built.image]);
    for (const secret of [f.tsAuthKey, f.databaseUrl]) expect(!history.includes(secret), 'a secret value is in the history');
    const declared = history.split('\n').filter((l) => /\b(ENV|ARG)\b/.test(l));
    const named = declared.filter((l) => /TS_AUTHKEY|DATABASE_URL|PASSWORD|SECRET|AWS_ACCESS_KEY|AWS_SECRET/i.test(l));
    expect(named.length === 0, `secret-like ENV/ARG in the history: ${named.join(' | ')}`);
    return `${history.split('\n').length} history entries`;
  });
}

async function refusalChecks(built: BuiltImage, f: Fixtures): Promise<void> {
  const config = { ...process.env, AGENT_CONFIG_YAML: agentConfig(f.s3.endpoint) };
  await check('EC2: a malformed NFS_MOUNTS entry exits 2 before the agent starts', async () => {
    const r = await runToEnd(['-e', 'AGENT_CONFIG_YAML', '-e', 'LAUNCH_TYPE=EC2', '-e', 'NFS_MOUNTS=lab-pc:sessions:/mnt/lab', built.image], config);
    expect(r.exit === 2, `exit ${r.exit}: ${r.logs}`);
    expect(r.logs.includes("invalid NFS_MOUNTS entry 'lab-pc:sessions:/mnt/lab'"), r.logs);
    expect(agentNeverStarted(r.logs), `the agent started: ${r.logs}`);
  });
  await check('EC2: a failed NFS mount exits non-zero and the agent never starts', async () => {
    // This machine's kernel has no NFS client, so mount.nfs fails at once; any failure counts the same.
    const r = await runToEnd(
      ['--cap-add', 'SYS_ADMIN', '-e', 'AGENT_CONFIG_YAML', '-e', 'LAUNCH_TYPE=EC2', '-e', 'NFS_MOUNTS=127.0.0.1:/export/lab:/mnt/lab', built.image],
      config,
    );
    expect(r.exit !== 0 && r.exit !== null, `exit ${r.exit}: ${r.logs}`);
    expect(r.logs.includes('mount of 127.0.0.1:/export/lab on /mnt/lab failed; refusing to start'), r.logs);
    expect(agentNeverStarted(r.logs), `the agent started: ${r.logs}`);
    return `exit ${r.exit}`;
  });
  await check('FARGATE: NFS_MOUNTS is refused with exit 2 (no kernel mounts there)', async () => {
    const r = await runToEnd(['-e', 'AGENT_CONFIG_YAML', '-e', 'NFS_MOUNTS=lab-pc:/export:/mnt/lab', built.image], config);
    expect(r.exit === 2 && r.logs.includes('NFS_MOUNTS needs LAUNCH_TYPE=EC2'), `exit ${r.exit}: ${r.logs}`);
    expect(agentNeverStarted(r.logs), `the agent started: ${r.logs}`);
  });
}

async function runningAgentChecks(built: BuiltImage, f: Fixtures): Promise<void> {
  const port = await freePort();
  const env = {
    ...process.env,
    AGENT_CONFIG_YAML: agentConfig(f.s3.endpoint),
    DATABASE_URL: f.databaseUrl,
    TS_AUTHKEY: f.tsAuthKey,
    AWS_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_S3_CREDENTIALS.secretAccessKey,
  };
  await removeContainer(NAME);
  // FARGATE as ECS runs it there: no added capability, no device, no host mount but the lab folder.
  await podmanOk(
    [
      'run',
      '--detach',
      '--name',
      NAME,
      '--network',
      'host',
      ...ULIMITS,
      '--health-interval',
      'disable',
      '--volume',
      `${f.standInBin}:/usr/local/sbin:ro`,
      '--volume',
      `${f.lab}:/srv/lab`,
      ...['AGENT_CONFIG_YAML', 'DATABASE_URL', 'TS_AUTHKEY', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'].flatMap((n) => ['-e', n]),
      '-e',
      `PORT=${port}`,
      built.image,
    ],
    { env },
  );
  const pid1 = Number(await podmanOk(['inspect', '--format', '{{.State.Pid}}', NAME]));
  const agentProcess = () => descendants(pid1).find((p) => p.argv.some((a) => a.endsWith('uploader-agent')) && p.argv.includes('run'));

  const up = await check('FARGATE: the agent starts and the HEALTHCHECK reports healthy on PORT', async () => {
    const result = await until('healthy', 90_000, async () => ((await healthcheck()) === 'healthy' ? 'healthy' : undefined));
    const res = await fetch(`http://127.0.0.1:${port}/health`);
    expect(res.ok, `GET :${port}/health answered ${res.status}`);
    return `${result}; the agent serves /health on PORT=${port}, not the configured 8000`;
  });
  if (!up) console.log(await containerLogs());

  await check('FARGATE: userspace Tailscale with the SOCKS5 proxy, the auth key on stdin, nothing mounted', async () => {
    const tailscaled = descendants(pid1).find((p) => p.argv.some((a) => a.endsWith('tailscaled')));
    expect(tailscaled !== undefined, 'no tailscaled (stand-in) runs');
    const args = tailscaled.argv.join(' ');
    expect(args.includes('--tun=userspace-networking') && args.includes('--socks5-server=127.0.0.1:1055'), args);
    expect((await podmanOk(['exec', NAME, 'cat', '/run/tailscale-up.stdin'])) === f.tsAuthKey, 'tailscale up did not read the auth key on stdin');
    const agent = agentProcess();
    expect(agent !== undefined, 'no agent process');
    const nfs = mountinfo(agent.pid)
      .split('\n')
      .filter((l) => / - nfs4? /.test(l));
    expect(nfs.length === 0, `NFS mounted: ${nfs.join('; ')}`);
    return tailscaled.argv.slice(tailscaled.argv.findIndex((a) => a.endsWith('tailscaled'))).join(' ');
  });

  await check('the agent runs as the non-root user with no capabilities and no new privileges', () => {
    const agent = agentProcess();
    expect(agent !== undefined, 'no agent process');
    const s = status(agent.pid);
    const uid = `${AGENT_UID}\t${AGENT_UID}\t${AGENT_UID}\t${AGENT_UID}`;
    expect(s.Uid === uid && s.Gid === uid, `Uid ${s.Uid} / Gid ${s.Gid}`);
    expect(s.Groups === '', `supplementary groups: ${s.Groups}`);
    for (const cap of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) expect(s[cap] === '0000000000000000', `${cap} ${s[cap]}`);
    expect(s.NoNewPrivs === '1', `NoNewPrivs ${s.NoNewPrivs}`);
    const tini = status(pid1);
    const added = (BigInt(`0x${tini.CapBnd ?? '0'}`) >> 12n) & 1n || (BigInt(`0x${tini.CapBnd ?? '0'}`) >> 21n) & 1n;
    expect(added === 0n, `the container holds NET_ADMIN or SYS_ADMIN: CapBnd ${tini.CapBnd}`);
    return `uid ${AGENT_UID}, CapEff/CapBnd 0, NoNewPrivs 1; container bounding set ${tini.CapBnd}`;
  });

  await check('no secret on any command line or in the agent environment', () => {
    const secrets = [f.tsAuthKey, new URL(f.databaseUrl).password];
    const leaks = allProcesses().filter((p) => secrets.some((s) => p.argv.join(' ').includes(s)));
    expect(leaks.length === 0, `on the command line of: ${leaks.map((p) => `${p.pid} ${p.argv[0]}`).join(', ')}`);
    const agent = agentProcess();
    expect(agent !== undefined, 'no agent process');
    const env = environ(agent.pid);
    expect(env.length > 0, 'cannot read the agent environment');
    const found = env.filter((v) => secrets.some((s) => v.includes(s)) || /^(TS_AUTHKEY|DATABASE_URL|AGENT_CONFIG_YAML|NFS_MOUNTS)=/.test(v));
    expect(found.length === 0, `in the agent environment: ${found.map((v) => v.split('=')[0]).join(', ')}`);
    const inPid1 = environ(pid1)
      .filter((v) => secrets.some((s) => v.includes(s)))
      .map((v) => v.split('=')[0]);
    return `${allProcesses().length} command lines searched; PID 1 (tini) keeps ${inPid1.join(', ') || 'none'} in its start-up environment, as any env-injected secret`;
  });

  await check('the agent in the image uploads a session to the test S3 server', async () => {
    const client = s3Client(f.s3.endpoint, LOCAL_S3_CREDENTIALS);
    try {
      const keys = await until('ct-session-1/_COMPLETE in S3', 60_000, async () => {
        const res = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${PREFIX}/` }));
        const found = (res.Contents ?? []).map((o) => o.Key ?? '');
        return found.includes(`${PREFIX}/ct-session-1/_COMPLETE`) ? found : undefined;
      });
      return keys.join(', ');
    } finally {
      client.destroy();
    }
  });

  await check('the HEALTHCHECK reports unhealthy when PostgreSQL is unreachable, healthy again after', async () => {
    f.db.fault = 'refuse';
    f.db.dropAll();
    await until('unhealthy', 60_000, async () => ((await healthcheck()) === 'unhealthy' ? true : undefined));
    const res = await fetch(`http://127.0.0.1:${port}/health`);
    const body = await res.text();
    expect(res.status === 503 && body.includes('state database'), `${res.status} ${body}`);
    f.db.fault = 'none';
    await until('healthy again', 60_000, async () => ((await healthcheck()) === 'healthy' ? true : undefined));
    return body;
  });

  await check('SIGTERM through tini, mid-upload, drains the agent and exits 0 within the task stopTimeout', async () => {
    const timeout = stopTimeoutSeconds();
    addSession(f.lab, 'ct-session-2', 64 * 1024 * 1024); // 16 s at the configured 4 MB/s
    await until('the upload of ct-session-2 to start', 60_000, async () =>
      logEvents(await containerLogs()).some((e) => e.event === 'upload_started' && e.session_id === 'ct-session-2') ? true : undefined,
    );
    await new Promise((r) => setTimeout(r, 2000));
    const started = Date.now();
    await podmanOk(['stop', '--time', String(timeout), NAME], { timeoutMs: (timeout + 30) * 1000 });
    const seconds = (Date.now() - started) / 1000;
    const exit = Number(await podmanOk(['inspect', '--format', '{{.State.ExitCode}}', NAME]));
    const logs = await containerLogs();
    expect(exit === 0, `exit ${exit}\n${logs.slice(-2000)}`);
    expect(seconds < timeout, `took ${seconds} s, stopTimeout is ${timeout} s`);
    const expected = [
      '"agent_stopping"',
      '"session_interrupted"',
      '"agent_stopped"',
      'agent exited with status 0',
      'tailscale stand-in: --socket=/var/run/tailscale/tailscaled.sock logout',
    ];
    for (const line of expected) expect(logs.includes(line), `no ${line} in the logs`);
    return `upload interrupted, drained and exited in ${seconds.toFixed(1)} s (stopTimeout ${timeout} s)`;
  });
}

async function main(): Promise<void> {
  let built: BuiltImage | undefined;
  await check('the Dockerfile builds from a locally bootstrapped base', async () => {
    built = await buildTestImage(ROOT);
    return `base ${built.base} in ${built.baseSeconds.toFixed(0)} s, image built in ${built.buildSeconds.toFixed(0)} s, size ${(built.sizeBytes / 1e6).toFixed(0)} MB`;
  });
  if (built) {
    const f = await startFixtures();
    try {
      await imageChecks(built, f);
      await refusalChecks(built, f);
      await runningAgentChecks(built, f);
    } finally {
      await removeContainer(NAME);
      await f.close();
    }
  }
  console.log(`container: ${passed} passed, ${failed} failed`);
  process.exitCode = failed > 0 ? 1 : 0;
}

await main();
