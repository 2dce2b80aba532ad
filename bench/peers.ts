/**
 * The agent's peers: `rclone copy` with its defaults, the same with `--transfers 16
 * --checkers 16` (what rclone users set for many small files or a long link), and
 * `aws s3 cp --recursive` with its defaults. Each copies the session folder to the endpoint
 * under the same measuring wrapper as the agent.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { measure, type Measured } from './measure.js';
import type { PeerTool } from './ratios.js';

export const CREDS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };

const PEERS: Record<PeerTool, { binary: string; install: string }> = {
  rclone: { binary: 'rclone', install: 'apt-get install -y rclone' },
  rclone16: { binary: 'rclone', install: 'apt-get install -y rclone' },
  aws: { binary: 'aws', install: 'pip install awscli' },
};

export function isPeer(tool: string): tool is PeerTool {
  return tool in PEERS;
}

export interface MissingPeer {
  tool: PeerTool;
  binary: string;
  install: string;
}

/** Each peer's executable, or why it is missing. */
export function findPeers(tools: PeerTool[]): { bins: Partial<Record<PeerTool, string>>; missing: MissingPeer[] } {
  const bins: Partial<Record<PeerTool, string>> = {};
  const missing: MissingPeer[] = [];
  for (const tool of tools) {
    const bin = which(PEERS[tool].binary);
    if (bin) bins[tool] = bin;
    else missing.push({ tool, ...PEERS[tool] });
  }
  return { bins, missing };
}

function which(cmd: string): string | null {
  try {
    const path = execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim();
    if (!path) return null;
    // A pyenv shim costs a bash and a pyenv start per call: run the real script.
    if (path.includes('/.pyenv/shims/')) return execFileSync('pyenv', ['which', cmd], { encoding: 'utf8' }).trim() || path;
    return path;
  } catch {
    return null;
  }
}

export function peerVersions(bins: Partial<Record<PeerTool, string>>): Record<string, string> {
  const versions: Record<string, string> = {};
  const rclone = bins.rclone ?? bins.rclone16;
  if (rclone) versions.rclone = toolVersion([rclone, 'version']);
  if (bins.aws) versions.aws = toolVersion([bins.aws, '--version']);
  return versions;
}

function toolVersion(argv: string[]): string {
  try {
    return (
      execFileSync(argv[0] as string, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
        .split('\n')[0]
        ?.trim() ?? ''
    );
  } catch {
    return 'unknown';
  }
}

/** The environment for every tool: loopback HTTP endpoints need no CA bundle (rclone refuses AWS_CA_BUNDLE on plain HTTP). */
export function baseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...CREDS };
  for (const k of ['AWS_CA_BUNDLE', 'NODE_EXTRA_CA_CERTS', 'AWS_PROFILE', 'AWS_SESSION_TOKEN']) delete env[k];
  return env;
}

export async function runPeer(
  tool: PeerTool,
  bin: string,
  work: string,
  sessionDir: string,
  endpoint: string,
  bucket: string,
  prefix: string,
): Promise<Measured> {
  const env: NodeJS.ProcessEnv = { ...baseEnv(), AWS_DEFAULT_REGION: 'us-east-1', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' };
  let argv: string[];
  if (tool === 'aws') {
    argv = [bin, 's3', 'cp', '--recursive', '--only-show-errors', '--endpoint-url', endpoint, sessionDir, `s3://${bucket}/${prefix}/`];
  } else {
    Object.assign(env, {
      RCLONE_CONFIG_BENCH_TYPE: 's3',
      RCLONE_CONFIG_BENCH_PROVIDER: 'Other',
      RCLONE_CONFIG_BENCH_ENDPOINT: endpoint,
      RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: CREDS.AWS_ACCESS_KEY_ID,
      RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: CREDS.AWS_SECRET_ACCESS_KEY,
      RCLONE_CONFIG_BENCH_REGION: 'us-east-1',
      RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE: 'true',
    });
    const conf = join(work, 'rclone.conf');
    if (!existsSync(conf)) await writeFile(conf, '');
    const tuning = tool === 'rclone16' ? ['--transfers', '16', '--checkers', '16'] : [];
    argv = [bin, 'copy', '--config', conf, ...tuning, sessionDir, `bench:${bucket}/${prefix}`];
  }
  const m = await measure(work, argv, env);
  if (m.code !== 0) throw new Error(`${tool} failed (${m.code}): ${m.stderr.slice(-2000)}`);
  return m;
}
