import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './ports.js';

/**
 * Real NFS for tests: nfs-ganesha (a user-space NFSv4 server, Debian packages nfs-ganesha and
 * nfs-ganesha-vfs) serving a temporary folder, and microsocks standing in for tailscaled's
 * SOCKS5 proxy. Ganesha must run as root (it serves files of every owner); .ci/run installs
 * both. Missing tools fail the tests that need them, loudly.
 */
export function assertNfsToolsPresent(): void {
  const missing = ['ganesha.nfsd', 'microsocks', 'nfs-cat'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
  if (missing.length > 0)
    throw new Error(`NFS tests need ${missing.join(', ')} (apt-get install nfs-ganesha nfs-ganesha-vfs microsocks libnfs-utils; .ci/run does)`);
  if (process.getuid?.() !== 0) throw new Error('NFS tests start nfs-ganesha, which must run as root');
}

async function waitForPort(port: number, timeoutMs: number, exited: () => string | null): Promise<void> {
  const giveUpAt = Date.now() + timeoutMs;
  for (;;) {
    const failure = exited();
    if (failure) throw new Error(failure);
    const open = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > giveUpAt) throw new Error(`nothing listened on port ${port} within ${timeoutMs} ms`);
    await sleep(100);
  }
}

export interface GaneshaOptions {
  /** Grace period after a restart, in seconds; unset: none (Graceless). */
  graceSeconds?: number;
  /** Lease of a client that stays silent, in seconds; unset: ganesha's default (60). */
  leaseSeconds?: number;
  /** Export this existing folder (kept at stop) instead of a new empty one. */
  exportDir?: string;
}

export class Ganesha {
  private child: ChildProcess | null = null;
  private exitNote: string | null = null;

  private constructor(
    readonly base: string,
    readonly dir: string,
    readonly port: number,
  ) {}

  /** A server exporting a new empty folder (`dir`) as /export on a free port. */
  static async start(options: GaneshaOptions = {}): Promise<Ganesha> {
    assertNfsToolsPresent();
    const base = await mkdtemp(join(tmpdir(), 'nfs-ganesha-'));
    const dir = options.exportDir ?? join(base, 'export');
    if (!options.exportDir) await mkdir(dir);
    await mkdir(join(base, 'recovery'));
    const port = await freePort();
    const grace = options.graceSeconds === undefined ? 'Graceless = true;' : `Graceless = false; Grace_Period = ${options.graceSeconds};`;
    const lease = options.leaseSeconds === undefined ? '' : `Lease_Lifetime = ${options.leaseSeconds};`;
    await writeFile(
      join(base, 'ganesha.conf'),
      `NFS_CORE_PARAM { Protocols = 4; NFS_Port = ${port}; Enable_NLM = false; Enable_RQUOTA = false; Enable_UDP = false; }
NFSV4 { ${grace} ${lease} RecoveryRoot = ${join(base, 'recovery')}; }
NFS_KRB5 { Active_krb5 = false; }
EXPORT { Export_Id = 1; Path = ${dir}; Pseudo = /export; Access_Type = RW; Squash = No_Root_Squash; Protocols = 4; Transports = TCP; SecType = sys; Attr_Expiration_Time = 0; FSAL { Name = VFS; } }
`,
    );
    const server = new Ganesha(base, dir, port);
    await server.resume();
    return server;
  }

  get url(): string {
    return `nfs://127.0.0.1:${this.port}/export`;
  }

  /** (Re)starts the server on the same port and folder, and waits until it takes connections. */
  async resume(): Promise<void> {
    if (this.child) throw new Error('ganesha is already running');
    this.exitNote = null;
    const startsBefore = this.startCount(await this.log());
    const child = spawn(
      'ganesha.nfsd',
      ['-F', '-f', join(this.base, 'ganesha.conf'), '-L', join(this.base, 'ganesha.log'), '-p', join(this.base, 'ganesha.pid')],
      { stdio: 'ignore' },
    );
    this.child = child;
    child.on('exit', (code, signal) => {
      this.exitNote = `ganesha exited (${signal ?? code}); log: ${join(this.base, 'ganesha.log')}`;
      if (this.child === child) this.child = null;
    });
    await waitForPort(this.port, 30_000, () => (this.child === child ? null : this.exitNote));
    // The port opens before the exports are loaded.
    for (let i = 0; this.startCount(await this.log()) <= startsBefore; i++) {
      if (this.child !== child) throw new Error(this.exitNote ?? 'ganesha exited');
      if (i > 300) throw new Error(`ganesha did not finish starting; log: ${join(this.base, 'ganesha.log')}`);
      await sleep(100);
    }
  }

  private startCount(log: string): number {
    return log.split('NFS SERVER INITIALIZED').length - 1;
  }

  /** SIGKILL: what a crash or power loss looks like to clients. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /** The server stops answering but keeps its connections open; resolves once every thread has stopped. */
  async freeze(): Promise<void> {
    const pid = this.child?.pid;
    if (pid === undefined) throw new Error('ganesha is not running');
    process.kill(pid, 'SIGSTOP');
    const threadStates = async () => {
      const tasks = await readdir(`/proc/${pid}/task`);
      return Promise.all(tasks.map(async (t) => /\)\s+([A-Za-z])\s/.exec(await readFile(`/proc/${pid}/task/${t}/stat`, 'utf8').catch(() => ' T '))?.[1]));
    };
    for (let i = 0; !(await threadStates()).every((state) => state === 'T' || state === 't'); i++) {
      if (i > 200) throw new Error(`ganesha (pid ${pid}) did not stop`);
      await sleep(50);
    }
  }

  thaw(): void {
    this.child?.kill('SIGCONT');
  }

  async log(): Promise<string> {
    return readFile(join(this.base, 'ganesha.log'), 'utf8').catch(() => '');
  }

  async stop(): Promise<void> {
    this.thaw();
    await this.kill();
    // The export folder is inside base unless the caller brought its own.
    await rm(this.base, { recursive: true, force: true });
  }
}

/** microsocks on a free loopback port: the SOCKS5 proxy tailscaled offers in userspace-networking mode. */
export class Microsocks {
  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {}

  static async start(): Promise<Microsocks> {
    assertNfsToolsPresent();
    const port = await freePort();
    const child = spawn('microsocks', ['-i', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
    let note: string | null = null;
    child.on('exit', (code, signal) => (note = `microsocks exited (${signal ?? code})`));
    await waitForPort(port, 10_000, () => note);
    return new Microsocks(child, port);
  }

  get url(): string {
    return `socks5://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }
}
