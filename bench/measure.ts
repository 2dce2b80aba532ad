import { spawn } from 'node:child_process';
import { open, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface Measured {
  code: number | null;
  wallSeconds: number;
  cpuSeconds: number;
  userSeconds: number;
  sysSeconds: number;
  /** Peak RSS of the largest process in the tree (getrusage RUSAGE_CHILDREN ru_maxrss). */
  peakRssMb: number;
  /** Bytes the process tree read through read(2)-like calls (/proc/<pid>/io rchar). */
  rchar: number;
  stdout: string;
  stderr: string;
}

/**
 * The measuring wrapper: a few lines of Python that run the command, wait for it, then read
 * getrusage(RUSAGE_CHILDREN) (user, sys, max RSS of the largest descendant) and their own
 * /proc/self/io, to which the kernel adds every reaped descendant's I/O. The wrapper's own
 * reads before the child started are subtracted. The same wrapper measures every tool, so
 * the agent and its peers are measured the same way (whole process tree, startup included).
 */
const WRAPPER = String.raw`
import json, resource, subprocess, sys, time
def io():
    with open('/proc/self/io') as f:
        return {k: int(v) for k, v in (l.split(':') for l in f)}
before = io()
t = time.monotonic()
p = subprocess.run(sys.argv[2:])
wall = time.monotonic() - t
after = io()
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], 'w') as f:
    json.dump({'code': p.returncode, 'wall': wall, 'user': ru.ru_utime, 'sys': ru.ru_stime, 'maxrss_kb': ru.ru_maxrss,
               'rchar': after['rchar'] - before['rchar'], 'read_bytes': after['read_bytes'] - before['read_bytes']}, f)
`;

let wrapperPath: string | undefined;

export async function measure(workDir: string, argv: string[], env: NodeJS.ProcessEnv, python = 'python3'): Promise<Measured> {
  if (!wrapperPath) {
    wrapperPath = join(workDir, 'measure.py');
    await writeFile(wrapperPath, WRAPPER);
  }
  const out = join(workDir, `measure-${process.pid}-${Date.now()}.json`);
  // stdout goes to a file, as a log collector would take it: a pipe read by this process
  // (busy serving the in-process endpoint) would block every tool's writes on our event loop.
  const stdoutPath = `${out}.stdout`;
  const stdoutFile = await open(stdoutPath, 'w');
  const child = spawn(python, [wrapperPath, out, ...argv], { env, stdio: ['ignore', stdoutFile.fd, 'pipe'] });
  const stderr: Buffer[] = [];
  child.stderr?.on('data', (c: Buffer) => stderr.push(c));
  try {
    await new Promise<void>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', () => resolve());
    });
  } finally {
    await stdoutFile.close();
  }
  const stdout = await readFile(stdoutPath, 'utf8');
  await rm(stdoutPath);
  const m = JSON.parse(await readFile(out, 'utf8')) as { code: number; wall: number; user: number; sys: number; maxrss_kb: number; rchar: number };
  return {
    code: m.code,
    wallSeconds: m.wall,
    cpuSeconds: m.user + m.sys,
    userSeconds: m.user,
    sysSeconds: m.sys,
    peakRssMb: m.maxrss_kb / 1024,
    rchar: m.rchar,
    stdout,
    stderr: Buffer.concat(stderr).toString('utf8'),
  };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** The Node flags the agent's launcher line gives (`#!/usr/bin/env -S node FLAGS`): the agent is measured as it is run. */
export async function nodeFlagsOf(main: string): Promise<string[]> {
  const first = (await readFile(main, 'utf8')).split('\n', 1)[0] ?? '';
  const m = /^#!\/usr\/bin\/env -S node\b(.*)$/.exec(first);
  return m?.[1]?.trim().split(/\s+/).filter(Boolean) ?? [];
}
