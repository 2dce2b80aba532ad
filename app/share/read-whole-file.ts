import type { Share } from './share.js';

/** A small file's bytes (at most `size`, as its attributes said when it was looked up), read without following links. */
export async function readWholeFile(share: Share, path: string, size: number, signal: AbortSignal): Promise<Buffer> {
  const file = await share.openFile(path, signal);
  try {
    const buf = Buffer.allocUnsafe(size);
    let filled = 0;
    while (filled < size) {
      const n = await file.read(buf, filled, size - filled, filled);
      if (n === 0) break;
      filled += n;
    }
    return buf.subarray(0, filled);
  } finally {
    await file.close();
  }
}
