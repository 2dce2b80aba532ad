import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { DEFAULT_CONCURRENCY, DEFAULT_PARALLEL_SESSIONS, MAX_CONCURRENCY, MAX_PARALLEL_SESSIONS } from '../config/limits.cjs';

const LIBUV_DEFAULT = 4;
/** 64 share calls in flight cover any NFS round trip the uploads can use; more threads only add wake-ups (upload.concurrency counts S3 requests, most of them small). */
const MOST_THREADS = 64;

/**
 * How many threads libuv's pool should have for this command line: `upload.concurrency` ×
 * `upload.parallel_sessions` of the `--config` file (at least libuv's 4, at most 64), or null to leave it
 * alone (UV_THREADPOOL_SIZE already set). Every file-system call runs in that pool, and on an
 * NFS share each one holds its thread for a round trip to the server: with libuv's 4 threads,
 * 4 calls are in flight whatever the configuration says. A file that cannot be read or parsed
 * gives the defaults; the command reports its problems later.
 */
export function threadPoolSize(argv: readonly string[], env: NodeJS.ProcessEnv, readText: (path: string) => string): number | null {
  if (env.UV_THREADPOOL_SIZE) return null;
  const upload = configuredUpload(configPath(argv), readText);
  const concurrency = setting(upload.concurrency, MAX_CONCURRENCY, DEFAULT_CONCURRENCY);
  const sessions = setting(upload.parallel_sessions, MAX_PARALLEL_SESSIONS, DEFAULT_PARALLEL_SESSIONS);
  return Math.min(MOST_THREADS, Math.max(LIBUV_DEFAULT, concurrency * sessions));
}

function configPath(argv: readonly string[]): string | null {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--config' || a === '-c') return argv[i + 1] ?? null;
    if (a.startsWith('--config=')) return a.slice('--config='.length);
  }
  return null;
}

function configuredUpload(path: string | null, readText: (path: string) => string): Record<string, unknown> {
  if (!path) return {};
  try {
    const doc = parse(readText(path)) as { upload?: unknown } | null;
    return doc?.upload !== null && typeof doc?.upload === 'object' ? (doc.upload as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** The configured value when it is one the configuration accepts, else the default. */
function setting(value: unknown, max: number, fallback: number): number {
  return Number.isInteger(value) && (value as number) >= 1 && (value as number) <= max ? (value as number) : fallback;
}

/** Sets UV_THREADPOOL_SIZE for this process; it must run before the pool's first use (see uploader-agent.cts). */
export function sizeThreadPool(argv: readonly string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): void {
  const size = threadPoolSize(argv, env, (path) => readFileSync(path, 'utf8'));
  if (size !== null) env.UV_THREADPOOL_SIZE = String(size);
}
