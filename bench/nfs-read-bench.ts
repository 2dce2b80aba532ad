/**
 * Reading a share over NFS in user space: the agent's NFSv4.1 client (app/share/nfs) against
 * libnfs's nfs-cat writing to /dev/null, the read floor (nfs-cp refuses /dev/null: it opens its
 * destination with O_EXCL). Same nfs-ganesha on loopback, same files, runs alternating, median
 * of N. Needs root (ganesha) and the Debian packages .ci/run installs. Not a test.
 *
 *   npx tsx bench/nfs-read-bench.ts [--runs 3] [--datasets big=4x256M,small=5000x16K/50]
 *                                   [--data-dir /tmp/lab-bench-nfs] [--out bench/results/nfs-read.json]
 *
 * Client modes: `client` reads and hashes every byte with SHA-256 where the agent does (files
 * over 8 MiB on a worker thread, the chunks handed over without a copy; smaller ones on the
 * main thread), `client-socks` does the same through microsocks (the Fargate path through
 * tailscaled), `client-nohash` only reads (the client's own cost). Big files are read one after another by every tool;
 * small files 32 at a time by the client, 8 nfs-cat processes at a time for the floor (each
 * process connects and looks the path up anew, so for small files the floor is libnfs's, not
 * the protocol's).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { relative } from 'node:path';
import { Worker } from 'node:worker_threads';
import { connectNfs, type NfsClient, type NfsEntry, type NfsHandle } from '../app/share/nfs/client.js';
import { readChunks } from '../app/share/nfs/read-stream.js';
import { Ganesha, Microsocks } from '../tests/helpers/nfs-server.js';
import { ensureDataset, parseDatasets, type Dataset } from './datasets.js';

type Mode = 'nfs-cat' | 'client' | 'client-socks' | 'client-nohash';
const MODES: Mode[] = ['nfs-cat', 'client', 'client-socks', 'client-nohash'];

interface Run {
  mode: Mode;
  dataset: string;
  seconds: number;
  cpuSeconds: number | null;
  bytes: number;
  files: number;
}

function flag(name: string, fallback: string): string {
  const args = process.argv.slice(2);
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? (args[i + 1] ?? fallback) : fallback;
}

/** Every regular file under `dir`, with the handle and size the listing gave. */
async function listFiles(client: NfsClient, dir: NfsHandle): Promise<NfsEntry[]> {
  const files: NfsEntry[] = [];
  for (const entry of await client.readdir(dir)) {
    if (entry.type === 'dir') files.push(...(await listFiles(client, entry.handle)));
    else if (entry.type === 'file') files.push(entry);
  }
  return files.sort((a, b) => a.handle.path.localeCompare(b.handle.path));
}

const LARGE_FILE = 8 * 1024 * 1024;

/** SHA-256 on a worker thread; each chunk's memory is transferred, not copied (a READ reply owns its buffer). */
class HashWorker {
  private readonly worker = new Worker(
    `const { parentPort } = require('node:worker_threads');
     const { createHash } = require('node:crypto');
     let sha = createHash('sha256');
     parentPort.on('message', (m) => {
       if (m === 'end') { parentPort.postMessage(sha.digest('hex')); sha = createHash('sha256'); }
       else sha.update(new Uint8Array(m.buffer, m.offset, m.length));
     });`,
    { eval: true },
  );

  update(chunk: Buffer): void {
    // Small buffers may sit in Node's shared pool, which must not be handed away.
    const own = chunk.length > 4096 ? chunk : new Uint8Array(chunk);
    const buffer = own.buffer as ArrayBuffer;
    this.worker.postMessage({ buffer, offset: own.byteOffset, length: own.length }, [buffer]);
  }

  digest(): Promise<string> {
    return new Promise((resolve) => {
      this.worker.once('message', resolve);
      this.worker.postMessage('end');
    });
  }

  close(): Promise<number> {
    return this.worker.terminate();
  }
}

async function readWithClient(
  client: NfsClient,
  dataset: Dataset,
  exportDir: string,
  hash: boolean,
  worker: HashWorker,
): Promise<{ bytes: number; files: number }> {
  const session = await client.resolve(relative(exportDir, dataset.sessionDir));
  const files = await listFiles(client, session.handle);
  let bytes = 0;
  const readOne = async (file: NfsEntry) => {
    const sha = hash && file.size < LARGE_FILE ? createHash('sha256') : null;
    const onWorker = hash && file.size >= LARGE_FILE;
    for await (const chunk of readChunks(client, file.handle, { expectedSize: file.size })) {
      bytes += chunk.length;
      if (onWorker) worker.update(chunk);
      else sha?.update(chunk);
    }
    if (onWorker) await worker.digest();
    else sha?.digest();
  };
  const parallel = dataset.fileSize >= LARGE_FILE ? 1 : 32;
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < files.length) await readOne(files[next++] as NfsEntry);
    }),
  );
  return { bytes, files: files.length };
}

