import type { AgentConfig } from '../config/schema.js';
import { openListedFile } from '../share/open-listed-file.js';
import type { Share } from '../share/share.js';
import { buildManifest, type Manifest } from './manifest.js';
import type { SessionListing } from '../share/session-listing.js';
import { createHash } from 'node:crypto';

/**
 * The manifest of a folder computed by reading its files (no upload): for print-manifest and
 * for checking whether a folder duplicates an upload that already happened.
 */
export async function manifestForFolder(
  share: Share,
  config: AgentConfig,
  input: { sessionId: string; folderPath: string; listing: SessionListing },
  signal: AbortSignal,
): Promise<Manifest> {
  const sha256 = new Map<string, string>();
  const buf = Buffer.allocUnsafe(1024 * 1024);
  for (const f of input.listing.files) {
    signal.throwIfAborted();
    const handle = await openListedFile(share, f, signal);
    try {
      const hash = createHash('sha256');
      for (let position = 0; ;) {
        const bytesRead = await handle.read(buf, 0, buf.length, position);
        if (bytesRead === 0) break;
        hash.update(buf.subarray(0, bytesRead));
        position += bytesRead;
      }
      sha256.set(f.relativePath, hash.digest('hex'));
    } finally {
      await handle.close();
    }
  }
  return buildManifest({
    sessionId: input.sessionId,
    machineId: config.agent.machine_id,
    labId: config.agent.lab_id,
    sessionPath: input.folderPath,
    files: input.listing.files,
    sha256,
    skipped: input.listing.skipped,
  });
}
