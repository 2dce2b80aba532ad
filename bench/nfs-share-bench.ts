/**
 * The agent's read path over NFS against the read floor: files read through the share layer
 * as the upload reads them, from local disk, nfs:// (nfs-ganesha on loopback) and nfs://
 * through microsocks, beside libnfs's nfs-cat to /dev/null (the floor, large files only).
 * A large file is read as a multipart upload reads it: 8 MiB parts into shared buffers (the
 * upload's BufferBudget) through ShareFile.read, each part handed to the hashing worker (SHA-256 and the
 * part's CRC32) while the next is read, at most 4 parts outstanding; nothing is sent. Small
 * files are read whole and hashed on the main thread, 32 at a time. Modes alternate within
 * each run, so the ratio to the floor compares moments of the same load (`nfs-nohash`: the
 * same reads without hashing, the client's own share). CPU-s: the reader's (this process,
 * hashing worker included; nfs-cat's processes for the floor) + ganesha's, the least of the runs. Needs root (ganesha). Not a test.
 *
 *   npx tsx bench/nfs-share-bench.ts [--runs 5] [--datasets big=4x256M,small=5000x16K/50]
 *                                    [--modes nfs-cat,local,nfs,nfs-socks,nfs-nohash] [--data-dir /tmp/lab-bench-share]
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, relative } from 'node:path';
import { HashWorker } from '../app/s3/hash-worker.js';
import { BufferBudget } from '../app/s3/buffer-budget.js';
import { LocalShare } from '../app/share/local-share.js';
import { NfsShare } from '../app/share/nfs-share.js';
import { childPath, type Share } from '../app/share/share.js';
import { Ganesha, Microsocks } from '../tests/helpers/nfs-server.js';
import { ensureDataset, parseDatasets, type Dataset } from './datasets.js';

const PART = 8 * 1024 * 1024;
const PARTS_OUTSTANDING = 4;
const SMALL_FILES_AT_ONCE = 32;

type Mode = 'nfs-cat' | 'local' | 'nfs' | 'nfs-socks' | 'nfs-nohash';

function flag(name: string, fallback: string): string {
  const args = process.argv.slice(2);
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? (args[i + 1] ?? fallback) : fallback;
}

async function filesOf(share: Share, folder: string): Promise<{ path: string; size: number }[]> {
  const out: { path: string; size: number }[] = [];
  for (const e of await share.list(folder, new AbortController().signal)) {
    const path = childPath(folder, e.name.toString());
    if (e.type === 'dir') out.push(...(await filesOf(share, path)));
    else if (e.type === 'file') out.push({ path, size: e.size });
  }
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

/** One large file in parts, hashed on the worker while the next part is read. */
async function readLarge(share: Share, path: string, size: number, pool: BufferBudget, hasher: HashWorker | null): Promise<void> {
  const file = await share.openFile(path, new AbortController().signal);
  const hash = hasher ? hasher.start() : { update: async () => '', digest: async () => '' };
  const outstanding = new Set<Promise<void>>();
  try {
    for (let position = 0; position < size; position += PART) {
      if (outstanding.size >= PARTS_OUTSTANDING) await Promise.race(outstanding);
      const length = Math.min(PART, size - position);
      const buf = await pool.take(length, never);
      for (let filled = 0; filled < length;) {
        const n = await file.read(buf, filled, length - filled, position + filled);
        if (n === 0) throw new Error(`${path} shrank`);
        filled += n;
      }
      const hashed = hash.update(buf).then(() => {
        pool.give(buf);
        outstanding.delete(hashed);
      });
      outstanding.add(hashed);
    }
    await Promise.all(outstanding);
    await hash.digest();
  } finally {
    await file.close();
  }
}

async function readSmall(share: Share, path: string, size: number, hash: boolean): Promise<void> {
  const file = await share.openFile(path, new AbortController().signal);
  try {
    const buf = Buffer.allocUnsafe(size);
    for (let filled = 0; filled < size;) {
      const n = await file.read(buf, filled, size - filled, filled);
      if (n === 0) throw new Error(`${path} shrank`);
      filled += n;
    }
    if (hash) createHash('sha256').update(buf).digest();
  } finally {
    await file.close();
  }
}

async function readAll(share: Share, folder: string, large: boolean, pool: BufferBudget, hasher: HashWorker | null): Promise<void> {
  const files = await filesOf(share, folder);
  let next = 0;
  await Promise.all(
    Array.from({ length: large ? 1 : SMALL_FILES_AT_ONCE }, async () => {
      for (let f = files[next++]; f; f = files[next++])
        await (large ? readLarge(share, f.path, f.size, pool, hasher) : readSmall(share, f.path, f.size, hasher !== null));
    }),
  );
}

