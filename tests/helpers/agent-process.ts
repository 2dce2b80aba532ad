import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI = join(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..'), 'dist', 'app', 'cli', 'uploader-agent.cjs');

export interface AgentProcess {
  child: ChildProcess;
  logs: Record<string, unknown>[];
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitForEvent(event: string, timeoutMs?: number): Promise<Record<string, unknown>>;
}

/** Runs the built CLI as a child process and parses its JSON log lines from stdout. */
export function startAgent(args: string[], env: NodeJS.ProcessEnv): AgentProcess {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: Record<string, unknown>[] = [];
  const waiters: { event: string; resolve: (l: Record<string, unknown>) => void }[] = [];
  let buffered = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => {
    buffered += d.toString();
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        logs.push(parsed);
        for (const w of waiters.filter((w) => w.event === parsed.event)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(parsed);
        }
      } catch {
        // not a log line
      }
    }
  });
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on('exit', (code, signal) => res({ code, signal })));
  return {
    child,
    logs,
    stderr: () => err,
    exited,
    waitForEvent(event, timeoutMs = 20_000) {
      const seen = logs.find((l) => l.event === event);
      if (seen) return Promise.resolve(seen);
      return new Promise((res, rej) => {
        const timer = setTimeout(() => rej(new Error(`no ${event} within ${timeoutMs} ms; stderr: ${err.slice(-2000)}`)), timeoutMs);
        waiters.push({ event, resolve: (l) => (clearTimeout(timer), res(l)) });
        void exited.then(() => {
          clearTimeout(timer);
          rej(new Error(`agent exited before ${event}; stderr: ${err.slice(-2000)}`));
        });
      });
    },
  };
}

export async function runAgent(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; logs: Record<string, unknown>[]; stderr: string }> {
  const agent = startAgent(args, env);
  const { code } = await agent.exited;
  return { code, logs: agent.logs, stderr: agent.stderr() };
}
