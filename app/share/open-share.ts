import { isNfsRoot } from '../config/root-path.js';
import type { AgentConfig } from '../config/schema.js';
import { LocalShare } from './local-share.js';
import { NfsShare, type NfsShareOptions } from './nfs-share.js';
import type { Share } from './share.js';

/**
 * The share for the configured roots: a local path is the local filesystem (kernel mounts);
 * `nfs://HOST[:PORT]/PATH` is NFS in user space. Roots of both kinds may be mixed: each call
 * goes to the share its path belongs to.
 */
export function openShare(roots: AgentConfig['watch']['session_roots'], nfs: NfsShareOptions): Share {
  const local = new LocalShare();
  if (!roots.some((r) => isNfsRoot(r.path))) return local;
  const remote = new NfsShare(nfs);
  if (roots.every((r) => isNfsRoot(r.path))) return remote;
  return new PathRoutedShare(local, remote);
}

class PathRoutedShare implements Share {
  constructor(
    private readonly local: Share,
    private readonly nfs: Share,
  ) {}

  private of(path: string): Share {
    return isNfsRoot(path) ? this.nfs : this.local;
  }

  list(path: string, signal: AbortSignal) {
    return this.of(path).list(path, signal);
  }

  stat(path: string, signal: AbortSignal) {
    return this.of(path).stat(path, signal);
  }

  openFile(path: string, signal: AbortSignal) {
    return this.of(path).openFile(path, signal);
  }

  createFolder(path: string, signal: AbortSignal) {
    return this.of(path).createFolder(path, signal);
  }

  renameFolder(from: string, to: string, signal: AbortSignal) {
    return this.of(from).renameFolder(from, to, signal);
  }

  removeEmptyFolder(path: string, signal: AbortSignal) {
    return this.of(path).removeEmptyFolder(path, signal);
  }

  canWrite(path: string, signal: AbortSignal) {
    return this.of(path).canWrite(path, signal);
  }

  async close(): Promise<void> {
    await Promise.all([this.local.close(), this.nfs.close()]);
  }
}
