/**
 * Runs the built CLI (dist/app/cli/uploader-agent.cjs) as a real child process, as operators and the
 * container do, and collects what it prints. Build first: `npm run build` (npm test's pretest).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { freePort } from '../helpers/ports.js';

export const CLI = fileURLToPath(new URL('../../dist/app/cli/uploader-agent.cjs', import.meta.url));

if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does it in pretest)`);

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: Buffer;
  out: string;
  err: string;
  ms: number;
}

export type LogLine = Record<string, unknown> & { event?: string; level?: string; msg?: string };

/** Every line of `text` that is a JSON object (pino's log lines). */
export function logLines(text: string): LogLine[] {
  const lines: LogLine[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      lines.push(JSON.parse(line) as LogLine);
    } catch {
      // not a log line
    }
  }
  return lines;
}

export function events(text: string): string[] {
  return logLines(text)
    .map((l) => l.event)
    .filter((e): e is string => typeof e === 'string');
}

const live = new Set<ChildProcess>();

/** Environment for a child: the parent's, minus anything that would point it elsewhere, plus `extra`. */
export function childEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k === 'DATABASE_URL' || k === 'PORT' || k.startsWith('AWS_') || k.startsWith('VITEST') || k === 'NODE_OPTIONS') continue;
    env[k] = v;
  }
  env.AWS_EC2_METADATA_DISABLED = 'true';
  env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** Runs the CLI to completion (killed after `timeoutMs`). */
export function runCli(args: string[], env: NodeJS.ProcessEnv = childEnv(), timeoutMs = 45_000): Promise<CliResult> {
  const started = Date.now();
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => err.push(c));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      const stdout = Buffer.concat(out);
      const stderr = Buffer.concat(err);
      resolve({ code, signal, stdout, stderr, out: stdout.toString('utf8'), err: stderr.toString('utf8'), ms: Date.now() - started });
    });
  });
}

/** A long-running CLI process (`run`): its output so far, a way to wait for a log event, and its exit. */
export class CliProcess {
  readonly child: ChildProcess;
  private outChunks: Buffer[] = [];
  private errChunks: Buffer[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  private waiters = new Set<() => void>();

  constructor(args: string[], env: NodeJS.ProcessEnv) {
    this.child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(this.child);
    this.child.stdout?.on('data', (c: Buffer) => {
      this.outChunks.push(c);
      this.wake();
    });
    this.child.stderr?.on('data', (c: Buffer) => {
      this.errChunks.push(c);
      this.wake();
    });
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        live.delete(this.child);
        resolve({ code, signal, at: Date.now() });
        this.wake();
      });
    });
  }

  get out(): string {
    return Buffer.concat(this.outChunks).toString('utf8');
  }

  get err(): string {
    return Buffer.concat(this.errChunks).toString('utf8');
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  private wake(): void {
    for (const w of this.waiters) w();
  }

  /** Resolves with the first stdout log line with this event; rejects on exit or timeout. */
  waitForEvent(event: string, timeoutMs = 30_000): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const hit = logLines(this.out).find((l) => l.event === event);
        if (hit) return finish(() => resolve(hit));
        if (!this.running)
          return finish(() =>
            reject(new Error(`exited (${this.child.exitCode ?? this.child.signalCode}) before logging ${event}\nstdout:\n${this.out}\nstderr:\n${this.err}`)),
          );
      };
      const timer = setTimeout(
        () => finish(() => reject(new Error(`no ${event} within ${timeoutMs} ms\nstdout:\n${this.out}\nstderr:\n${this.err}`))),
        timeoutMs,
      );
      const finish = (fn: () => void) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        fn();
      };
      this.waiters.add(check);
      check();
    });
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.running) this.child.kill(signal);
  }
}

/** Kills every child still running (for afterEach). */
export async function killAll(): Promise<void> {
  const waits: Promise<unknown>[] = [];
  for (const c of live) {
    if (c.exitCode === null && c.signalCode === null) {
      waits.push(new Promise((r) => c.once('close', r)));
      c.kill('SIGKILL');
    }
  }
  live.clear();
  await Promise.all(waits);
}

export { freePort };

/** A port on loopback where nothing listens (taken and released). */
export const closedPort = freePort;

export interface AgentConfigFile {
  path: string;
  root: string;
  prefix: string;
  manifestDir: string;
  logDir: string;
  stateDir: string;
}

/** Writes the agent's YAML config into `work` (one root at `{work}/sessions`). */
export async function writeAgentConfig(
  work: string,
  opts: { endpoint: string; bucket: string; prefix: string; agent?: Record<string, unknown>; upload?: Record<string, unknown> },
): Promise<AgentConfigFile> {
  const root = join(work, 'sessions');
  const manifestDir = join(work, 'manifests');
  const logDir = join(work, 'logs');
  const stateDir = join(work, 'state');
  await mkdir(root, { recursive: true });
  const config = {
    agent: { machine_id: 'cli-test-pc', lab_id: 'cli-lab', scan_interval_seconds: 1, stable_window_seconds: 0, ...opts.agent },
    watch: { session_roots: [{ path: root, profile: 'battery_session' }] },
    profiles: { battery_session: { required_markers: ['session_summary.json'], ignore_patterns: ['*.tmp'], metadata_files: ['metadata.json'] } },
    upload: {
      s3_bucket: opts.bucket,
      s3_region: 'us-east-1',
      s3_prefix: opts.prefix,
      s3_endpoint: opts.endpoint,
      s3_force_path_style: true,
      max_retries: 3,
      initial_backoff_seconds: 30,
      ...opts.upload,
    },
    storage: { manifest_cache_dir: manifestDir, log_dir: logDir, state_dir: stateDir },
  };
  const path = join(work, 'agent.yaml');
  await writeFile(path, stringify(config));
  return { path, root, prefix: opts.prefix, manifestDir, logDir, stateDir };
}

export async function readText(path: string): Promise<string> {
  return readFile(path, 'utf8');
}

/** Sorted keys, no whitespace: the form the spec takes the manifest hash over. */
export function canonical(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v && typeof v === 'object') {
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, sort((v as Record<string, unknown>)[k])]),
      );
    }
    return v;
  };
  return JSON.stringify(sort(value));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `fn` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor<T>(fn: () => Promise<T>, timeoutMs: number, what: string, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Unique per test: S3 prefixes and folder names, so tests sharing one S3 server never meet. */
let counter = 0;
export function uniqueName(base: string): string {
  counter += 1;
  return `${base}-${process.pid}-${counter}-${Math.random().toString(36).slice(2, 8)}`;
}