async function nfsCatAll(server: Ganesha, dataset: Dataset, exportDir: string): Promise<void> {
  for (let i = 0; i < dataset.files; i++) {
    const url = `nfs://127.0.0.1/export/${relative(exportDir, dataset.sessionDir)}/file-${String(i).padStart(6, '0')}.bin?version=4&nfsport=${server.port}`;
    await new Promise<void>((resolve, reject) => {
      const child = spawn('nfs-cat', [url], { stdio: ['ignore', 'ignore', 'inherit'] });
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`nfs-cat exited ${code}`))));
    });
  }
}

/** CPU seconds from /proc/PID/stat: the process's own (utime, stime) or its waited-for children's (cutime, cstime). */
function procCpuSeconds(pid: number | 'self', children: boolean): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
    .replace(/^.*\) /, '')
    .split(' ');
  const [user, system] = children ? [fields[13], fields[14]] : [fields[11], fields[12]];
  return (Number(user) + Number(system)) / 100;
}

const min = (xs: number[]) => Math.min(...xs);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

const runs = Number(flag('runs', '5'));
const dataDir = flag('data-dir', '/tmp/lab-bench-share');
const modes = flag('modes', 'nfs-cat,local,nfs,nfs-socks').split(',') as Mode[];
const datasets = [];
for (const spec of parseDatasets(flag('datasets', 'big=4x256M,small=5000x16K/50'))) datasets.push(await ensureDataset(dataDir, spec));
const server = await Ganesha.start({ exportDir: dataDir });
const ganeshaPid = Number(readFileSync(join(server.base, 'ganesha.pid'), 'utf8'));
const socks = await Microsocks.start();
const shares: Record<Exclude<Mode, 'nfs-cat'>, Share> = {
  local: new LocalShare(),
  nfs: new NfsShare({ timeout_seconds: 30, retry_seconds: 60 }),
  'nfs-socks': new NfsShare({ timeout_seconds: 30, retry_seconds: 60, proxy: socks.url }),
  'nfs-nohash': new NfsShare({ timeout_seconds: 30, retry_seconds: 60 }),
};
const pool = new BufferBudget(PART * (PARTS_OUTSTANDING + 1), PART);
const never = new AbortController().signal;
const hasher = new HashWorker();
try {
  const loadBefore = loadavg();
  for (const d of datasets) {
    const large = d.fileSize >= PART;
    const seconds = new Map<Mode, number[]>();
    const cpu = new Map<Mode, number[]>();
    const serverCpu = new Map<Mode, number[]>();
    for (let run = 0; run < runs; run++) {
      for (const mode of modes) {
        if (mode === 'nfs-cat' && d.folders > 0) continue;
        const started = process.hrtime.bigint();
        const cpuBefore = process.cpuUsage();
        const childrenBefore = procCpuSeconds('self', true);
        const serverBefore = procCpuSeconds(ganeshaPid, false);
        if (mode === 'nfs-cat') await nfsCatAll(server, d, dataDir);
        else
          await readAll(
            shares[mode],
            mode === 'local' ? d.sessionDir : `${server.url}/${relative(dataDir, d.sessionDir)}`,
            large,
            pool,
            mode === 'nfs-nohash' ? null : hasher,
          );
        const used = process.cpuUsage(cpuBefore);
        seconds.set(mode, [...(seconds.get(mode) ?? []), Number(process.hrtime.bigint() - started) / 1e9]);
        const own = mode === 'nfs-cat' ? procCpuSeconds('self', true) - childrenBefore : (used.user + used.system) / 1e6;
        cpu.set(mode, [...(cpu.get(mode) ?? []), own]);
        serverCpu.set(mode, [...(serverCpu.get(mode) ?? []), procCpuSeconds(ganeshaPid, false) - serverBefore]);
      }
    }
    const floor = seconds.get('nfs-cat');
    const mib = d.totalBytes / 1024 ** 2;
    for (const [mode, s] of seconds) {
      // × floor: the floor's best over this mode's best; paired: the median of each run's own ratio.
      const ratio = floor ? `${(min(floor) / min(s)).toFixed(2)}× floor (paired median ${median(s.map((x, i) => (floor[i] as number) / x)).toFixed(2)})` : '';
      const cpuText = `  CPU-s ${min(cpu.get(mode) as number[]).toFixed(2)} + server ${mode === 'local' ? '   -' : min(serverCpu.get(mode) as number[]).toFixed(2)}`;
      console.log(
        `${d.name.padEnd(6)} ${mode.padEnd(10)} min ${min(s).toFixed(2).padStart(6)} s  median ${median(s).toFixed(2).padStart(6)} s  ${(mib / min(s)).toFixed(0).padStart(5)} MiB/s  ${(d.files / min(s)).toFixed(0).padStart(6)} files/s${cpuText}  ${ratio}`,
      );
    }
  }
  console.log(
    `load average before ${loadBefore.map((l) => l.toFixed(1)).join(' ')}, after ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
} finally {
  await hasher.close();
  await Promise.all(Object.values(shares).map((s) => s.close()));
  await socks.stop();
  await server.stop();
}
