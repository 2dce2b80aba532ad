import { spawn } from 'node:child_process';

/** What this machine's podman needs spelled out: runc (no crun), cgroupfs (no systemd). */
const GLOBAL_FLAGS = ['--runtime', 'runc', '--cgroup-manager=cgroupfs'];
/** Explicit limits: podman's defaults exceed this machine's hard limits and are refused. */
export const ULIMITS = ['--ulimit', 'nofile=16384:16384', '--ulimit', 'nproc=4096:4096'];

export interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs podman without blocking this process, which serves what the container talks to (S3,
 * the database proxy, the CA bundle of a build). `env` is podman's own environment: a
 * container started with `-e NAME` takes NAME's value from it, off podman's command line.
 */
export function podman(args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn('podman', [...GLOBAL_FLAGS, ...args], {
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: options.timeoutMs ?? 120_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-100_000)));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** podman, failing with its stderr unless it exits 0; returns its trimmed stdout. */
export async function podmanOk(args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<string> {
  const r = await podman(args, options);
  if (r.status !== 0) throw new Error(`podman ${args.slice(0, 2).join(' ')} exited ${r.status}: ${r.stderr.trim().slice(-3000)}`);
  return r.stdout.trim();
}

export async function removeContainer(name: string): Promise<void> {
  await podman(['rm', '--force', '--time', '0', name]);
}