function nfsCat(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('nfs-cat', [url], { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`nfs-cat ${url} exited with ${code}`))));
  });
}

async function readWithNfsCat(server: Ganesha, dataset: Dataset, exportDir: string): Promise<{ bytes: number; files: number }> {
  const paths: string[] = [];
  for (let i = 0; i < dataset.files; i++) {
    const folder = dataset.folders > 0 ? `folder-${String(i % dataset.folders).padStart(3, '0')}/` : '';
    paths.push(`${relative(exportDir, dataset.sessionDir)}/${folder}file-${String(i).padStart(6, '0')}.bin`);
  }
  const parallel = dataset.fileSize >= LARGE_FILE ? 1 : 8;
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < paths.length) await nfsCat(`nfs://127.0.0.1/export/${encodeURI(paths[next++] as string)}?version=4&nfsport=${server.port}`);
    }),
  );
  return { bytes: dataset.totalBytes, files: dataset.files };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function main(): Promise<void> {
  const runs = Number(flag('runs', '3'));
  const dataDir = flag('data-dir', '/tmp/lab-bench-nfs');
  const out = flag('out', 'bench/results/nfs-read.json');
  const datasets = await Promise.all(parseDatasets(flag('datasets', 'big=4x256M,small=5000x16K/50')).map((spec) => ensureDataset(dataDir, spec)));
  const server = await Ganesha.start({ exportDir: dataDir });
  const socks = await Microsocks.start();
  const direct = await connectNfs({ host: '127.0.0.1', port: server.port, exportPath: '/export' });
  const viaSocks = await connectNfs({ host: '127.0.0.1', port: server.port, exportPath: '/export', proxy: socks.url });
  const worker = new HashWorker();
  const results: Run[] = [];
  const loadBefore = loadavg();
  try {
    for (const dataset of datasets) {
      for (let run = 0; run < runs; run++) {
        for (const mode of MODES) {
          const started = performance.now();
          const cpuBefore = process.cpuUsage();
          const done =
            mode === 'nfs-cat'
              ? await readWithNfsCat(server, dataset, dataDir)
              : await readWithClient(mode === 'client-socks' ? viaSocks : direct, dataset, dataDir, mode !== 'client-nohash', worker);
          const seconds = (performance.now() - started) / 1000;
          const cpu = process.cpuUsage(cpuBefore);
          if (done.bytes !== dataset.totalBytes) throw new Error(`${mode} read ${done.bytes} bytes of ${dataset.totalBytes}`);
          results.push({ mode, dataset: dataset.name, seconds, cpuSeconds: mode === 'nfs-cat' ? null : (cpu.user + cpu.system) / 1e6, ...done });
          console.error(`${dataset.name} run ${run + 1} ${mode}: ${seconds.toFixed(2)} s`);
        }
      }
    }
  } finally {
    await worker.close();
    await direct.close();
    await viaSocks.close();
    await socks.stop();
    await server.stop();
  }
  const summary = datasets.flatMap((dataset) => {
    const floor = median(results.filter((r) => r.dataset === dataset.name && r.mode === 'nfs-cat').map((r) => r.seconds));
    return MODES.map((mode) => {
      const mine = results.filter((r) => r.dataset === dataset.name && r.mode === mode);
      const seconds = median(mine.map((r) => r.seconds));
      const cpu = mine[0]?.cpuSeconds === null ? null : median(mine.map((r) => r.cpuSeconds as number));
      return {
        dataset: dataset.name,
        mode,
        seconds,
        mb_per_s: dataset.totalBytes / 1e6 / seconds,
        files_per_s: dataset.files / seconds,
        vs_floor: floor / seconds,
        client_cpu_seconds: cpu,
      };
    });
  });
  console.log('dataset  mode            median s    MB/s   files/s  × floor  client CPU-s');
  for (const s of summary) {
    console.log(
      `${s.dataset.padEnd(8)} ${s.mode.padEnd(15)} ${s.seconds.toFixed(2).padStart(8)} ${s.mb_per_s.toFixed(0).padStart(7)} ${s.files_per_s.toFixed(0).padStart(9)} ${s.vs_floor.toFixed(2).padStart(8)} ${s.client_cpu_seconds === null ? '           -' : s.client_cpu_seconds.toFixed(2).padStart(12)}`,
    );
  }
  const machine = { nproc: cpus().length, cpu: cpus()[0]?.model, node: process.version, load_before: loadBefore, load_after: loadavg() };
  await writeFile(out, `${JSON.stringify({ date: new Date().toISOString(), machine, runs, summary, results }, null, 2)}\n`);
}

await main();
