import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { DEFAULT_CONCURRENCY, MAX_CONCURRENCY } from '../config/limits.cjs';

const LIBUV_DEFAULT = 4;

/**
 * How many threads libuv's pool should have for this command line: `upload.concurrency` of the
 * `--config` file (at least libuv's 4), or null to leave it alone (UV_THREADPOOL_SIZE already
 * set). Every file-system call runs in that pool, and on an NFS share each one holds its thread
 * for a round trip to the server: with libuv's 4 threads, 4 calls are in flight whatever
 * `upload.concurrency` says. A file that cannot be read or parsed gives the default; the
 * command reports its problems later.
 */
export function threadPoolSize(argv: readonly string[], env: NodeJS.ProcessEnv, readText: (path: string) => string): number | null {
  if (env.UV_THREADPOOL_SIZE) return null;
  return Math.max(LIBUV_DEFAULT, configuredConcurrency(configPath(argv), readText));
}

function configPath(argv: readonly string[]): string | null {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--config' || a === '-c') return argv[i + 1] ?? null;
    if (a.startsWith('--config=')) return a.slice('--config='.length);
  }
  return null;
}

function configuredConcurrency(path: string | null, readText: (path: string) => string): number {
  if (!path) return DEFAULT_CONCURRENCY;
  try {
    const doc = parse(readText(path)) as { upload?: { concurrency?: unknown } } | null;
    const n = doc?.upload?.concurrency;
    return Number.isInteger(n) && (n as number) >= 1 && (n as number) <= MAX_CONCURRENCY ? (n as number) : DEFAULT_CONCURRENCY;
  } catch {
    return DEFAULT_CONCURRENCY;
  }
}

/** Sets UV_THREADPOOL_SIZE for this process; it must run before the pool's first use (see uploader-agent.cts). */
export function sizeThreadPool(argv: readonly string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): void {
  const size = threadPoolSize(argv, env, (path) => readFileSync(path, 'utf8'));
  if (size !== null) env.UV_THREADPOOL_SIZE = String(size);
}
