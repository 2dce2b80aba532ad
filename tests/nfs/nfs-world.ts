/** A CLI world with NFS: one ganesha and one microsocks per test file, session roots inside ganesha's export. */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll } from 'vitest';
import { Ganesha, Microsocks } from '../helpers/nfs-server.js';
import { uniqueName } from '../cli/harness.js';
import { freePort } from '../helpers/ports.js';

export interface NfsWorld {
  ganesha: Ganesha;
  socks: Microsocks;
}

export function nfsWorld(): NfsWorld {
  const w = {} as NfsWorld;
  beforeAll(async () => {
    [w.ganesha, w.socks] = await Promise.all([Ganesha.start(), Microsocks.start()]);
  });
  afterAll(async () => {
    await Promise.all([w.ganesha?.stop(), w.socks?.stop()]);
  });
  return w;
}

export interface SessionRootDir {
  /** The root as the agent is configured with it (a local path, or nfs://…). */
  root: string;
  /** The same folder on this machine's disk: where the lab PC writes, and where tests look. */
  disk: string;
}

/** A fresh session root: inside ganesha's export (reached as nfs://) or in `work` (a local path). */
export async function sessionRoot(kind: 'local' | 'nfs', work: string, nfs: NfsWorld): Promise<SessionRootDir> {
  if (kind === 'local') {
    const disk = join(work, 'sessions');
    await mkdir(disk, { recursive: true });
    return { root: disk, disk };
  }
  const name = uniqueName('root');
  const disk = join(nfs.ganesha.dir, name);
  await mkdir(disk);
  // Writable by whatever AUTH_SYS user a test gives the agent.
  await chmod(disk, 0o777);
  return { root: `${nfs.ganesha.url}/${name}`, disk };
}

/** The agent's YAML config for one root (or several, local and nfs:// mixed), with `share.nfs` pointing at microsocks (`proxy` to override it). */
export async function writeNfsAgentConfig(
  work: string,
  opts: {
    root: string | string[];
    endpoint: string;
    bucket: string;
    prefix: string;
    proxy?: string | null;
    share?: Record<string, unknown>;
    agent?: Record<string, unknown>;
    upload?: Record<string, unknown>;
  },
): Promise<string> {
  const config = {
    // Its own /health port: `run` agents of other test files may be up at the same time.
    agent: { machine_id: 'nfs-test-pc', lab_id: 'nfs-lab', scan_interval_seconds: 1, stable_window_seconds: 0, health_port: await freePort(), ...opts.agent },
    watch: { session_roots: [opts.root].flat().map((path) => ({ path, profile: 'battery_session' })) },
    profiles: { battery_session: { required_markers: ['session_summary.json'], ignore_patterns: ['*.tmp'], metadata_files: ['metadata.json'] } },
    upload: {
      s3_bucket: opts.bucket,
      s3_region: 'us-east-1',
      s3_prefix: opts.prefix,
      s3_endpoint: opts.endpoint,
      s3_force_path_style: true,
      max_retries: 5,
      initial_backoff_seconds: 1,
      part_size_mb: 5,
      ...opts.upload,
    },
    storage: { manifest_cache_dir: join(work, 'manifests'), log_dir: join(work, 'logs'), state_dir: join(work, 'state') },
    share: { nfs: { ...(opts.proxy ? { proxy: opts.proxy } : {}), timeout_seconds: 10, retry_seconds: 60, ...opts.share } },
  };
  const path = join(work, 'agent.yaml');
  await writeFile(path, stringify(config));
  return path;
}
