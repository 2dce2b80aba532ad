import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { spawn } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEMO_BUCKET, DEMO_S3_PORT, LOCAL_S3_CREDENTIALS, startLocalS3, type LocalS3 } from './local-s3.js';
import { writeSampleShare } from './sample-share.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = join(repo, 'dist', 'app', 'cli', 'uploader-agent.cjs');
const work = join(repo, '.demo');
const bucket = DEMO_BUCKET;

async function main(): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  await rm(work, { recursive: true, force: true });
  const root = join(work, 'share', 'lab1', 'sessions');
  await mkdir(root, { recursive: true });
  await writeSampleShare(root);
  const s3 = await startDemoS3();
  const configFile = join(work, 'config.yaml');
  await writeFile(
    configFile,
    `agent: {machine_id: demo-pc, lab_id: demo-lab, scan_interval_seconds: 1, stable_window_seconds: 0}
watch:
  session_roots: [{path: ${root}, profile: battery_session}]
profiles:
  battery_session: {required_markers: [session_summary.json], ignore_patterns: ["*.tmp", "*.lock"], metadata_files: [metadata.json]}
upload: {s3_bucket: ${bucket}, s3_region: us-east-1, s3_prefix: "raw/", s3_endpoint: "${s3.endpoint}", s3_force_path_style: true, part_size_mb: 5}
storage: {manifest_cache_dir: ${join(work, 'state', 'manifests')}, log_dir: ${join(work, 'logs')}}
`,
  );
  // The demo always uses the embedded database, whatever the shell exports.
  const { DATABASE_URL: _ignored, ...inherited } = process.env;
  const env = { ...inherited, AWS_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: LOCAL_S3_CREDENTIALS.secretAccessKey };
  console.log(
    `sample lab share: ${root}\nlocal S3 (s3rver): ${s3.endpoint}, bucket ${bucket}\nstate: embedded PostgreSQL (PGlite) in ${join(work, 'state')}\n`,
  );
  try {
    // The first cycle sees each folder once; the second sees it unchanged (stable_window_seconds: 0) and uploads.
    for (const pass of [1, 2]) {
      console.log(`── uploader-agent scan-once (pass ${pass}) ──`);
      const { code, stdout } = await run(['scan-once', '--config', configFile], env);
      for (const line of stdout.split('\n').filter(Boolean)) {
        const e = JSON.parse(line) as Record<string, unknown>;
        if (e.event === 'upload_file_succeeded') continue;
        console.log(`  ${String(e.event).padEnd(28)} ${String(e.session_id ?? e.folder ?? '').padEnd(60)} ${e.reason ?? (e.to ? `→ ${String(e.to)}` : '')}`);
      }
      console.log(`  exit code ${code}\n`);
    }
    const client = new S3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, credentials: LOCAL_S3_CREDENTIALS });
    const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
    console.log(`── what landed in s3://${bucket} ──`);
    for (const o of listed.Contents ?? []) console.log(`  ${String(o.Size).padStart(10)}  ${o.Key}`);
    const manifest = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'raw/BAT-2026-11-001/manifest.json' }));
    console.log('\n── raw/BAT-2026-11-001/manifest.json ──');
    console.log(await manifest.Body?.transformToString());
    client.destroy();
    console.log('── uploader-agent status ──');
    process.stdout.write((await run(['status', '--config', configFile], env)).stdout);
    console.log(`\nThe folders that landed were moved to ${join(root, 'processed')}; battery-2026-11-003 has no session_summary.json yet, so it waits.`);
    console.log(`The demo's configuration is ${configFile}; README.md, "Your own folder", points it at a folder of yours.`);
  } catch (err) {
    await s3.close();
    throw err;
  }
  await keepServing(s3);
}

/** On the port a config can keep pointing at (another one if that is taken), objects kept in .demo/s3. */
async function startDemoS3(): Promise<LocalS3> {
  const directory = join(work, 's3');
  try {
    return await startLocalS3([bucket], undefined, { port: DEMO_S3_PORT, directory });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    console.log(`(port ${DEMO_S3_PORT} is taken, perhaps by \`npm run local-s3\`: this demo's server gets another one)`);
    return startLocalS3([bucket], undefined, { port: 0, directory });
  }
}

/** A person at a terminal keeps the server to look around (aws s3 ls, the agent's own commands); a script gets its exit. */
async function keepServing(s3: LocalS3): Promise<void> {
  const again = `\`npm run local-s3\` starts it again on port ${DEMO_S3_PORT} with the same objects.`;
  if (!process.stdout.isTTY) {
    await s3.close();
    console.log(`\nThe local S3 server has stopped; ${again}`);
    return;
  }
  console.log(
    `\nThe local S3 server stays up at ${s3.endpoint} (credentials ${LOCAL_S3_CREDENTIALS.accessKeyId} / ${LOCAL_S3_CREDENTIALS.secretAccessKey}); Ctrl-C stops it, and ${again}`,
  );
  await new Promise<void>((resolvePromise) => process.once('SIGINT', () => resolvePromise()));
  await s3.close();
}

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code: code ?? 1, stdout }));
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
