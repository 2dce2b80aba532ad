import { isNfsRoot } from '../config/root-path.js';
import type { SessionRoot } from '../config/schema.js';
import { LocalShare } from './local-share.js';
import type { Share } from './share.js';

/** The configuration names a share this build cannot reach (an exit-2 configuration problem). */
export class ShareUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ShareUnavailableError';
  }
}

/**
 * The share for the configured roots: a local path is the local filesystem (kernel mounts);
 * `nfs://HOST[:PORT]/PATH` is NFS in user space, which this build does not have yet.
 */
export function openShare(roots: readonly SessionRoot[]): Share {
  const nfs = roots.filter((r) => isNfsRoot(r.path)).map((r) => r.path);
  if (nfs.length > 0) {
    throw new ShareUnavailableError(
      `watch.session_roots: ${nfs.join(', ')}: nfs:// roots are not available in this version yet (the NFS client is not built in); mount the share and give its local path instead`,
    );
  }
  return new LocalShare();
}
