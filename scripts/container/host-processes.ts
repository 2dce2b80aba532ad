import { readFileSync, readdirSync } from 'node:fs';

/**
 * Processes as the host's root sees them in /proc: a container's processes are the
 * descendants of its first process (podman's State.Pid), and reading them from the host needs
 * no tool inside the image and no capability inside the container.
 */
export interface HostProcess {
  pid: number;
  ppid: number;
  argv: string[];
}

function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null; // the process exited meanwhile
  }
}

export function allProcesses(): HostProcess[] {
  const out: HostProcess[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = read(`/proc/${name}/stat`);
    const cmdline = read(`/proc/${name}/cmdline`);
    if (stat === null || cmdline === null) continue;
    // The command name in parentheses may itself contain spaces or parentheses.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    out.push({ pid: Number(name), ppid, argv: cmdline.split('\0').filter(Boolean) });
  }
  return out;
}

export function descendants(rootPid: number): HostProcess[] {
  const all = allProcesses();
  const found = all.filter((p) => p.pid === rootPid);
  for (let i = 0; i < found.length; i++) {
    const parent = found[i];
    if (parent) found.push(...all.filter((p) => p.ppid === parent.pid));
  }
  return found;
}

/** The environment a process was started with, as the kernel keeps it. */
export function environ(pid: number): string[] {
  return (read(`/proc/${pid}/environ`) ?? '').split('\0').filter(Boolean);
}

/** /proc/<pid>/status as name → value. */
export function status(pid: number): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of (read(`/proc/${pid}/status`) ?? '').split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 1).trim();
  }
  return fields;
}

export function mountinfo(pid: number): string {
  return read(`/proc/${pid}/mountinfo`) ?? '';
}
