import { posix } from 'node:path';

/** `nfs://HOST[:PORT]/PATH`: NFSv4 reached from the process itself (PATH from the server's pseudo-root). */
const NFS_ROOT = /^nfs:\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?(\/[^?#]*)$/;

export function isNfsRoot(path: string): boolean {
  return path.startsWith('nfs://');
}

/** Why `path` cannot be a session root, or null when it can. */
export function rootPathProblem(path: string): string | null {
  if (path.startsWith('/')) return null;
  if (!isNfsRoot(path)) return 'must be an absolute path or nfs://HOST[:PORT]/PATH';
  const m = NFS_ROOT.exec(path);
  if (!m) return 'must be nfs://HOST[:PORT]/PATH (a host name or [IPv6 address], an optional port, an absolute path)';
  const port = m[2] ? Number(m[2].slice(1)) : 2049;
  if (port < 1 || port > 65535) return `port ${port} is out of range`;
  return null;
}

/**
 * The one spelling of a root, fixed when the config is loaded: no `.`, `..`, doubled or
 * trailing slashes (`/mnt/lab1/` is `/mnt/lab1`; `/` and `nfs://host/` stay), so folder paths
 * recorded in the database, the scan, the watcher and the operator commands all agree. Only
 * the path of an `nfs://` root is normalised: its host is not a path.
 */
export function normalizeRootPath(path: string): string {
  if (!isNfsRoot(path)) return posix.normalize(path).replace(/(.)\/$/, '$1');
  const pathStart = path.indexOf('/', 'nfs://'.length);
  return pathStart < 0 ? path : `${path.slice(0, pathStart)}${normalizeRootPath(path.slice(pathStart))}`;
}
