import { randomFillSync } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { join } from 'node:path';

export interface DatasetSpec {
  name: string;
  files: number;
  fileSize: number;
  /** Files are spread over this many subfolders (0: all at the top level). */
  folders: number;
}

export interface Dataset extends DatasetSpec {
  /** The session root the agent watches (holds one session folder). */
  root: string;
  /** The session folder itself (what rclone and aws copy). */
  sessionDir: string;
  totalBytes: number;
}

const UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** "1T", "16G", "512M" → bytes (binary units). */
export function parseSize(text: string): number {
  const m = /^(\d+)([KMGT]?)$/i.exec(text.trim());
  if (!m) throw new Error(`size "${text}": expected a number with an optional K, M, G or T, e.g. 1T`);
  return Number(m[1]) * (UNITS[(m[2] ?? '').toUpperCase()] ?? 1);
}

/** "big=4x256M,small=5000x16K/50" → specs (count × size, optionally /folders). */
export function parseDatasets(text: string): DatasetSpec[] {
  return text
    .split(',')
    .filter(Boolean)
    .map((item) => {
      const m = /^([a-z0-9_-]+)=(\d+)x(\d+)([KMGT]?)(?:\/(\d+))?$/i.exec(item.trim());
      if (!m) throw new Error(`dataset "${item}": expected name=COUNTxSIZE[K|M|G][/FOLDERS], e.g. small=5000x16K/50`);
      return { name: m[1] as string, files: Number(m[2]), fileSize: Number(m[3]) * (UNITS[(m[4] ?? '').toUpperCase()] ?? 1), folders: Number(m[5] ?? 0) };
    });
}

/** Writes the dataset (random bytes) unless the same spec is already on disk. */
export async function ensureDataset(dataDir: string, spec: DatasetSpec): Promise<Dataset> {
  const base = join(dataDir, spec.name);
  const root = join(base, 'root');
  const sessionDir = join(root, `bench-${spec.name}`);
  const dataset = { ...spec, root, sessionDir, totalBytes: spec.files * spec.fileSize };
  const specFile = join(base, 'spec.json');
  const wanted = JSON.stringify(spec);
  if ((await readFile(specFile, 'utf8').catch(() => '')) === wanted) return dataset;
  await rm(base, { recursive: true, force: true });
  await mkdir(sessionDir, { recursive: true });
  const chunk = Buffer.allocUnsafe(Math.min(spec.fileSize, 8 * 1024 * 1024));
  for (let i = 0; i < spec.files; i++) {
    const dir = spec.folders > 0 ? join(sessionDir, `folder-${String(i % spec.folders).padStart(3, '0')}`) : sessionDir;
    if (spec.folders > 0 && i < spec.folders) await mkdir(dir, { recursive: true });
    const fh = await open(join(dir, `file-${String(i).padStart(6, '0')}.bin`), 'w');
    try {
      for (let written = 0; written < spec.fileSize;) {
        const n = Math.min(chunk.length, spec.fileSize - written);
        randomFillSync(chunk, 0, n);
        await fh.write(chunk, 0, n);
        written += n;
      }
    } finally {
      await fh.close();
    }
  }
  await writeFile(specFile, wanted);
  return dataset;
}

/** One sparse file of `bytes` (a hole: nothing written, no disk used), in a session folder of its own. */
export async function ensureSparseDataset(dataDir: string, bytes: number): Promise<Dataset> {
  const spec: DatasetSpec = { name: `sparse-${bytes}`, files: 1, fileSize: bytes, folders: 0 };
  const root = join(dataDir, spec.name, 'root');
  const sessionDir = join(root, `bench-${spec.name}`);
  await mkdir(sessionDir, { recursive: true });
  const fh = await open(join(sessionDir, 'sparse.bin'), 'w');
  try {
    await fh.truncate(bytes);
  } finally {
    await fh.close();
  }
  return { ...spec, root, sessionDir, totalBytes: bytes };
}
