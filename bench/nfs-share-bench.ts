/**
 * The share layer's read path, local disk against nfs:// through nfs-ganesha on loopback (and
 * through microsocks), beside libnfs's nfs-cat to /dev/null (the read floor, big files only).
 * Each file is read as file-upload.ts reads it: part-sized ranges (8 MiB) through
 * ShareFile.read, every byte hashed with SHA-256; nothing is sent (the no-op sink's view of
 * the read side). Needs root (ganesha). Not a test.
 *
 *   npx tsx bench/nfs-share-bench.ts [--datasets big=4x256M,small=5000x16K/50] [--data-dir /tmp/lab-bench-share]
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { loadavg } from 'node:os';
import { relative } from 'node:path';
import { LocalShare } from '../app/share/local-share.js';
import { NfsShare } from '../app/share/nfs-share.js';
import { childPath, type Share } from '../app/share/share.js';
import { Ganesha, Microsocks } from '../tests/helpers/nfs-server.js';
import { ensureDataset, parseDatasets, type Dataset } from './datasets.js';

const PART = 8 * 1024 * 1024;

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
  return out;
}

/** Seconds to list and read-and-hash every file; small files 32 at a time, big ones one after another. */
async function readAll(share: Share, folder: string, parallel: number): Promise<number> {
  const started = process.hrtime.bigint();
  const files = await filesOf(share, folder);
  const buf = Array.from({ length: parallel }, () => Buffer.allocUnsafe(PART));
  let next = 0;
  await Promise.all(
    buf.map(async (b) => {
      while (next < files.length) {
        const f = files[next++] as { path: string; size: number };
        const file = await share.openFile(f.path, new AbortController().signal);
        const sha = createHash('sha256');
        for (let pos = 0; pos < f.size; pos += PART) {
          const n = await file.read(b, 0, Math.min(PART, f.size - pos), pos);
          sha.update(b.subarray(0, n));
        }
        sha.digest();
        await file.close();
      }
    }),
  );
  return Number(process.hrtime.bigint() - started) / 1e9;
}

async function nfsCatAll(server: Ganesha, dataset: Dataset, exportDir: string): Promise<number> {
  const started = process.hrtime.bigint();
  for (let i = 0; i < dataset.files; i++) {
    const url = `nfs://127.0.0.1/export/${relative(exportDir, dataset.sessionDir)}/file-${String(i).padStart(6, '0')}.bin?version=4&nfsport=${server.port}`;
    await new Promise<void>((resolve, reject) => {
      const child = spawn('nfs-cat', [url], { stdio: ['ignore', 'ignore', 'inherit'] });
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`nfs-cat exited ${code}`))));
    });
  }
  return Number(process.hrtime.bigint() - started) / 1e9;
}

const dataDir = flag('data-dir', '/tmp/lab-bench-share');
const specs = parseDatasets(flag('datasets', 'big=4x256M,small=5000x16K/50'));
const datasets = [];
for (const spec of specs) datasets.push(await ensureDataset(dataDir, spec));
const server = await Ganesha.start({ exportDir: dataDir });
const socks = await Microsocks.start();
const direct = new NfsShare({ timeout_seconds: 30, retry_seconds: 60 });
const proxied = new NfsShare({ timeout_seconds: 30, retry_seconds: 60, proxy: socks.url });
try {
  console.log(`load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  for (const d of datasets) {
    const nfsFolder = `${server.url}/${relative(dataDir, d.sessionDir)}`;
    const parallel = d.fileSize >= PART ? 1 : 32;
    const mib = d.totalBytes / 1024 ** 2;
    const rows: [string, number][] = [
      ['local disk', await readAll(new LocalShare(), d.sessionDir, parallel)],
      ['nfs:// direct', await readAll(direct, nfsFolder, parallel)],
      ['nfs:// via SOCKS5', await readAll(proxied, nfsFolder, parallel)],
    ];
    if (d.folders === 0) rows.push(['nfs-cat floor (no hash)', await nfsCatAll(server, d, dataDir)]);
    for (const [what, s] of rows) console.log(`${d.name.padEnd(6)} ${what.padEnd(24)} ${s.toFixed(2).padStart(7)} s  ${(mib / s).toFixed(0).padStart(5)} MiB/s  ${(d.files / s).toFixed(0).padStart(6)} files/s`);
  }
} finally {
  await Promise.all([direct.close(), proxied.close()]);
  await socks.stop();
  await server.stop();
}
